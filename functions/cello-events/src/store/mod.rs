//! The table as this function uses it: reads of the records it reports from, and the report
//! records that make each report happen once (`shared::table` documents the keys). The port,
//! its DynamoDB adapter and an in-memory adapter for unit tests.
//!
//! A report record goes `sending` (claimed, before the call) → `sent` or `refused` (after it),
//! or `failed` when the call could not be made or answered (a retry claims it again). Every
//! step is conditional, so two invocations never both send: only one claim of a record wins,
//! and only the claim's holder can finish it.

pub mod dynamodb;
#[cfg(any(test, feature = "memory"))]
pub mod memory;

use serde::de::DeserializeOwned;
use shared::StoreError;
use shared::cello_api::Trigger;
use std::future::Future;

/// Where the report of one (trigger, invoice or user) lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportKey {
    pub pk: String,
    pub sk: String,
}

impl ReportKey {
    /// `CUSTOMER#<cus>` / `CELLO_REPORT#<trigger>#<invoice id>`.
    pub fn invoice(trigger: Trigger, customer_id: &str, invoice_id: &str) -> Self {
        Self {
            pk: shared::table::keys::customer_partition(customer_id),
            sk: format!("CELLO_REPORT#{}#{invoice_id}", trigger.as_str()),
        }
    }

    /// `USER#<uid>` / `CELLO_REPORT#new-signup`.
    pub fn signup(user_id: &str) -> Self {
        Self {
            pk: shared::table::keys::user(user_id).0,
            sk: "CELLO_REPORT#new-signup".into(),
        }
    }
}

/// The claim written before the call.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub trigger: Trigger,
    pub user_id: String,
    pub invoice_id: Option<String>,
    /// The event as sent, JSON.
    pub event: String,
    /// The sort key of the item whose change caused the report.
    pub source: String,
    /// Unique to this attempt: only its holder may finish the record.
    pub token: String,
    pub now: i64,
    /// A `sending` claim last updated before this is an attempt that died (its invocation is
    /// past its timeout): it may be taken over.
    pub stale_before: i64,
}

/// What claiming found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// Ours: send now. `attempt` counts the claims of this record, this one included.
    Mine { attempt: u32 },
    /// Already sent: nothing to do.
    Sent,
    /// Cello refused it before (the message): not sent again.
    Refused(String),
    /// Another invocation holds a live claim: try again later.
    InFlight,
}

/// How a claimed report ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Sent,
    /// Cello refused the event (its message); it is never sent again by itself.
    Refused(String),
    /// Not sent or not known to be received; a later attempt claims it again.
    Failed(String),
}

impl Finish {
    pub fn status(&self) -> &'static str {
        match self {
            Self::Sent => status::SENT,
            Self::Refused(_) => status::REFUSED,
            Self::Failed(_) => status::FAILED,
        }
    }
}

pub mod status {
    pub const SENDING: &str = "sending";
    pub const SENT: &str = "sent";
    pub const REFUSED: &str = "refused";
    pub const FAILED: &str = "failed";
}

/// The port.
pub trait ReportStore: Send + Sync {
    /// One item, consistently read, as `T`; `None` when absent.
    fn get<T: DeserializeOwned + Send>(
        &self,
        pk: &str,
        sk: &str,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send;

    /// Claims the report: written when absent, `failed`, or `sending` and stale.
    fn claim(
        &self,
        key: &ReportKey,
        claim: &Claim,
    ) -> impl Future<Output = Result<Claimed, StoreError>> + Send;

    /// Ends our claim. `Ok(false)` when the claim is no longer ours (it went stale and was
    /// taken over): nothing was written.
    fn finish(
        &self,
        key: &ReportKey,
        token: &str,
        finish: &Finish,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
