//! The Stripe webhook's records: what each customer's events said, kept in the customer's own
//! partition so an event is recordable whether or not its user is linked yet (no ordering
//! between signup's link and Stripe's deliveries is assumed), plus processed event ids for
//! dedupe. The port, its DynamoDB adapter and an in-memory adapter for unit tests.
//!
//! | item | pk | sk | written |
//! |---|---|---|---|
//! | customer → user lookup | `CUSTOMER#<customer>` | `CUSTOMER` | once per user (also by signup) |
//! | customer state | `CUSTOMER#<customer>` | `STATE` | only by a newer `version` |
//! | subscription | `CUSTOMER#<customer>` | `SUBSCRIPTION#<id>` | only by a newer `version` |
//! | charge | `CUSTOMER#<customer>` | `CHARGE#<id>` | only by a newer `version` |
//! | paid invoice | `CUSTOMER#<customer>` | `INVOICE#<id>` | once |
//! | refund | `CUSTOMER#<customer>` | `REFUND#<key>` | once |
//! | processed event | `STRIPE_EVENT#<id>` | `EVENT` | after its effects, with `ttl` |
//!
//! A user's billing picture is one Query on its customer's partition (the user item holds the
//! customer id; the lookup item gives the way back).

use super::StoreError;
use super::keys;
use crate::webhook::effects::{
    ChargeState, CustomerState, Effect, PaidInvoice, RefundRecord, SubscriptionState,
};
use serde::de::DeserializeOwned;
use std::future::Future;

/// How long a processed event id is remembered. Stripe retries for 3 days and lets an operator
/// resend events up to 30 days old; effects are idempotent anyway, this only saves work.
pub const PROCESSED_EVENT_TTL_SECONDS: i64 = 30 * 24 * 3600;

/// The attribute that orders versioned items (see `webhook::effects::version`).
pub const VERSION: &str = "version";
/// The lookup item's user attribute (the layout signup writes).
pub const USER_ID: &str = "userId";

/// What applying one effect did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Written,
    /// Already applied, or superseded by a newer version: nothing changed.
    Unchanged,
    /// The customer is linked to another user; the link was left as it was.
    Conflict,
}

/// Everything recorded for one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerBilling {
    pub linked_user_id: Option<String>,
    pub state: Option<CustomerState>,
    pub subscriptions: Vec<SubscriptionState>,
    pub charges: Vec<ChargeState>,
    pub invoices: Vec<PaidInvoice>,
    pub refunds: Vec<RefundRecord>,
}

/// The port.
pub trait BillingStore: Send + Sync {
    /// Whether the event's effects are known to have been applied.
    fn is_processed(&self, event_id: &str)
    -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Applies one effect under its rule (versioned, once, or link). Idempotent.
    fn apply(&self, effect: &Effect) -> impl Future<Output = Result<Applied, StoreError>> + Send;

    /// Records that every effect of the event was applied, until `expires_at` (Unix seconds).
    fn mark_processed(
        &self,
        event_id: &str,
        event_type: &str,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn customer_billing(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<CustomerBilling, StoreError>> + Send;
}

/// Where an effect lives and the rule its write follows.
#[derive(Debug, PartialEq, Eq)]
enum Rule<'a> {
    /// Written only over an absent or older `version`.
    Versioned(&'a str),
    /// Written only when absent.
    Once,
    /// The lookup item: `userId` set when absent, accepted when equal, never replaced.
    Link(&'a str),
}

fn placement(effect: &Effect) -> (String, String, Rule<'_>) {
    let pk = |customer: &str| keys::customer(customer).0;
    match effect {
        Effect::Link {
            customer_id,
            user_id,
        } => {
            let (pk, sk) = keys::customer(customer_id);
            (pk, sk.to_owned(), Rule::Link(user_id))
        }
        Effect::Customer(s) => (
            pk(&s.customer_id),
            "STATE".into(),
            Rule::Versioned(&s.version),
        ),
        Effect::Subscription(s) => (
            pk(&s.customer_id),
            format!("SUBSCRIPTION#{}", s.subscription_id),
            Rule::Versioned(&s.version),
        ),
        Effect::Charge(c) => (
            pk(&c.customer_id),
            format!("CHARGE#{}", c.charge_id),
            Rule::Versioned(&c.version),
        ),
        Effect::Invoice(i) => (
            pk(&i.customer_id),
            format!("INVOICE#{}", i.invoice_id),
            Rule::Once,
        ),
        Effect::Refund(r) => (
            pk(&r.customer_id),
            format!("REFUND#{}", r.refund_key),
            Rule::Once,
        ),
    }
}

/// Turns a stored item back into a record; implemented by each adapter's item type.
trait Decode {
    fn decode<T: DeserializeOwned>(self) -> Result<T, StoreError>;
    fn user_id(&self) -> Option<String>;
}

fn assemble<D: Decode>(
    items: impl IntoIterator<Item = (String, D)>,
) -> Result<CustomerBilling, StoreError> {
    let mut b = CustomerBilling::default();
    for (sk, item) in items {
        match sk.split_once('#').map(|(kind, _)| kind).unwrap_or(&sk) {
            "CUSTOMER" => b.linked_user_id = item.user_id(),
            "STATE" => b.state = Some(item.decode()?),
            "SUBSCRIPTION" => b.subscriptions.push(item.decode()?),
            "CHARGE" => b.charges.push(item.decode()?),
            "INVOICE" => b.invoices.push(item.decode()?),
            "REFUND" => b.refunds.push(item.decode()?),
            _ => {}
        }
    }
    b.subscriptions
        .sort_by(|a, b| a.subscription_id.cmp(&b.subscription_id));
    b.charges.sort_by(|a, b| a.charge_id.cmp(&b.charge_id));
    b.invoices.sort_by(|a, b| a.invoice_id.cmp(&b.invoice_id));
    b.refunds.sort_by(|a, b| a.refund_key.cmp(&b.refund_key));
    Ok(b)
}

pub mod dynamo {
    use super::*;
    use crate::store::dynamo::{
        DynamoStore, Item, classify, from_item, is_condition_failure, key, n, s, to_item,
    };

    impl Decode for Item {
        fn decode<T: DeserializeOwned>(self) -> Result<T, StoreError> {
            from_item(self)
        }
        fn user_id(&self) -> Option<String> {
            self.get(USER_ID)
                .and_then(|v| v.as_s().ok())
                .map(String::from)
        }
    }

    fn record_item(effect: &Effect, pk: String, sk: &str) -> Result<Item, StoreError> {
        match effect {
            Effect::Link { .. } => Ok(key(pk, sk)),
            Effect::Customer(r) => to_item(r, pk, sk),
            Effect::Subscription(r) => to_item(r, pk, sk),
            Effect::Charge(r) => to_item(r, pk, sk),
            Effect::Invoice(r) => to_item(r, pk, sk),
            Effect::Refund(r) => to_item(r, pk, sk),
        }
    }

    impl BillingStore for DynamoStore {
        async fn is_processed(&self, event_id: &str) -> Result<bool, StoreError> {
            let (pk, sk) = keys::stripe_event(event_id);
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .consistent_read(true)
                .projection_expression("pk")
                .send()
                .await
                .map_err(classify)?;
            Ok(out.item.is_some())
        }

        async fn apply(&self, effect: &Effect) -> Result<Applied, StoreError> {
            let (pk, sk, rule) = placement(effect);
            let result = match rule {
                Rule::Link(user_id) => self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, &sk)))
                    .update_expression("SET #user = :user")
                    .condition_expression("attribute_not_exists(#user) OR #user = :user")
                    .expression_attribute_names("#user", USER_ID)
                    .expression_attribute_values(":user", s(user_id))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| (is_condition_failure(&e), classify(e))),
                Rule::Versioned(version) => self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(record_item(effect, pk, &sk)?))
                    .condition_expression("attribute_not_exists(#v) OR #v < :v")
                    .expression_attribute_names("#v", VERSION)
                    .expression_attribute_values(":v", s(version))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| (is_condition_failure(&e), classify(e))),
                Rule::Once => self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(record_item(effect, pk, &sk)?))
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| (is_condition_failure(&e), classify(e))),
            };
            match (result, rule) {
                (Ok(()), _) => Ok(Applied::Written),
                (Err((true, _)), Rule::Link(_)) => Ok(Applied::Conflict),
                (Err((true, _)), _) => Ok(Applied::Unchanged),
                (Err((false, e)), _) => Err(e),
            }
        }

        async fn mark_processed(
            &self,
            event_id: &str,
            event_type: &str,
            expires_at: i64,
        ) -> Result<(), StoreError> {
            let (pk, sk) = keys::stripe_event(event_id);
            let mut item = key(pk, sk);
            item.insert("type".into(), s(event_type));
            item.insert(keys::TTL.into(), n(expires_at));
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(classify)?;
            Ok(())
        }

        async fn customer_billing(&self, customer_id: &str) -> Result<CustomerBilling, StoreError> {
            let (pk, _) = keys::customer(customer_id);
            let mut items = Vec::new();
            let mut start = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(&pk))
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(classify)?;
                for item in out.items.unwrap_or_default() {
                    let sk = item
                        .get(keys::SK)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default();
                    items.push((sk, item));
                }
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
            assemble(items)
        }
    }
}

#[cfg(any(test, feature = "memory"))]
pub mod memory {
    //! Keeps the same rules as the DynamoDB adapter, on JSON values, with switches to make
    //! calls fail as an outage or a crash would.
    use super::*;
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[derive(Default)]
    pub struct MemoryBilling {
        items: Mutex<BTreeMap<(String, String), serde_json::Value>>,
        processed: Mutex<HashMap<String, i64>>,
        /// Every call fails as if DynamoDB were unreachable.
        pub unavailable: AtomicBool,
        /// Only `mark_processed` fails: a crash after the effects, before the record.
        pub fail_marking: AtomicBool,
        /// Writes that changed something.
        pub writes: AtomicUsize,
    }

    impl Decode for serde_json::Value {
        fn decode<T: DeserializeOwned>(self) -> Result<T, StoreError> {
            serde_json::from_value(self).map_err(|e| StoreError::Internal(e.to_string()))
        }
        fn user_id(&self) -> Option<String> {
            self.get(USER_ID)?.as_str().map(String::from)
        }
    }

    fn value(effect: &Effect) -> serde_json::Value {
        let v = match effect {
            Effect::Link { user_id, .. } => Ok(serde_json::json!({ USER_ID: user_id })),
            Effect::Customer(r) => serde_json::to_value(r),
            Effect::Subscription(r) => serde_json::to_value(r),
            Effect::Charge(r) => serde_json::to_value(r),
            Effect::Invoice(r) => serde_json::to_value(r),
            Effect::Refund(r) => serde_json::to_value(r),
        };
        v.expect("records serialise")
    }

    impl MemoryBilling {
        fn check(&self) -> Result<(), StoreError> {
            if self.unavailable.load(Ordering::SeqCst) {
                Err(StoreError::Unavailable)
            } else {
                Ok(())
            }
        }

        pub fn processed_count(&self) -> usize {
            self.processed.lock().unwrap().len()
        }
    }

    impl BillingStore for MemoryBilling {
        async fn is_processed(&self, event_id: &str) -> Result<bool, StoreError> {
            self.check()?;
            Ok(self.processed.lock().unwrap().contains_key(event_id))
        }

        async fn apply(&self, effect: &Effect) -> Result<Applied, StoreError> {
            self.check()?;
            let (pk, sk, rule) = placement(effect);
            let mut items = self.items.lock().unwrap();
            let existing = items.get(&(pk.clone(), sk.clone()));
            let outcome = match (&rule, existing) {
                (_, None) => Applied::Written,
                (Rule::Once, Some(_)) => Applied::Unchanged,
                (Rule::Link(user), Some(v)) => match v.get(USER_ID).and_then(|u| u.as_str()) {
                    None => Applied::Written,
                    Some(u) if u == *user => Applied::Unchanged,
                    Some(_) => Applied::Conflict,
                },
                (Rule::Versioned(version), Some(v)) => {
                    match v.get(VERSION).and_then(|u| u.as_str()) {
                        Some(stored) if stored >= *version => Applied::Unchanged,
                        _ => Applied::Written,
                    }
                }
            };
            if outcome == Applied::Written {
                items.insert((pk, sk), value(effect));
                self.writes.fetch_add(1, Ordering::SeqCst);
            }
            Ok(outcome)
        }

        async fn mark_processed(
            &self,
            event_id: &str,
            _event_type: &str,
            expires_at: i64,
        ) -> Result<(), StoreError> {
            self.check()?;
            if self.fail_marking.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable);
            }
            self.processed
                .lock()
                .unwrap()
                .insert(event_id.to_owned(), expires_at);
            Ok(())
        }

        async fn customer_billing(&self, customer_id: &str) -> Result<CustomerBilling, StoreError> {
            self.check()?;
            let (pk, _) = keys::customer(customer_id);
            let items: Vec<(String, serde_json::Value)> = self
                .items
                .lock()
                .unwrap()
                .iter()
                .filter(|((p, _), _)| *p == pk)
                .map(|((_, sk), v)| (sk.clone(), v.clone()))
                .collect();
            assemble(items)
        }
    }
}
