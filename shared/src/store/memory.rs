//! An in-memory `UserStore` for unit tests of handlers (feature `memory`). It keeps the same
//! rules as the DynamoDB adapter: one item per user, one user per email, all or nothing.

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
