//! The in-memory adapter of signup's store (feature `memory`): the shared memory user store
//! plus the claim and the customer lookup, with the DynamoDB adapter's rules.

use super::{Claim, CustomerLinks, EmailClaim, EmailClaims, Link};
use shared::StoreError;
use shared::credits::PendingRewards;
use shared::credits::memory::MemoryLedger;
use shared::user::memory::MemoryUsers;
use shared::user::{CreateOutcome, User, UserStore};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    pub users: MemoryUsers,
    /// The kept rewards and credits signup applies.
    pub ledger: MemoryLedger,
    claims: Mutex<HashMap<String, Lease>>,
    /// customer id → user id
    customers: Mutex<HashMap<String, String>>,
}

/// A user item's claim attributes: owner (while held), lease end, attempts so far.
#[derive(Default)]
struct Lease {
    owner: Option<String>,
    until: i64,
    attempts: u32,
}

impl MemoryStore {
    pub fn with_users(users: impl IntoIterator<Item = User>) -> Self {
        Self {
            users: MemoryUsers::with_users(users),
            ..Self::default()
        }
    }

    pub fn user_count(&self) -> usize {
        self.users.user_count()
    }

    /// The user linked to a Stripe customer, as the lookup item records it.
    pub fn customer_owner(&self, customer_id: &str) -> Option<String> {
        self.customers.lock().unwrap().get(customer_id).cloned()
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

impl CustomerLinks for MemoryStore {
    async fn claim_customer_creation(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> Result<Claim, StoreError> {
        self.users.check()?;
        let Some(linked) = self.users.update(user_id, |u| u.stripe_customer_id.clone()) else {
            return Ok(Claim::NoUser);
        };
        if let Some(customer) = linked {
            return Ok(Claim::Linked(customer));
        }
        let mut claims = self.claims.lock().unwrap();
        let claim = claims.entry(user_id.to_owned()).or_default();
        if claim.owner.is_some() && claim.until >= now {
            return Ok(Claim::Busy);
        }
        let earlier_attempts = claim.attempts;
        *claim = Lease {
            owner: Some(owner.to_owned()),
            until: now + lease_seconds,
            attempts: earlier_attempts + 1,
        };
        Ok(Claim::Granted { earlier_attempts })
    }

    async fn link_customer(
        &self,
        user_id: &str,
        owner: &str,
        customer_id: &str,
    ) -> Result<Link, StoreError> {
        self.users.check()?;
        let mut claims = self.claims.lock().unwrap();
        let holds = claims
            .get(user_id)
            .is_some_and(|c| c.owner.as_deref() == Some(owner));
        let unlinked = self
            .users
            .update(user_id, |u| u.stripe_customer_id.is_none())
            .unwrap_or(false);
        if !holds || !unlinked {
            return Ok(Link::LostClaim);
        }
        let mut customers = self.customers.lock().unwrap();
        if customers.get(customer_id).is_some_and(|u| u != user_id) {
            return Err(StoreError::Internal(
                "customer linked to another user".into(),
            ));
        }
        customers.insert(customer_id.to_owned(), user_id.to_owned());
        self.users.update(user_id, |u| {
            u.stripe_customer_id = Some(customer_id.to_owned())
        });
        if let Some(c) = claims.get_mut(user_id) {
            c.owner = None;
        }
        Ok(Link::Linked)
    }

    async fn release_claim(&self, user_id: &str, owner: &str) -> Result<(), StoreError> {
        self.users.check()?;
        let mut claims = self.claims.lock().unwrap();
        if let Some(c) = claims.get_mut(user_id)
            && c.owner.as_deref() == Some(owner)
        {
            c.owner = None;
        }
        Ok(())
    }
}

impl EmailClaims for MemoryStore {
    async fn claim_email(&self, user_id: &str, email: &str) -> Result<EmailClaim, StoreError> {
        self.users.check()?;
        if !self.users.claim_email(user_id, email) {
            return Ok(EmailClaim::Taken);
        }
        self.users
            .update(user_id, |u| {
                u.email = Some(email.to_owned());
                u.unverified_email = None;
                u.email_pending_stripe = Some(true);
            })
            .ok_or_else(|| StoreError::Internal("user vanished while claiming its email".into()))?;
        Ok(EmailClaim::Claimed)
    }

    async fn email_reached_stripe(&self, user_id: &str) -> Result<(), StoreError> {
        self.users.check()?;
        self.users
            .update(user_id, |u| u.email_pending_stripe = None);
        Ok(())
    }
}
