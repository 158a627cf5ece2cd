//! An in-memory `UserStore` for unit tests of handlers (feature `memory`). It keeps the same
//! rules as the DynamoDB adapter: one item per user, one user per email, all or nothing.

use super::customer_link::{Claim, CustomerLinks, Link};
use super::{CreateOutcome, StoreError, User, UserStore};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// When set, every call fails as if DynamoDB were throttling.
    pub unavailable: AtomicBool,
}

#[derive(Default)]
struct State {
    users: HashMap<String, User>,
    emails: HashMap<String, String>,
    /// user id → (lease owner, lease end, attempts)
    claims: HashMap<String, (Option<String>, i64, u32)>,
    /// customer id → user id
    customers: HashMap<String, String>,
}

impl MemoryStore {
    pub fn with_users(users: impl IntoIterator<Item = User>) -> Self {
        let store = Self::default();
        {
            let mut s = store.state.lock().unwrap();
            for u in users {
                s.emails.insert(u.email.to_lowercase(), u.user_id.clone());
                s.users.insert(u.user_id.clone(), u);
            }
        }
        store
    }

    pub fn user_count(&self) -> usize {
        self.state.lock().unwrap().users.len()
    }

    /// The user linked to a Stripe customer, as the lookup item records it.
    pub fn customer_owner(&self, customer_id: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .customers
            .get(customer_id)
            .cloned()
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
        self.check()?;
        Ok(self.state.lock().unwrap().users.get(user_id).cloned())
    }

    async fn create_user(&self, user: &User) -> Result<CreateOutcome, StoreError> {
        self.check()?;
        let mut s = self.state.lock().unwrap();
        if let Some(existing) = s.users.get(&user.user_id) {
            return Ok(CreateOutcome::Existing(Box::new(existing.clone())));
        }
        let email = user.email.to_lowercase();
        if s.emails.contains_key(&email) {
            return Ok(CreateOutcome::EmailTaken);
        }
        s.emails.insert(email, user.user_id.clone());
        s.users.insert(user.user_id.clone(), user.clone());
        Ok(CreateOutcome::Created)
    }
}

impl CustomerLinks for MemoryStore {
    async fn claim_customer_creation(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> Result<Claim, StoreError> {
        self.check()?;
        let mut s = self.state.lock().unwrap();
        let Some(user) = s.users.get(user_id) else {
            return Ok(Claim::NoUser);
        };
        if let Some(customer) = &user.stripe_customer_id {
            return Ok(Claim::Linked(customer.clone()));
        }
        let claim = s.claims.entry(user_id.to_owned()).or_insert((None, 0, 0));
        if claim.0.is_some() && claim.1 >= now {
            return Ok(Claim::Busy);
        }
        let earlier_attempts = claim.2;
        *claim = (
            Some(owner.to_owned()),
            now + lease_seconds,
            earlier_attempts + 1,
        );
        Ok(Claim::Granted { earlier_attempts })
    }

    async fn link_customer(
        &self,
        user_id: &str,
        owner: &str,
        customer_id: &str,
    ) -> Result<Link, StoreError> {
        self.check()?;
        let mut s = self.state.lock().unwrap();
        let holds = s
            .claims
            .get(user_id)
            .is_some_and(|c| c.0.as_deref() == Some(owner));
        let unlinked = s
            .users
            .get(user_id)
            .is_some_and(|u| u.stripe_customer_id.is_none());
        if !holds || !unlinked {
            return Ok(Link::LostClaim);
        }
        if s.customers.get(customer_id).is_some_and(|u| u != user_id) {
            return Err(StoreError::Internal(
                "customer linked to another user".into(),
            ));
        }
        s.customers
            .insert(customer_id.to_owned(), user_id.to_owned());
        if let Some(u) = s.users.get_mut(user_id) {
            u.stripe_customer_id = Some(customer_id.to_owned());
        }
        if let Some(c) = s.claims.get_mut(user_id) {
            c.0 = None;
        }
        Ok(Link::Linked)
    }

    async fn release_claim(&self, user_id: &str, owner: &str) -> Result<(), StoreError> {
        self.check()?;
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.claims.get_mut(user_id)
            && c.0.as_deref() == Some(owner)
        {
            c.0 = None;
        }
        Ok(())
    }
}
