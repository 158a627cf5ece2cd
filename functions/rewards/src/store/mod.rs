//! The rewards function's store ports: crediting a callback's reward exactly once and reading
//! a user's credits (`RewardStore`), and an erasure's progress and effects (`ErasureStore`).
//! Adapters: DynamoDB on the shared table, and memory (feature `memory`, unit tests only).
//! Key layout: `shared::table`, `shared::credits`.

pub mod dynamodb;
#[cfg(any(test, feature = "memory"))]
pub mod memory;

use serde::{Deserialize, Serialize};
use shared::StoreError;
use shared::credits::{LedgerEntry, PendingRewards, Reward, RewardOutcome};
use std::collections::BTreeMap;
use std::future::Future;

/// One page of a user's credits: the balance, and ledger entries newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreditsPage {
    pub balance: i64,
    pub updated_at: Option<i64>,
    pub entries: Vec<LedgerEntry>,
    /// Where the next page starts (a ledger sort key), when there may be one.
    pub next: Option<String>,
}

pub trait RewardStore: PendingRewards {
    /// Credits the reward when its user exists (ledger entry + balance + dedupe record, one
    /// conditional transaction), keeps it when the user doesn't (kept reward + dedupe record),
    /// and changes nothing when its eventId was recorded before.
    fn record_reward(
        &self,
        reward: &Reward,
        now: i64,
    ) -> impl Future<Output = Result<RewardOutcome, StoreError>> + Send;

    /// Up to `limit` entries, newest first, after the ledger sort key `after`.
    fn credits(
        &self,
        user_id: &str,
        limit: u32,
        after: Option<&str>,
    ) -> impl Future<Output = Result<CreditsPage, StoreError>> + Send;
}

/// The erasure's steps, in the order they run.
pub const STEPS: [&str; 3] = ["cello", "stripe", "records"];

/// A finished step: when, and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    pub at: i64,
    pub outcome: String,
}

/// `USER#<uid>` / `ERASURE`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureRecord {
    #[serde(default)]
    pub steps: BTreeMap<String, StepRecord>,
    pub started_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<i64>,
}

/// The outcome of starting (or resuming) an erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// This caller holds the erasure's lease; the steps already done are in the record.
    Started(ErasureRecord),
    /// The erasure completed before: nothing to do.
    Done(ErasureRecord),
    /// Another run holds a live lease.
    Busy,
}

pub trait ErasureStore: Send + Sync {
    fn begin_erasure(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> impl Future<Output = Result<Begin, StoreError>> + Send;

    fn record_step(
        &self,
        user_id: &str,
        owner: &str,
        step: &str,
        record: &StepRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the person's data from every item we hold about them: the user item's names
    /// and emails, the email uniqueness item, and personal fields in the items of the user's
    /// and their Stripe customer's partitions (billing facts stay). Returns the items changed.
    fn scrub_personal_data(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Marks the user item `erasedAt` and the erasure `completedAt`; the lease ends.
    fn finish_erasure(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
    ) -> impl Future<Output = Result<ErasureRecord, StoreError>> + Send;

    /// Gives the lease up after a failed step, so a retry need not wait (best effort).
    fn release_erasure(
        &self,
        user_id: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Attribute names that hold a person's data, wherever they appear: removed from every item
/// of the person's partitions, and from JSON documents stored in string attributes (the
/// Cello events kept by reporting carry `newUser.email` and `newUser.name`).
pub const PERSONAL_ATTRIBUTES: [&str; 9] = [
    "email",
    "unverifiedEmail",
    "emailPendingStripe",
    "firstName",
    "lastName",
    "fullName",
    "name",
    "customerEmail",
    "customerName",
];

/// A JSON document with every personal key removed, at any depth; `None` when it had none.
pub fn scrub_json(text: &str) -> Option<String> {
    fn scrub(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(map) => {
                let before = map.len();
                map.retain(|k, _| !PERSONAL_ATTRIBUTES.contains(&k.as_str()));
                let mut changed = map.len() != before;
                for child in map.values_mut() {
                    changed |= scrub(child);
                }
                changed
            }
            serde_json::Value::Array(items) => items
                .iter_mut()
                .fold(false, |acc, child| scrub(child) | acc),
            _ => false,
        }
    }
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    scrub(&mut value).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_documents_lose_personal_keys_at_any_depth() {
        let event = r#"{"payload":{"ucc":"u","newUserId":"user-1"},"context":{"newUser":{"id":"user-1","email":"a@b.c","name":"A B"},"list":[{"firstName":"A"}]}}"#;
        let scrubbed: serde_json::Value =
            serde_json::from_str(&scrub_json(event).unwrap()).unwrap();
        assert_eq!(
            scrubbed,
            serde_json::json!({"payload":{"ucc":"u","newUserId":"user-1"},
                               "context":{"newUser":{"id":"user-1"},"list":[{}]}})
        );
        assert_eq!(scrub_json(r#"{"ucc":"u"}"#), None);
        assert_eq!(scrub_json("plain text"), None);
        assert_eq!(scrub_json("{not json"), None);
    }
}
