//! An in-memory [`BillingStore`] for unit tests (feature `memory`). It keeps the DynamoDB
//! adapter's rules, on JSON values, with switches that make calls fail as an outage or a crash
//! would.

use super::*;
use shared::table::attrs;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Default)]
pub struct MemoryBilling {
    items: Mutex<BTreeMap<(String, String), serde_json::Value>>,
    processed: Mutex<HashMap<String, i64>>,
    /// Every call fails as if DynamoDB were unreachable.
    pub unavailable: AtomicBool,
    /// Only `mark_processed` fails: a crash after the effects, before the record.
    pub fail_marking: AtomicBool,
    /// Writes that changed something.
    pub writes: AtomicUsize,
    /// The other mode's events noted, by customer (not counted in `writes`: no record changed).
    pub mode_mismatches: Mutex<HashMap<String, ModeMismatch>>,
}

impl Decode for serde_json::Value {
    fn decode<T: DeserializeOwned>(self) -> Result<T, StoreError> {
        serde_json::from_value(self).map_err(|e| StoreError::Internal(e.to_string()))
    }
    fn user_id(&self) -> Option<String> {
        self.get(attrs::USER_ID)?.as_str().map(String::from)
    }
}

fn value(effect: &Effect) -> serde_json::Value {
    let v = match effect {
        Effect::Link { user_id, .. } => Ok(serde_json::json!({ attrs::USER_ID: user_id })),
        Effect::Customer(r) => serde_json::to_value(r),
        Effect::Subscription(r) => serde_json::to_value(r),
        Effect::Charge(r) => serde_json::to_value(r),
        Effect::Invoice(r) => serde_json::to_value(r),
        Effect::Refund(r) => serde_json::to_value(r),
        Effect::Checkout(r) => serde_json::to_value(r),
    };
    v.expect("records serialise")
}

impl MemoryBilling {
    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable)
        } else {
            Ok(())
        }
    }

    pub fn processed_count(&self) -> usize {
        self.processed.lock().unwrap().len()
    }
}

impl BillingStore for MemoryBilling {
    async fn is_processed(&self, event_id: &str) -> Result<bool, StoreError> {
        self.check()?;
        Ok(self.processed.lock().unwrap().contains_key(event_id))
    }

    async fn apply(&self, effect: &Effect) -> Result<Applied, StoreError> {
        self.check()?;
        let (pk, sk, rule) = placement(effect);
        let mut items = self.items.lock().unwrap();
        let existing = items.get(&(pk.clone(), sk.clone()));
        let outcome = match (&rule, existing) {
            (_, None) => Applied::Written,
            (Rule::Once, Some(_)) => Applied::Unchanged,
            (Rule::Link(user), Some(v)) => match v.get(attrs::USER_ID).and_then(|u| u.as_str()) {
                None => Applied::Written,
                Some(u) if u == *user => Applied::Unchanged,
                Some(_) => Applied::Conflict,
            },
            (Rule::Versioned(version), Some(v)) => {
                match v.get(attrs::VERSION).and_then(|u| u.as_str()) {
                    Some(stored) if stored >= *version => Applied::Unchanged,
                    _ => Applied::Written,
                }
            }
        };
        if outcome == Applied::Written {
            items.insert((pk, sk), value(effect));
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(outcome)
    }

    async fn mark_processed(
        &self,
        event_id: &str,
        _event_type: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.check()?;
        if self.fail_marking.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable);
        }
        self.processed
            .lock()
            .unwrap()
            .insert(event_id.to_owned(), expires_at);
        Ok(())
    }

    async fn note_mode_mismatch(&self, note: &ModeMismatch) -> Result<(), StoreError> {
        self.check()?;
        self.mode_mismatches
            .lock()
            .unwrap()
            .insert(note.customer_id.clone(), note.clone());
        Ok(())
    }

    async fn customer_billing(&self, customer_id: &str) -> Result<CustomerBilling, StoreError> {
        self.check()?;
        let (pk, _) = keys::customer(customer_id);
        let items: Vec<(String, serde_json::Value)> = self
            .items
            .lock()
            .unwrap()
            .iter()
            .filter(|((p, _), _)| *p == pk)
            .map(|((_, sk), v)| (sk.clone(), v.clone()))
            .collect();
        assemble(items)
    }
}
