//! The DynamoDB adapters of [`CheckoutStore`] and [`BillingReader`], on the shared table.

use super::{
    BillingFacts, BillingReader, CheckoutStore, Expected, OpenSession, StoredCheckout, attrs,
    checkout_key, subscription_is_live,
};
use crate::discount::{Discount, Reason};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use shared::table::{
    StoreError, Table, attrs::SK, attrs::TTL, classify, from_item, is_condition_failure, key, keys,
    n, s,
};
use std::collections::HashMap;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    plan_id: i64,
    #[serde(default)]
    claim_until: Option<i64>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    price_id: Option<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    discount: Option<Discount>,
    #[serde(default)]
    reason: Option<Reason>,
    #[serde(default)]
    created_at: Option<i64>,
}

impl From<Row> for StoredCheckout {
    fn from(r: Row) -> Self {
        let session = match (r.session_id, r.url, r.price_id, r.expires_at, r.reason) {
            (Some(session_id), Some(url), Some(price_id), Some(expires_at), Some(reason)) => {
                Some(OpenSession {
                    session_id,
                    url,
                    price_id,
                    expires_at,
                    discount: r.discount,
                    reason,
                    created_at: r.created_at.unwrap_or(0),
                })
            }
            _ => None,
        };
        Self {
            plan_id: r.plan_id,
            claim_until: r.claim_until,
            session,
        }
    }
}

fn discount_value(d: &Option<Discount>) -> AttributeValue {
    match d {
        None => AttributeValue::Null(true),
        Some(d) => AttributeValue::M(HashMap::from([
            ("coupon".to_owned(), s(&d.coupon)),
            ("percentOff".to_owned(), n(i64::from(d.percent_off))),
            ("months".to_owned(), n(i64::from(d.months))),
        ])),
    }
}

impl CheckoutStore for Table {
    async fn get_checkout(
        &self,
        user_id: &str,
        price_id: &str,
    ) -> Result<Option<StoredCheckout>, StoreError> {
        let (pk, sk) = checkout_key(user_id, price_id);
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, &sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item
            .map(|item| from_item::<Row>(item).map(StoredCheckout::from))
            .transpose()
    }

    async fn claim(
        &self,
        user_id: &str,
        price_id: &str,
        expected: &Expected,
        plan_id: i64,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = checkout_key(user_id, price_id);
        let mut req = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, &sk)))
            .update_expression(
                "SET #plan = :plan, #owner = :owner, #until = :until \
                 REMOVE #sid, #url, #exp, #disc, #reason, #created, #ttl",
            )
            .expression_attribute_names("#plan", attrs::PLAN_ID)
            .expression_attribute_names("#owner", attrs::OWNER)
            .expression_attribute_names("#until", attrs::UNTIL)
            .expression_attribute_names("#sid", attrs::SESSION_ID)
            .expression_attribute_names("#url", attrs::URL)
            .expression_attribute_names("#exp", attrs::EXPIRES_AT)
            .expression_attribute_names("#disc", attrs::DISCOUNT)
            .expression_attribute_names("#reason", attrs::REASON)
            .expression_attribute_names("#created", attrs::CREATED_AT)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":plan", n(plan_id))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(now + lease_seconds));
        req = match expected {
            Expected::Absent => req.condition_expression("attribute_not_exists(pk)"),
            Expected::Plan {
                plan_id: old,
                session_id,
            } => {
                let session = match session_id {
                    None => "attribute_not_exists(#sid)",
                    Some(_) => "#sid = :sid",
                };
                let mut r = req
                    .condition_expression(format!(
                        "#plan = :old AND {session} AND (attribute_not_exists(#until) OR #until < :now)"
                    ))
                    .expression_attribute_values(":old", n(*old))
                    .expression_attribute_values(":now", n(now));
                if let Some(sid) = session_id {
                    r = r.expression_attribute_values(":sid", s(sid));
                }
                r
            }
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(classify(err)),
        }
    }

    async fn record(
        &self,
        user_id: &str,
        owner: &str,
        session: &OpenSession,
        ttl: i64,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = checkout_key(user_id, &session.price_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, &sk)))
            .update_expression(
                "SET #sid = :sid, #url = :url, #price = :price, #exp = :exp, #disc = :disc, \
                 #reason = :reason, #created = :created, #ttl = :ttl REMOVE #owner, #until",
            )
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#sid", attrs::SESSION_ID)
            .expression_attribute_names("#url", attrs::URL)
            .expression_attribute_names("#price", attrs::PRICE_ID)
            .expression_attribute_names("#exp", attrs::EXPIRES_AT)
            .expression_attribute_names("#disc", attrs::DISCOUNT)
            .expression_attribute_names("#reason", attrs::REASON)
            .expression_attribute_names("#created", attrs::CREATED_AT)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_names("#owner", attrs::OWNER)
            .expression_attribute_names("#until", attrs::UNTIL)
            .expression_attribute_values(":sid", s(&session.session_id))
            .expression_attribute_values(":url", s(&session.url))
            .expression_attribute_values(":price", s(&session.price_id))
            .expression_attribute_values(":exp", n(session.expires_at))
            .expression_attribute_values(":disc", discount_value(&session.discount))
            .expression_attribute_values(":reason", s(session.reason.as_str()))
            .expression_attribute_values(":created", n(session.created_at))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(classify(err)),
        }
    }

    async fn release(&self, user_id: &str, price_id: &str, owner: &str) -> Result<(), StoreError> {
        let (pk, sk) = checkout_key(user_id, price_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, &sk)))
            .update_expression("REMOVE #owner, #until")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", attrs::OWNER)
            .expression_attribute_names("#until", attrs::UNTIL)
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(classify(err)),
        }
    }
}

impl BillingReader for Table {
    async fn billing_facts(&self, customer_id: &str) -> Result<BillingFacts, StoreError> {
        let pk = keys::customer_partition(customer_id);
        let mut facts = BillingFacts::default();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .projection_expression("sk, #status, subscriptionId")
                .expression_attribute_names("#status", "status")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                let sk = text(SK).unwrap_or_default();
                if sk.starts_with("INVOICE#") {
                    facts.paid_invoices += 1;
                } else if sk.starts_with("SUBSCRIPTION#") {
                    if subscription_is_live(text("status").as_deref()) {
                        facts.live_subscriptions += 1;
                    }
                } else if let Some(id) = sk.strip_prefix("CHECKOUT_SESSION#") {
                    // Only a session that started a subscription counts as subscribed.
                    if text("subscriptionId").is_some() {
                        facts.completed_sessions.push(id.to_owned());
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(facts)
    }
}
