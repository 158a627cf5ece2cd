//! An in-memory [`ReportStore`] for unit tests (feature `memory`): items as JSON values, with
//! the DynamoDB adapter's claim rules, and a switch that makes every call fail as an outage.

use super::*;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<(String, String), serde_json::Value>>,
    /// Every call fails as if DynamoDB were unreachable.
    pub unavailable: AtomicBool,
    /// Only `finish` fails: a crash between Cello's answer and the record of it.
    pub fail_finish: AtomicBool,
}

impl MemoryStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable)
        } else {
            Ok(())
        }
    }

    /// Puts an item (a record another function wrote), camelCase JSON as DynamoDB holds it.
    pub fn put(&self, pk: &str, sk: &str, value: serde_json::Value) {
        self.items
            .lock()
            .unwrap()
            .insert((pk.to_owned(), sk.to_owned()), value);
    }

    /// The report record under `key`, as stored.
    pub fn report(&self, key: &ReportKey) -> Option<serde_json::Value> {
        self.items
            .lock()
            .unwrap()
            .get(&(key.pk.clone(), key.sk.clone()))
            .cloned()
    }

    /// Changes a stored report, as time or a crash would.
    pub fn edit_report(&self, key: &ReportKey, edit: impl FnOnce(&mut serde_json::Value)) {
        if let Some(v) = self
            .items
            .lock()
            .unwrap()
            .get_mut(&(key.pk.clone(), key.sk.clone()))
        {
            edit(v);
        }
    }
}

impl ReportStore for MemoryStore {
    async fn get<T: DeserializeOwned + Send>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        self.check()?;
        let value = self
            .items
            .lock()
            .unwrap()
            .get(&(pk.to_owned(), sk.to_owned()))
            .cloned();
        value
            .map(|v| serde_json::from_value(v).map_err(|e| StoreError::Internal(e.to_string())))
            .transpose()
    }

    async fn claim(&self, key: &ReportKey, claim: &Claim) -> Result<Claimed, StoreError> {
        self.check()?;
        let mut items = self.items.lock().unwrap();
        let slot = (key.pk.clone(), key.sk.clone());
        let current = items.get(&slot);
        let text = |name: &str| {
            current
                .and_then(|v| v.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let updated_at = current
            .and_then(|v| v.get("updatedAt"))
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let claimable = match text("status").as_deref() {
            None => true,
            Some(status::FAILED) => true,
            Some(status::SENDING) => updated_at < claim.stale_before,
            _ => false,
        };
        if !claimable {
            return Ok(match text("status").as_deref() {
                Some(status::SENT) => Claimed::Sent,
                Some(status::REFUSED) => Claimed::Refused(text("error").unwrap_or_default()),
                _ => Claimed::InFlight,
            });
        }
        let attempt = current
            .and_then(|v| v.get("attempts"))
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32
            + 1;
        let created_at = current
            .and_then(|v| v.get("createdAt"))
            .and_then(|v| v.as_i64())
            .unwrap_or(claim.now);
        let mut record = serde_json::json!({
            "status": status::SENDING,
            "trigger": claim.trigger.as_str(),
            "userId": claim.user_id,
            "event": claim.event,
            "source": claim.source,
            "claimToken": claim.token,
            "updatedAt": claim.now,
            "createdAt": created_at,
            "attempts": attempt,
        });
        if let Some(invoice) = &claim.invoice_id {
            record["invoiceId"] = invoice.clone().into();
        }
        if let Some(error) = text("error") {
            record["error"] = error.into();
        }
        items.insert(slot, record);
        Ok(Claimed::Mine { attempt })
    }

    async fn finish(
        &self,
        key: &ReportKey,
        token: &str,
        finish: &Finish,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.check()?;
        if self.fail_finish.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable);
        }
        let mut items = self.items.lock().unwrap();
        let Some(record) = items.get_mut(&(key.pk.clone(), key.sk.clone())) else {
            return Ok(false);
        };
        if record["claimToken"] != token || record["status"] != status::SENDING {
            return Ok(false);
        }
        record["status"] = finish.status().into();
        record["updatedAt"] = now.into();
        let object = record.as_object_mut().expect("records are objects");
        match finish {
            Finish::Sent => {
                object.insert("sentAt".into(), now.into());
                object.remove("error");
            }
            Finish::Refused(why) | Finish::Failed(why) => {
                object.insert("error".into(), why.clone().into());
            }
        }
        Ok(true)
    }
}
