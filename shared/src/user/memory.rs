//! The in-memory adapter of [`UserStore`] (feature `memory`), for unit tests of handlers. It
//! keeps the DynamoDB adapter's rules: one item per user, one user per email, all or nothing,
//! and it can fail like a throttled table.

use super::{CreateOutcome, User, UserStore};
use crate::table::StoreError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct MemoryUsers {
    state: Mutex<Users>,
    /// When set, every call fails as if DynamoDB were throttling.
    pub unavailable: AtomicBool,
}

#[derive(Default)]
struct Users {
    users: HashMap<String, User>,
    /// lowercased email → user id
    emails: HashMap<String, String>,
}

impl MemoryUsers {
    pub fn with_users(users: impl IntoIterator<Item = User>) -> Self {
        let store = Self::default();
        {
            let mut s = store.state.lock().unwrap();
            for u in users {
                if let Some(email) = &u.email {
                    s.emails.insert(email.to_lowercase(), u.user_id.clone());
                }
                s.users.insert(u.user_id.clone(), u);
            }
        }
        store
    }

    pub fn user_count(&self) -> usize {
        self.state.lock().unwrap().users.len()
    }

    /// Fails like a throttled table when `unavailable` is set.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable)
        } else {
            Ok(())
        }
    }

    /// Runs `change` on the stored user, as a conditional update would: `None` when absent.
    pub fn update<R>(&self, user_id: &str, change: impl FnOnce(&mut User) -> R) -> Option<R> {
        self.state
            .lock()
            .unwrap()
            .users
            .get_mut(user_id)
            .map(change)
    }

    /// Gives `email` to `user_id` unless another user holds it; false when taken.
    pub fn claim_email(&self, user_id: &str, email: &str) -> bool {
        let mut s = self.state.lock().unwrap();
        let owner = s
            .emails
            .entry(email.to_lowercase())
            .or_insert_with(|| user_id.to_owned());
        owner == user_id
    }
}

impl UserStore for MemoryUsers {
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
        if let Some(email) = &user.email {
            let email = email.to_lowercase();
            if s.emails.contains_key(&email) {
                return Ok(CreateOutcome::EmailTaken);
            }
            s.emails.insert(email, user.user_id.clone());
        }
        s.users.insert(user.user_id.clone(), user.clone());
        Ok(CreateOutcome::Created)
    }
}
