//! The in-memory credit items (feature `memory`), with the DynamoDB adapter's rules: one
//! outcome per eventId, a kept reward applied once, the balance and its entry together.

use super::{LedgerEntry, PendingRewards, Reward, RewardOutcome};
use crate::table::StoreError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct MemoryLedger {
    pub state: Mutex<LedgerState>,
    /// When set, every call fails as if DynamoDB were throttling.
    pub unavailable: AtomicBool,
}

#[derive(Default, Debug, Clone)]
pub struct LedgerState {
    pub balances: HashMap<String, i64>,
    /// user id → entries, in the order they were credited.
    pub entries: HashMap<String, Vec<LedgerEntry>>,
    /// product user id → kept rewards.
    pub pending: HashMap<String, Vec<Reward>>,
    /// eventId → outcome (the dedupe record).
    pub events: HashMap<String, RewardOutcome>,
}

impl MemoryLedger {
    pub fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable)
        } else {
            Ok(())
        }
    }

    /// Records a callback's reward: credited when `user_known`, kept otherwise, nothing when
    /// its eventId was seen.
    pub fn record(&self, reward: &Reward, user_known: bool, now: i64) -> RewardOutcome {
        let mut s = self.state.lock().unwrap();
        if s.events.contains_key(&reward.event_id) {
            return RewardOutcome::Duplicate;
        }
        let outcome = if user_known {
            credit(&mut s, reward, now);
            RewardOutcome::Credited
        } else {
            s.pending
                .entry(reward.product_user_id.clone())
                .or_default()
                .push(reward.clone());
            RewardOutcome::Pending
        };
        s.events.insert(reward.event_id.clone(), outcome);
        outcome
    }

    pub fn balance(&self, user_id: &str) -> i64 {
        let s = self.state.lock().unwrap();
        s.balances.get(user_id).copied().unwrap_or(0)
    }

    pub fn entries(&self, user_id: &str) -> Vec<LedgerEntry> {
        let s = self.state.lock().unwrap();
        s.entries.get(user_id).cloned().unwrap_or_default()
    }

    pub fn pending_count(&self, user_id: &str) -> usize {
        let s = self.state.lock().unwrap();
        s.pending.get(user_id).map_or(0, Vec::len)
    }
}

fn credit(s: &mut LedgerState, reward: &Reward, now: i64) {
    *s.balances
        .entry(reward.product_user_id.clone())
        .or_insert(0) += reward.amount;
    s.entries
        .entry(reward.product_user_id.clone())
        .or_default()
        .push(LedgerEntry::of(reward, now));
}

impl PendingRewards for MemoryLedger {
    async fn apply_pending_rewards(&self, user_id: &str, now: i64) -> Result<u32, StoreError> {
        self.check()?;
        let mut s = self.state.lock().unwrap();
        let kept = s.pending.remove(user_id).unwrap_or_default();
        for reward in &kept {
            credit(&mut s, reward, now);
            s.events
                .insert(reward.event_id.clone(), RewardOutcome::Credited);
        }
        Ok(kept.len() as u32)
    }
}
