//! The Stripe webhook's records: what each customer's events said, kept in the customer's own
//! partition so an event is recordable whether or not its user is linked yet (no ordering
//! between signup's link and Stripe's deliveries is assumed), plus processed event ids for
//! dedupe. The port, its DynamoDB adapter and an in-memory adapter for unit tests.
//! The key layout of these items is documented once, in `shared::table`.

pub mod dynamodb;
#[cfg(any(test, feature = "memory"))]
pub mod memory;

use crate::effects::{
    ChargeState, CheckoutCompletion, CustomerState, Effect, PaidInvoice, RefundRecord,
    SubscriptionState,
};
use serde::de::DeserializeOwned;
use shared::table::{StoreError, keys};
use std::future::Future;

/// How long a processed event id is remembered. Stripe retries for 3 days and lets an operator
/// resend events up to 30 days old; effects are idempotent anyway, this only saves work.
pub const PROCESSED_EVENT_TTL_SECONDS: i64 = 30 * 24 * 3600;

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
    pub checkouts: Vec<CheckoutCompletion>,
}

/// An event of the other Stripe mode, acknowledged and ignored, noted on its customer so the
/// doctor can name test and live mixed: `CUSTOMER#<id>` / `MODE_MISMATCH`, the latest one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModeMismatch {
    pub customer_id: String,
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livemode: Option<bool>,
    pub last_at: i64,
}

pub const MODE_MISMATCH_SK: &str = "MODE_MISMATCH";

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

    /// Notes an event of the other mode on its customer (one item, overwritten).
    fn note_mode_mismatch(
        &self,
        note: &ModeMismatch,
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
    let pk = keys::customer_partition;
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
        Effect::Checkout(c) => (
            pk(&c.customer_id),
            format!("CHECKOUT_SESSION#{}", c.session_id),
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
            "CHECKOUT_SESSION" => b.checkouts.push(item.decode()?),
            _ => {}
        }
    }
    b.subscriptions
        .sort_by(|a, b| a.subscription_id.cmp(&b.subscription_id));
    b.charges.sort_by(|a, b| a.charge_id.cmp(&b.charge_id));
    b.invoices.sort_by(|a, b| a.invoice_id.cmp(&b.invoice_id));
    b.refunds.sort_by(|a, b| a.refund_key.cmp(&b.refund_key));
    b.checkouts.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    Ok(b)
}
