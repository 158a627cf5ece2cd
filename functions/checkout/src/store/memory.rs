//! In-memory adapters (feature `memory`) for unit tests: users (shared's memory adapter), the
//! session items with the DynamoDB adapter's conditions, and billing facts set by the test.

use super::{BillingFacts, BillingReader, CheckoutStore, Expected, OpenSession, StoredCheckout};
use shared::StoreError;
use shared::user::memory::MemoryUsers;
use shared::user::{CreateOutcome, User, UserStore};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone)]
struct Item {
    plan_id: i64,
    owner: Option<String>,
    until: Option<i64>,
    session: Option<OpenSession>,
}

#[derive(Default)]
pub struct MemoryStore {
    pub users: MemoryUsers,
    items: Mutex<HashMap<(String, String), Item>>,
    facts: Mutex<HashMap<String, BillingFacts>>,
    /// Every checkout-item call fails as if DynamoDB were throttling.
    pub unavailable: AtomicBool,
}

impl MemoryStore {
    pub fn with_users(users: impl IntoIterator<Item = User>) -> Self {
        Self {
            users: MemoryUsers::with_users(users),
            ..Self::default()
        }
    }

    pub fn set_facts(&self, customer_id: &str, facts: BillingFacts) {
        self.facts
            .lock()
            .unwrap()
            .insert(customer_id.to_owned(), facts);
    }

    /// The recorded session of a user and price, if any.
    pub fn session(&self, user_id: &str, price_id: &str) -> Option<OpenSession> {
        self.items
            .lock()
            .unwrap()
            .get(&(user_id.to_owned(), price_id.to_owned()))
            .and_then(|i| i.session.clone())
    }

    /// Whether a session item exists with a live lease or only a plan.
    pub fn item_count(&self) -> usize {
        self.items.lock().unwrap().len()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable)
        } else {
            Ok(())
        }
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

impl CheckoutStore for MemoryStore {
    async fn get_checkout(
        &self,
        user_id: &str,
        price_id: &str,
    ) -> Result<Option<StoredCheckout>, StoreError> {
        self.check()?;
        Ok(self
            .items
            .lock()
            .unwrap()
            .get(&(user_id.to_owned(), price_id.to_owned()))
            .map(|i| StoredCheckout {
                plan_id: i.plan_id,
                claim_until: i.until,
                session: i.session.clone(),
            }))
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
        self.check()?;
        let mut items = self.items.lock().unwrap();
        let k = (user_id.to_owned(), price_id.to_owned());
        let matches = match (expected, items.get(&k)) {
            (Expected::Absent, None) => true,
            (Expected::Absent, Some(_)) | (Expected::Plan { .. }, None) => false,
            (
                Expected::Plan {
                    plan_id: old,
                    session_id,
                },
                Some(item),
            ) => {
                item.plan_id == *old
                    && item.session.as_ref().map(|s| &s.session_id) == session_id.as_ref()
                    && item.until.is_none_or(|u| u < now)
            }
        };
        if matches {
            items.insert(
                k,
                Item {
                    plan_id,
                    owner: Some(owner.to_owned()),
                    until: Some(now + lease_seconds),
                    session: None,
                },
            );
        }
        Ok(matches)
    }

    async fn record(
        &self,
        user_id: &str,
        owner: &str,
        session: &OpenSession,
        _ttl: i64,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut items = self.items.lock().unwrap();
        match items.get_mut(&(user_id.to_owned(), session.price_id.clone())) {
            Some(item) if item.owner.as_deref() == Some(owner) => {
                item.owner = None;
                item.until = None;
                item.session = Some(session.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, user_id: &str, price_id: &str, owner: &str) -> Result<(), StoreError> {
        self.check()?;
        if let Some(item) = self
            .items
            .lock()
            .unwrap()
            .get_mut(&(user_id.to_owned(), price_id.to_owned()))
            && item.owner.as_deref() == Some(owner)
        {
            item.owner = None;
            item.until = None;
        }
        Ok(())
    }
}

impl BillingReader for MemoryStore {
    async fn billing_facts(&self, customer_id: &str) -> Result<BillingFacts, StoreError> {
        self.check()?;
        Ok(self
            .facts
            .lock()
            .unwrap()
            .get(customer_id)
            .cloned()
            .unwrap_or_default())
    }
}
