//! checkout's own store ports: the user's open session per price (once per click), and the
//! billing facts the webhook recorded for the user's customer. Adapters: DynamoDB (the shared
//! table) and memory (feature `memory`).
//!
//! The session item `USER#<uid>` / `CHECKOUT#<priceId>` goes through a claim, like signup's:
//! a request that finds no reusable session claims the item with a lease (a conditional
//! write against the state it read), and only the holder calls Stripe and records the session.
//! Everyone else waits for the record, so raced requests end with one session. `planId` (the
//! Unix second the current session was planned) names the Stripe idempotency key and fixes
//! `expires_at`, so a takeover after a crash repeats the same Stripe request.

pub mod dynamodb;
#[cfg(any(test, feature = "memory"))]
pub mod memory;

use crate::discount::{Discount, Reason};
use serde::{Deserialize, Serialize};
use shared::StoreError;
use std::future::Future;

/// A session Stripe created for the user and price, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenSession {
    pub session_id: String,
    pub url: String,
    pub price_id: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub discount: Option<Discount>,
    pub reason: Reason,
    pub created_at: i64,
}

/// The session item as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckout {
    pub plan_id: i64,
    /// The lease of a request creating the session, when one holds it.
    pub claim_until: Option<i64>,
    pub session: Option<OpenSession>,
}

/// The state a claim was decided on; the claim is refused if the item moved on since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Absent,
    /// This plan, with this session (or none), and no live lease.
    Plan {
        plan_id: i64,
        session_id: Option<String>,
    },
}

pub trait CheckoutStore: Send + Sync {
    fn get_checkout(
        &self,
        user_id: &str,
        price_id: &str,
    ) -> impl Future<Output = Result<Option<StoredCheckout>, StoreError>> + Send;

    /// Takes the lease for `plan_id` if the item is still as `expected`; `false` when it is not
    /// (someone else claimed or recorded first). A new plan drops the old session's record.
    #[allow(clippy::too_many_arguments)]
    fn claim(
        &self,
        user_id: &str,
        price_id: &str,
        expected: &Expected,
        plan_id: i64,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records the session and ends the lease, if `owner` still holds it (`false` otherwise).
    /// `ttl`: when the table may drop the item.
    fn record(
        &self,
        user_id: &str,
        owner: &str,
        session: &OpenSession,
        ttl: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives the lease up early (after a failed Stripe call); the item keeps only its plan.
    fn release(
        &self,
        user_id: &str,
        price_id: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What the webhook recorded in the customer's partition that the decision reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingFacts {
    pub paid_invoices: usize,
    pub live_subscriptions: usize,
    /// Ids of the Checkout Sessions recorded as completed.
    pub completed_sessions: Vec<String>,
}

pub trait BillingReader: Send + Sync {
    fn billing_facts(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<BillingFacts, StoreError>> + Send;
}

/// Subscription statuses after which a subscription no longer counts as one.
pub fn subscription_is_live(status: Option<&str>) -> bool {
    !matches!(status, Some("canceled" | "incomplete_expired"))
}

/// The session item's keys.
pub fn checkout_key(user_id: &str, price_id: &str) -> (String, String) {
    (format!("USER#{user_id}"), format!("CHECKOUT#{price_id}"))
}

/// The attribute names of the session item.
pub mod attrs {
    pub const PLAN_ID: &str = "planId";
    pub const OWNER: &str = "claimOwner";
    pub const UNTIL: &str = "claimUntil";
    pub const SESSION_ID: &str = "sessionId";
    pub const URL: &str = "url";
    pub const PRICE_ID: &str = "priceId";
    pub const EXPIRES_AT: &str = "expiresAt";
    pub const DISCOUNT: &str = "discount";
    pub const REASON: &str = "reason";
    pub const CREATED_AT: &str = "createdAt";
}
