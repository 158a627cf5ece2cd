//! Credits: what Cello's reward callback grants a referrer (the `rewards` function), and the
//! rewards kept for a user who has not signed up yet. Shared because two functions apply a
//! kept reward: signup (right after it stores the user) and rewards (on the user's next call).
//!
//! Items (the layout is listed once, in [`crate::table`]):
//! - `USER#<uid>` / `CREDITS` {balance, updatedAt}: the balance, changed only by `ADD`;
//! - `USER#<uid>` / `CREDIT#<creditedAt, 12 digits>#<eventId>` {eventId, rewardId, amount,
//!   createdTs, creditedAt}: one ledger entry per reward, newest last in key order;
//! - `PENDING_REWARD#<productUserId>` / `REWARD#<eventId>`: a reward for a user we don't know yet;
//! - `CELLO_REWARD#<eventId>` / `EVENT` {outcome, productUserId, ...}: the global dedupe record,
//!   written with `attribute_not_exists` in the same transaction as the credit or the kept
//!   reward, so one eventId changes a balance at most once, whatever the delivery order.
//!
//! Applying a kept reward is one transaction: the kept item deleted (it must still exist), the
//! ledger entry put, the balance raised, the dedupe record marked `credited`. Two appliers
//! racing: one transaction wins, the other's delete condition fails and it changes nothing.

pub mod dynamodb;
#[cfg(any(test, feature = "memory"))]
pub mod memory;

use crate::table::StoreError;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// The table's keys of the credit items.
pub mod keys {
    pub fn balance(user_id: &str) -> (String, &'static str) {
        (format!("USER#{user_id}"), "CREDITS")
    }

    /// The sort-key prefix of a user's ledger entries.
    pub const LEDGER_PREFIX: &str = "CREDIT#";

    /// A ledger entry: ordered by when it was credited, then by event id.
    pub fn ledger_entry(user_id: &str, credited_at: i64, event_id: &str) -> (String, String) {
        (
            format!("USER#{user_id}"),
            format!(
                "{LEDGER_PREFIX}{:012}#{event_id}",
                credited_at.clamp(0, 999_999_999_999)
            ),
        )
    }

    pub fn pending_partition(product_user_id: &str) -> String {
        format!("PENDING_REWARD#{product_user_id}")
    }

    pub fn pending(product_user_id: &str, event_id: &str) -> (String, String) {
        (
            pending_partition(product_user_id),
            format!("REWARD#{event_id}"),
        )
    }

    /// The global dedupe record of one callback's eventId.
    pub fn reward_event(event_id: &str) -> (String, &'static str) {
        (format!("CELLO_REWARD#{event_id}"), "EVENT")
    }
}

/// Attribute names of the credit items.
pub mod attrs {
    pub const BALANCE: &str = "balance";
    pub const UPDATED_AT: &str = "updatedAt";
    pub const OUTCOME: &str = "outcome";
    pub const CREDITED_AT: &str = "creditedAt";
}

/// A credit reward as Cello's callback granted it, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reward {
    pub event_id: String,
    pub reward_id: String,
    pub product_user_id: String,
    /// Whole credits, at least 1.
    pub amount: i64,
    /// Cello's `createdTs` (RFC 3339), as sent.
    pub created_ts: String,
}

/// One line of a user's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub event_id: String,
    pub reward_id: String,
    pub amount: i64,
    pub created_ts: String,
    /// Unix seconds, when the balance changed.
    pub credited_at: i64,
}

impl LedgerEntry {
    pub fn of(reward: &Reward, credited_at: i64) -> Self {
        Self {
            event_id: reward.event_id.clone(),
            reward_id: reward.reward_id.clone(),
            amount: reward.amount,
            created_ts: reward.created_ts.clone(),
            credited_at,
        }
    }
}

/// What became of a reward callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RewardOutcome {
    /// The balance was raised and the ledger entry written, now.
    Credited,
    /// The user is not known yet: the reward is kept and applied when they sign up.
    Pending,
    /// This eventId was recorded before: nothing changed.
    Duplicate,
}

impl RewardOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credited => "credited",
            Self::Pending => "pending",
            Self::Duplicate => "duplicate",
        }
    }
}

/// The port both signup and rewards apply kept rewards through.
pub trait PendingRewards: Send + Sync {
    /// Credits every reward kept for `user_id` before the user existed, each exactly once
    /// (however often or concurrently this runs). Call it only once the user item exists.
    /// Returns how many this call applied.
    fn apply_pending_rewards(
        &self,
        user_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
}
