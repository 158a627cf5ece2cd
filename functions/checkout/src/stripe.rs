//! Stripe Checkout Sessions: the port the use case creates sessions through, its adapter on
//! async-stripe's client (the client's own request builder, form encoding, idempotency and
//! timeouts; the answer read as plain JSON, for the three fields we use), and a memory adapter.

use crate::discount::Discount;
use shared::stripe::StripeFailure;
use std::collections::BTreeMap;
use std::future::Future;

/// What the session is made of. Everything here comes from configuration and our records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub customer_id: String,
    pub price_id: String,
    /// `client_reference_id`: the user id.
    pub client_reference_id: String,
    pub success_url: String,
    pub cancel_url: String,
    /// On the session and on `subscription_data[metadata]` (copied onto the subscription).
    pub metadata: BTreeMap<String, String>,
    pub discount: Option<Discount>,
    /// Only ever with no discount: Stripe refuses both.
    pub allow_promotion_codes: bool,
    pub expires_at: i64,
}

/// What Stripe answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSession {
    pub id: String,
    pub url: String,
    pub expires_at: i64,
}

pub trait StripeCheckout: Send + Sync {
    /// Creates the session; `idempotency_key` makes a repeat answer the first result.
    fn create_session(
        &self,
        session: &NewSession,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<CreatedSession, StripeFailure>> + Send;
}

pub use adapter::AsyncStripeCheckout;

mod adapter {
    use super::*;
    use serde::Serialize;
    use shared::stripe::classify;
    use stripe_client_core::{IdempotencyKey, RequestBuilder, RequestStrategy, StripeMethod};

    #[derive(Serialize)]
    struct Form<'a> {
        mode: &'static str,
        customer: &'a str,
        client_reference_id: &'a str,
        success_url: &'a str,
        cancel_url: &'a str,
        line_items: [LineItem<'a>; 1],
        metadata: &'a BTreeMap<String, String>,
        subscription_data: SubscriptionData<'a>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        discounts: Vec<CouponRef<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        allow_promotion_codes: Option<bool>,
        expires_at: i64,
    }

    #[derive(Serialize)]
    struct LineItem<'a> {
        price: &'a str,
        quantity: u32,
    }

    #[derive(Serialize)]
    struct SubscriptionData<'a> {
        metadata: &'a BTreeMap<String, String>,
    }

    #[derive(Serialize)]
    struct CouponRef<'a> {
        coupon: &'a str,
    }

    /// The form Stripe gets. `discounts` and `allow_promotion_codes` are never both sent.
    pub(crate) fn form(s: &NewSession) -> String {
        let form = Form {
            mode: "subscription",
            customer: &s.customer_id,
            client_reference_id: &s.client_reference_id,
            success_url: &s.success_url,
            cancel_url: &s.cancel_url,
            line_items: [LineItem {
                price: &s.price_id,
                quantity: 1,
            }],
            metadata: &s.metadata,
            subscription_data: SubscriptionData {
                metadata: &s.metadata,
            },
            discounts: s
                .discount
                .iter()
                .map(|d| CouponRef { coupon: &d.coupon })
                .collect(),
            allow_promotion_codes: (s.discount.is_none() && s.allow_promotion_codes)
                .then_some(true),
            expires_at: s.expires_at,
        };
        RequestBuilder::new(StripeMethod::Post, "/checkout/sessions")
            .form(&form)
            .body
            .unwrap_or_default()
    }

    /// Built on first use, as signup's: a repeat click that finds its open session never
    /// pays for the client's TLS setup.
    pub struct AsyncStripeCheckout {
        client: shared::stripe::LazyClient,
    }

    impl AsyncStripeCheckout {
        pub fn new(secret_key: &str, api_base: Option<&str>) -> Self {
            Self {
                client: shared::stripe::LazyClient::new(secret_key, api_base),
            }
        }
    }

    impl StripeCheckout for AsyncStripeCheckout {
        async fn create_session(
            &self,
            session: &NewSession,
            idempotency_key: &str,
        ) -> Result<CreatedSession, StripeFailure> {
            let key = IdempotencyKey::new(idempotency_key)
                .map_err(|e| StripeFailure::Refused(format!("idempotency key: {e:?}")))?;
            let mut request = RequestBuilder::new(StripeMethod::Post, "/checkout/sessions");
            request.body = Some(form(session));
            let answer: miniserde::json::Value = request
                .customize()
                .request_strategy(RequestStrategy::Idempotent(key))
                .send(self.client.get()?)
                .await
                .map_err(classify)?;
            let answer: serde_json::Value =
                serde_json::from_str(&miniserde::json::to_string(&answer))
                    .map_err(|e| StripeFailure::Refused(format!("unreadable session: {e}")))?;
            let text = |name: &str| answer.get(name).and_then(|v| v.as_str()).map(str::to_owned);
            match (text("id"), text("url")) {
                (Some(id), Some(url)) => Ok(CreatedSession {
                    id,
                    url,
                    expires_at: answer
                        .get("expires_at")
                        .and_then(|v| v.as_i64())
                        .unwrap_or(session.expires_at),
                }),
                _ => Err(StripeFailure::Refused(
                    "the session answer has no id or url".into(),
                )),
            }
        }
    }
}

#[cfg(test)]
pub(crate) use adapter::form;

/// An in-memory Stripe for unit tests. Unlike signup's, it keeps idempotency keys as Stripe
/// does (the local stand-in's checkout plugin does too).
#[cfg(any(test, feature = "memory"))]
pub mod memory {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    #[derive(Default)]
    pub struct MemoryCheckout {
        pub sessions: Mutex<Vec<(String, NewSession)>>,
        keys: Mutex<HashMap<String, CreatedSession>>,
        /// Every call fails as if Stripe were down.
        pub down: AtomicBool,
        /// Calls made (answered from a key or not).
        pub calls: AtomicUsize,
        /// Each call takes this long, so concurrent requests overlap.
        pub delay_ms: AtomicUsize,
    }

    impl MemoryCheckout {
        pub fn count(&self) -> usize {
            self.sessions.lock().unwrap().len()
        }

        pub fn last(&self) -> Option<NewSession> {
            self.sessions.lock().unwrap().last().map(|(_, s)| s.clone())
        }
    }

    impl StripeCheckout for MemoryCheckout {
        async fn create_session(
            &self,
            session: &NewSession,
            idempotency_key: &str,
        ) -> Result<CreatedSession, StripeFailure> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let delay = self.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay as u64)).await;
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(StripeFailure::Unavailable);
            }
            if let Some(done) = self.keys.lock().unwrap().get(idempotency_key) {
                return Ok(done.clone());
            }
            let mut all = self.sessions.lock().unwrap();
            let id = format!("cs_test_mem{}", all.len() + 1);
            all.push((id.clone(), session.clone()));
            let created = CreatedSession {
                url: format!("https://checkout.stripe.test/c/pay/{id}"),
                id,
                expires_at: session.expires_at,
            };
            self.keys
                .lock()
                .unwrap()
                .insert(idempotency_key.to_owned(), created.clone());
            Ok(created)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(discount: bool, allow_codes: bool) -> NewSession {
        NewSession {
            customer_id: "cus_1".into(),
            price_id: "price_1".into(),
            client_reference_id: "user-1".into(),
            success_url: "https://app.test/ok?s={CHECKOUT_SESSION_ID}".into(),
            cancel_url: "https://app.test/pricing".into(),
            metadata: BTreeMap::from([
                ("cello_ucc".into(), "pNRB1aYqArN".into()),
                ("new_user_id".into(), "user-1".into()),
            ]),
            discount: discount.then(|| Discount {
                coupon: "c50".into(),
                percent_off: 50,
                months: 3,
            }),
            allow_promotion_codes: allow_codes,
            expires_at: 1_800_000_000,
        }
    }

    fn decoded(form: &str) -> Vec<(String, String)> {
        form.split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                let unescape = |s: &str| {
                    let mut out = Vec::new();
                    let b = s.as_bytes();
                    let mut i = 0;
                    while i < b.len() {
                        if b[i] == b'%' {
                            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                            i += 3;
                        } else {
                            out.push(if b[i] == b'+' { b' ' } else { b[i] });
                            i += 1;
                        }
                    }
                    String::from_utf8(out).unwrap()
                };
                (unescape(k), unescape(v))
            })
            .collect()
    }

    #[test]
    fn the_form_is_stripes_and_never_combines_codes_with_a_discount() {
        let pairs = decoded(&form(&session(true, true)));
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("mode"), Some("subscription"));
        assert_eq!(get("customer"), Some("cus_1"));
        assert_eq!(get("client_reference_id"), Some("user-1"));
        assert_eq!(get("line_items[0][price]"), Some("price_1"));
        assert_eq!(get("line_items[0][quantity]"), Some("1"));
        assert_eq!(get("metadata[cello_ucc]"), Some("pNRB1aYqArN"));
        assert_eq!(
            get("subscription_data[metadata][new_user_id]"),
            Some("user-1")
        );
        assert_eq!(get("discounts[0][coupon]"), Some("c50"));
        assert_eq!(
            get("success_url"),
            Some("https://app.test/ok?s={CHECKOUT_SESSION_ID}")
        );
        assert_eq!(get("expires_at"), Some("1800000000"));
        assert_eq!(get("allow_promotion_codes"), None);

        let pairs = decoded(&form(&session(false, true)));
        assert!(pairs.iter().all(|(k, _)| !k.starts_with("discounts")));
        assert!(pairs.contains(&("allow_promotion_codes".into(), "true".into())));
        let pairs = decoded(&form(&session(false, false)));
        assert!(pairs.iter().all(|(k, _)| k != "allow_promotion_codes"));
    }
}
