//! Stripe as it is now, read through the client signup uses (`shared::stripe`): the customer
//! and its metadata, its subscriptions with their discounts. GET requests only. The answers are
//! read as JSON with tolerant accessors (any API version), then turned into the facts below.

use serde::Serialize;
use serde_json::Value;
use shared::stripe::StripeFailure;
use std::collections::BTreeMap;
use std::future::Future;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StripeCustomer {
    pub id: String,
    pub livemode: Option<bool>,
    pub deleted: bool,
    pub created: Option<i64>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StripeSubscription {
    pub id: String,
    pub status: Option<String>,
    pub start_date: Option<i64>,
    pub livemode: Option<bool>,
    pub discounts: Vec<StripeDiscount>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StripeDiscount {
    pub coupon: Option<String>,
    /// When the discount began applying (Unix seconds).
    pub start: Option<i64>,
}

/// A customer Stripe may not know (another mode's or account's id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "found")]
pub enum Lookup<T> {
    #[serde(rename = "yes")]
    Found(T),
    #[serde(rename = "no")]
    Missing,
}

pub trait StripeReader: Send + Sync {
    fn customer(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Lookup<StripeCustomer>, StripeFailure>> + Send;

    fn subscriptions(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<Vec<StripeSubscription>, StripeFailure>> + Send;
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// The id of an expandable field: a string, or the expanded object's `id`.
fn id_of(v: &Value) -> Option<String> {
    text(v).or_else(|| text(&v["id"]))
}

pub fn parse_customer(v: &Value) -> StripeCustomer {
    StripeCustomer {
        id: text(&v["id"]).unwrap_or_default(),
        livemode: v["livemode"].as_bool(),
        deleted: v["deleted"].as_bool().unwrap_or(false),
        created: v["created"].as_i64(),
        metadata: v["metadata"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn parse_discount(v: &Value) -> Option<StripeDiscount> {
    if !v.is_object() {
        return None;
    }
    let coupon = id_of(&v["coupon"]).or_else(|| id_of(&v["source"]["coupon"]));
    Some(StripeDiscount {
        coupon,
        start: v["start"].as_i64(),
    })
}

/// A subscription: its legacy `discount` (before API 2025-03-31) and its expanded `discounts`.
pub fn parse_subscription(v: &Value) -> StripeSubscription {
    let mut discounts: Vec<StripeDiscount> = v["discounts"]
        .as_array()
        .map(|a| a.iter().filter_map(parse_discount).collect())
        .unwrap_or_default();
    if discounts.is_empty()
        && let Some(d) = parse_discount(&v["discount"])
    {
        discounts.push(d);
    }
    StripeSubscription {
        id: text(&v["id"]).unwrap_or_default(),
        status: text(&v["status"]),
        start_date: v["start_date"].as_i64().or_else(|| v["created"].as_i64()),
        livemode: v["livemode"].as_bool(),
        discounts,
    }
}

pub use adapter::AsyncStripeReader;

mod adapter {
    use super::*;
    use shared::stripe::classify;
    use shared::stripe::{StripeError, StripeHttp};
    use stripe_client_core::{RequestBuilder, StripeMethod};

    pub struct AsyncStripeReader {
        client: StripeHttp,
    }

    impl AsyncStripeReader {
        pub fn new(secret_key: &str, api_base: Option<&str>) -> Result<Self, String> {
            Ok(Self {
                client: shared::stripe::client(secret_key, api_base)?,
            })
        }

        async fn get(
            &self,
            path: String,
            query: Option<&ListSubscriptions<'_>>,
        ) -> Result<Value, StripeError> {
            let mut request = RequestBuilder::new(StripeMethod::Get, path);
            if let Some(query) = query {
                request = request.query(query);
            }
            let answer: miniserde::json::Value = request.customize().send(&self.client).await?;
            serde_json::from_str(&miniserde::json::to_string(&answer))
                .map_err(|e| StripeError::Unreadable(e.to_string()))
        }
    }

    /// `GET /v1/subscriptions`'s query, form-encoded as Stripe expects (`expand[0]=...`).
    #[derive(serde::Serialize)]
    struct ListSubscriptions<'a> {
        customer: &'a str,
        status: &'a str,
        limit: u32,
        expand: &'a [&'a str],
    }

    impl StripeReader for AsyncStripeReader {
        async fn customer(&self, id: &str) -> Result<Lookup<StripeCustomer>, StripeFailure> {
            match self.get(format!("/customers/{id}"), None).await {
                Ok(v) => Ok(Lookup::Found(parse_customer(&v))),
                Err(StripeError::Api { status: 404, .. }) => Ok(Lookup::Missing),
                Err(e) => Err(classify(e)),
            }
        }

        async fn subscriptions(
            &self,
            customer_id: &str,
        ) -> Result<Vec<StripeSubscription>, StripeFailure> {
            let v = self
                .get(
                    "/subscriptions".to_owned(),
                    Some(&ListSubscriptions {
                        customer: customer_id,
                        status: "all",
                        limit: 100,
                        expand: &["data.discounts"],
                    }),
                )
                .await
                .map_err(classify)?;
            Ok(v["data"]
                .as_array()
                .map(|a| a.iter().map(parse_subscription).collect())
                .unwrap_or_default())
        }
    }
}

#[cfg(any(test, feature = "memory"))]
pub mod memory {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct MemoryStripe {
        pub customers: Mutex<Vec<StripeCustomer>>,
        pub subscriptions: Mutex<Vec<(String, StripeSubscription)>>,
        pub down: std::sync::atomic::AtomicBool,
    }

    impl StripeReader for MemoryStripe {
        async fn customer(&self, id: &str) -> Result<Lookup<StripeCustomer>, StripeFailure> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StripeFailure::Unavailable);
            }
            Ok(self
                .customers
                .lock()
                .unwrap()
                .iter()
                .find(|c| c.id == id)
                .cloned()
                .map_or(Lookup::Missing, Lookup::Found))
        }

        async fn subscriptions(
            &self,
            customer_id: &str,
        ) -> Result<Vec<StripeSubscription>, StripeFailure> {
            Ok(self
                .subscriptions
                .lock()
                .unwrap()
                .iter()
                .filter(|(c, _)| c == customer_id)
                .map(|(_, s)| s.clone())
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_customers_and_both_discount_shapes() {
        let c = parse_customer(&json!({"id": "cus_1", "livemode": false, "created": 5,
            "metadata": {"new_user_id": "u-1", "cello_ucc": "abc", "n": 3}}));
        assert_eq!(
            c.metadata.get("new_user_id").map(String::as_str),
            Some("u-1")
        );
        assert!(!c.metadata.contains_key("n"));
        let legacy = parse_subscription(&json!({"id": "sub_1", "start_date": 100,
            "discount": {"coupon": {"id": "C50"}, "start": 160}}));
        assert_eq!(
            legacy.discounts,
            vec![StripeDiscount {
                coupon: Some("C50".into()),
                start: Some(160)
            }]
        );
        let basil = parse_subscription(&json!({"id": "sub_2", "created": 100,
            "discounts": [{"id": "di_1", "source": {"coupon": "C50"}, "start": 100}, "di_unexpanded"]}));
        assert_eq!(basil.start_date, Some(100));
        assert_eq!(basil.discounts.len(), 1);
        assert_eq!(basil.discounts[0].coupon.as_deref(), Some("C50"));
    }
}
