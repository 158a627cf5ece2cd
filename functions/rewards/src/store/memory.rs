//! The in-memory adapters (feature `memory`): the shared memory users and ledger, plus the
//! erasure record, with the DynamoDB adapters' rules.

use super::{Begin, CreditsPage, ErasureRecord, ErasureStore, RewardStore, StepRecord};
use shared::StoreError;
use shared::credits::memory::MemoryLedger;
use shared::credits::{PendingRewards, Reward, RewardOutcome, keys};
use shared::user::memory::MemoryUsers;
use shared::user::{CreateOutcome, User, UserStore};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    pub users: MemoryUsers,
    pub ledger: MemoryLedger,
    erasures: Mutex<HashMap<String, (ErasureRecord, Option<Lease>)>>,
}

/// An erasure's lease: its holder and when it ends.
type Lease = (String, i64);

impl MemoryStore {
    pub fn with_users(users: impl IntoIterator<Item = User>) -> Self {
        Self {
            users: MemoryUsers::with_users(users),
            ..Self::default()
        }
    }

    pub fn erasure(&self, user_id: &str) -> Option<ErasureRecord> {
        self.erasures
            .lock()
            .unwrap()
            .get(user_id)
            .map(|(r, _)| r.clone())
    }
}

impl UserStore for MemoryStore {
    async fn get_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        self.users.get_user(user_id).await
    }

    async fn create_user(&self, user: &User) -> Result<CreateOutcome, StoreError> {
        self.users.create_user(user).await
    }
}

impl PendingRewards for MemoryStore {
    async fn apply_pending_rewards(&self, user_id: &str, now: i64) -> Result<u32, StoreError> {
        self.ledger.apply_pending_rewards(user_id, now).await
    }
}

impl RewardStore for MemoryStore {
    async fn record_reward(&self, reward: &Reward, now: i64) -> Result<RewardOutcome, StoreError> {
        self.ledger.check()?;
        let known = self
            .users
            .get_user(&reward.product_user_id)
            .await?
            .is_some();
        Ok(self.ledger.record(reward, known, now))
    }

    async fn credits(
        &self,
        user_id: &str,
        limit: u32,
        after: Option<&str>,
    ) -> Result<CreditsPage, StoreError> {
        self.ledger.check()?;
        let state = self.ledger.state.lock().unwrap();
        let mut entries: Vec<_> = state
            .entries
            .get(user_id)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (keys::ledger_entry(user_id, e.credited_at, &e.event_id).1, e))
            .collect();
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        let rest: Vec<_> = entries
            .into_iter()
            .filter(|(sk, _)| after.is_none_or(|a| sk.as_str() < a))
            .collect();
        let more = rest.len() > limit as usize;
        let page: Vec<_> = rest.into_iter().take(limit as usize).collect();
        let next = if more {
            page.last().map(|(sk, _)| sk.clone())
        } else {
            None
        };
        Ok(CreditsPage {
            balance: state.balances.get(user_id).copied().unwrap_or(0),
            updated_at: page.first().map(|(_, e)| e.credited_at),
            entries: page.into_iter().map(|(_, e)| e).collect(),
            next,
        })
    }
}

impl ErasureStore for MemoryStore {
    async fn begin_erasure(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> Result<Begin, StoreError> {
        self.users.check()?;
        let mut all = self.erasures.lock().unwrap();
        let (record, lease) = all.entry(user_id.to_owned()).or_insert_with(|| {
            (
                ErasureRecord {
                    started_at: now,
                    ..ErasureRecord::default()
                },
                None,
            )
        });
        if record.completed_at.is_some() {
            return Ok(Begin::Done(record.clone()));
        }
        if lease.as_ref().is_some_and(|(_, until)| *until >= now) {
            return Ok(Begin::Busy);
        }
        *lease = Some((owner.to_owned(), now + lease_seconds));
        Ok(Begin::Started(record.clone()))
    }

    async fn record_step(
        &self,
        user_id: &str,
        owner: &str,
        step: &str,
        step_record: &StepRecord,
    ) -> Result<(), StoreError> {
        self.users.check()?;
        let mut all = self.erasures.lock().unwrap();
        match all.get_mut(user_id) {
            Some((record, Some((holder, _)))) if holder == owner => {
                record.steps.insert(step.to_owned(), step_record.clone());
                Ok(())
            }
            _ => Err(StoreError::Unavailable),
        }
    }

    async fn scrub_personal_data(&self, user_id: &str) -> Result<u32, StoreError> {
        self.users.check()?;
        Ok(self
            .users
            .update(user_id, |u| {
                let had = u.email.is_some()
                    || u.unverified_email.is_some()
                    || !u.first_name.is_empty()
                    || !u.last_name.is_empty();
                u.email = None;
                u.unverified_email = None;
                u.email_pending_stripe = None;
                u.first_name.clear();
                u.last_name.clear();
                u32::from(had)
            })
            .unwrap_or(0))
    }

    async fn finish_erasure(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
    ) -> Result<ErasureRecord, StoreError> {
        self.users.check()?;
        self.users.update(user_id, |u| {
            u.erased_at.get_or_insert(now);
        });
        let mut all = self.erasures.lock().unwrap();
        match all.get_mut(user_id) {
            Some((record, lease)) if lease.as_ref().is_some_and(|(h, _)| h == owner) => {
                record.completed_at = Some(now);
                *lease = None;
                Ok(record.clone())
            }
            _ => Err(StoreError::Unavailable),
        }
    }

    async fn release_erasure(&self, user_id: &str, owner: &str) -> Result<(), StoreError> {
        let mut all = self.erasures.lock().unwrap();
        if let Some((_, lease)) = all.get_mut(user_id)
            && lease.as_ref().is_some_and(|(h, _)| h == owner)
        {
            *lease = None;
        }
        Ok(())
    }
}
