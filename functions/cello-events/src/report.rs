//! The use case: one change in the table → at most one event at Cello, ever.
//!
//! Order per change: what the item is (invoice, refund, completed signup, or nothing to us) →
//! the Stripe mode it was verified in → who was referred (no ucc, nothing sent) → the event
//! (pure, `domain`) → the report record claimed (`sending`, conditional) → Cello's
//! `POST /events` → the record finished (`sent`, `refused` or `failed`, only by its claim's
//! holder).
//!
//! The crash window. Cello's `/events` takes no idempotency key, so nothing can make "sent at
//! Cello" and "recorded as sent here" one step. If an invocation dies after Cello accepted an
//! event and before `sent` is written, the record stays `sending`. A `sending` record younger
//! than the lease (`CELLO_REPORT_LEASE_SECONDS`, above the function's timeout) may still be
//! live and is never taken over: the change is retried later. An older one belongs to an
//! invocation Lambda has already ended, and is claimed again and re-sent. So the rule is at
//! least once, with the duplicate confined to that one window (a crash or timeout between
//! Cello's 2xx and one DynamoDB write), rather than at most once, which would silently lose
//! the referrer's reward whenever the write fails. Each claim counts `attempts` on the
//! record, so a re-send after a takeover is visible (and logged as a warning).

use crate::domain::{self, Referral, Unreportable};
use crate::facts::{
    self, CustomerFacts, CustomerLink, InvoiceFacts, RefundFacts, Source, SubscriptionFacts,
};
use crate::sink::CelloSink;
use crate::store::{Claim, Claimed, Finish, ReportKey, ReportStore};
use crate::stream::{BatchResponse, Change, ItemFailure, StreamBatch, read_record};
use shared::StoreError;
use shared::cello_api::{CelloApiError, Event, Trigger};
use shared::clock::Clock;
use shared::config::StripeMode;
use shared::table::keys;
use std::time::{Duration, Instant};

pub struct Reporter<S, C, K> {
    pub store: S,
    pub cello: C,
    pub clock: K,
    /// Records of the other Stripe mode are never reported.
    pub mode: StripeMode,
    /// How long a `sending` claim is presumed live.
    pub lease_seconds: i64,
    /// The longest one call to Cello can take (every attempt timing out, token exchange
    /// included): a record is not started with less time than this left.
    pub call_budget: Duration,
}

/// What processing one record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent(Trigger),
    /// Sent before (a redelivered change or a retried batch): nothing sent now.
    AlreadySent(Trigger),
    Skipped(Skip),
    /// Not done; the stream retries it.
    Retry(String),
    /// Refused by Cello or by the rules here: not sent, and not sent by a retry either; the
    /// record goes to the stream's failure destination.
    Refused(String),
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Retry(_) | Self::Refused(_))
    }

    fn label(&self) -> &'static str {
        match self {
            Self::Sent(_) => "sent",
            Self::AlreadySent(_) => "already_sent",
            Self::Skipped(s) => s.as_str(),
            Self::Retry(_) => "retry",
            Self::Refused(_) => "refused",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not an item reporting reads (or not a change that matters: a removal, a later update).
    NotReportable,
    /// Nobody referred this user or customer.
    Unreferred,
    /// Verified in the other Stripe mode (or its mode is unknown).
    OtherMode,
    /// The person was erased: nothing about them goes to Cello again.
    Erased,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotReportable => "not_reportable",
            Self::Unreferred => "unreferred",
            Self::OtherMode => "other_mode",
            Self::Erased => "erased",
        }
    }
}

/// A whole batch can't be answered record by record (a record without a sequence number):
/// the runtime reports an error and Lambda retries (and bisects) the batch.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BatchError(pub String);

/// State shared by the records of one batch.
struct Batch {
    deadline: Option<Instant>,
    /// Set once Cello failed in this invocation: later records are not sent into the outage.
    cello_down: Option<String>,
}

impl<S: ReportStore, C: CelloSink, K: Clock> Reporter<S, C, K> {
    /// The stream batch → the records to retry. Every record is processed (not only those
    /// before a failure), so a failed record does not hold back the ones after it.
    pub async fn handle(
        &self,
        batch: StreamBatch,
        deadline: Option<Instant>,
    ) -> Result<BatchResponse, BatchError> {
        let mut state = Batch {
            deadline,
            cello_down: None,
        };
        let mut failures = Vec::new();
        let (mut sent, mut skipped) = (0, 0);
        for value in &batch.records {
            let change = match read_record(value) {
                Ok(change) => change,
                Err(bad) => {
                    let Some(seq) = bad.sequence_number else {
                        return Err(BatchError(format!(
                            "a record without a sequence number: {}",
                            bad.reason
                        )));
                    };
                    tracing::error!(sequence_number = %seq, reason = %bad.reason, "unreadable stream record");
                    failures.push(ItemFailure {
                        item_identifier: seq,
                    });
                    continue;
                }
            };
            let outcome = self.process(&change, &mut state).await;
            match &outcome {
                Outcome::Sent(_) => sent += 1,
                Outcome::Skipped(_) | Outcome::AlreadySent(_) => skipped += 1,
                Outcome::Retry(why) => {
                    tracing::warn!(pk = %change.pk, sk = %change.sk, reason = %why, "not reported yet; the stream retries it")
                }
                Outcome::Refused(why) => {
                    tracing::error!(pk = %change.pk, sk = %change.sk, reason = %why, "report refused; to the failure destination")
                }
            }
            if outcome.is_failure() {
                failures.push(ItemFailure {
                    item_identifier: change.sequence_number.clone(),
                });
            }
        }
        tracing::info!(
            records = batch.records.len(),
            sent,
            skipped,
            failed = failures.len(),
            "batch done"
        );
        Ok(BatchResponse {
            batch_item_failures: failures,
        })
    }

    /// One change.
    pub async fn process_one(&self, change: &Change) -> Outcome {
        let mut state = Batch {
            deadline: None,
            cello_down: None,
        };
        self.process(change, &mut state).await
    }

    async fn process(&self, change: &Change, batch: &mut Batch) -> Outcome {
        let outcome = match self.plan_and_send(change, batch).await {
            Ok(outcome) => outcome,
            Err(StoreError::Unavailable) => Outcome::Retry("the table is unavailable".into()),
            Err(StoreError::Internal(detail)) => {
                tracing::error!(%detail, "store error");
                Outcome::Retry("store error".into())
            }
        };
        tracing::info!(pk = %change.pk, sk = %change.sk, outcome = outcome.label(), "record");
        outcome
    }

    async fn plan_and_send(
        &self,
        change: &Change,
        batch: &mut Batch,
    ) -> Result<Outcome, StoreError> {
        let source = match facts::source_of(change) {
            Ok(Some(source)) => source,
            Ok(None) => return Ok(Outcome::Skipped(Skip::NotReportable)),
            Err(poison) => return Ok(Outcome::Refused(poison)),
        };
        let now = self.clock.now();
        match source {
            Source::Signup(user) => {
                // The stream's image may predate an erasure: the item as it is now decides.
                let (upk, usk) = keys::user(&user.user_id);
                let user = self
                    .store
                    .get::<shared::User>(&upk, usk)
                    .await?
                    .unwrap_or(*user);
                if user.erased_at.is_some() {
                    return Ok(Outcome::Skipped(Skip::Erased));
                }
                let Some(referral) = Referral::of_user(&user, None, None) else {
                    return Ok(Outcome::Skipped(Skip::Unreferred));
                };
                let event = domain::new_signup(&referral, change.at.unwrap_or(now));
                let key = ReportKey::signup(&user.user_id);
                self.deliver(
                    change,
                    batch,
                    key,
                    Trigger::NewSignup,
                    &referral,
                    None,
                    Ok(event),
                )
                .await
            }
            Source::InvoicePaid(invoice) => {
                if invoice.livemode != Some(self.mode.is_live()) {
                    return Ok(Outcome::Skipped(Skip::OtherMode));
                }
                let Some(referral) = self.referral(&invoice.customer_id).await? else {
                    return Ok(Outcome::Skipped(Skip::Unreferred));
                };
                let subscription = self.subscription(&invoice).await?;
                let event = domain::invoice_paid(&referral, &invoice, subscription.as_ref(), now);
                let key = ReportKey::invoice(
                    Trigger::InvoicePaid,
                    &invoice.customer_id,
                    &invoice.invoice_id,
                );
                self.deliver(
                    change,
                    batch,
                    key,
                    Trigger::InvoicePaid,
                    &referral,
                    Some(&invoice.invoice_id),
                    event,
                )
                .await
            }
            Source::Refund(refund) => {
                if refund.livemode != Some(self.mode.is_live()) {
                    return Ok(Outcome::Skipped(Skip::OtherMode));
                }
                let Some(referral) = self.referral(&refund.customer_id).await? else {
                    return Ok(Outcome::Skipped(Skip::Unreferred));
                };
                let Some(invoice_id) = self.refunded_invoice(&refund).await? else {
                    // Nothing to key the report by: the stream's failure path, for a person.
                    return Ok(Outcome::Refused(format!(
                        "refund {} of charge {}: the charge names no invoice (Stripe API \
                         versions since 2025-03-31 leave `charge.invoice` out)",
                        refund.refund_key, refund.charge_id
                    )));
                };
                let key =
                    ReportKey::invoice(Trigger::ChargeRefunded, &refund.customer_id, &invoice_id);
                let invoice: Option<InvoiceFacts> = self
                    .store
                    .get(
                        &keys::customer_partition(&refund.customer_id),
                        &facts::sk::invoice(&invoice_id),
                    )
                    .await?;
                let event = match invoice {
                    None => Err(Unreportable::NotYet(format!(
                        "invoice {invoice_id} is not recorded yet"
                    ))),
                    Some(invoice) => {
                        let subscription = self.subscription(&invoice).await?;
                        domain::charge_refunded(
                            &referral,
                            &refund,
                            &invoice,
                            subscription.as_ref(),
                            now,
                        )
                    }
                };
                self.deliver(
                    change,
                    batch,
                    key,
                    Trigger::ChargeRefunded,
                    &referral,
                    Some(&invoice_id),
                    event,
                )
                .await
            }
        }
    }

    /// The referral behind a Stripe customer: its user (the lookup signup wrote, else the
    /// customer's `new_user_id`) and the user's ucc, else the customer's `cello_ucc`.
    async fn referral(&self, customer_id: &str) -> Result<Option<Referral>, StoreError> {
        let pk = keys::customer_partition(customer_id);
        let link: Option<CustomerLink> = self.store.get(&pk, keys::customer(customer_id).1).await?;
        let state: Option<CustomerFacts> = self.store.get(&pk, facts::sk::CUSTOMER_STATE).await?;
        let state = state.unwrap_or_default();
        let Some(user_id) = link.and_then(|l| l.user_id).or(state.user_id.clone()) else {
            return Ok(None);
        };
        let (upk, usk) = keys::user(&user_id);
        let user: Option<shared::User> = self.store.get(&upk, usk).await?;
        Ok(match user {
            // An erased person is reported nothing more (their billing facts stay ours).
            Some(user) if user.erased_at.is_some() => None,
            Some(user) => Referral::of_user(
                &user,
                state.ucc.as_deref(),
                state.organization_id.as_deref(),
            ),
            // Only the customer's metadata knows this user (created outside signup).
            None => state
                .ucc
                .filter(|u| !u.trim().is_empty())
                .map(|ucc| Referral {
                    user_id,
                    ucc,
                    email: None,
                    name: None,
                    organization_id: state.organization_id,
                }),
        })
    }

    async fn subscription(
        &self,
        invoice: &InvoiceFacts,
    ) -> Result<Option<SubscriptionFacts>, StoreError> {
        match &invoice.subscription_id {
            Some(id) => {
                self.store
                    .get(
                        &keys::customer_partition(&invoice.customer_id),
                        &facts::sk::subscription(id),
                    )
                    .await
            }
            None => Ok(None),
        }
    }

    /// The invoice a refund refunds: the refund's own record (from `charge.invoice`), else the
    /// charge's record.
    async fn refunded_invoice(&self, refund: &RefundFacts) -> Result<Option<String>, StoreError> {
        if let Some(id) = &refund.invoice_id {
            return Ok(Some(id.clone()));
        }
        let charge: Option<facts::ChargeFacts> = self
            .store
            .get(
                &keys::customer_partition(&refund.customer_id),
                &facts::sk::charge(&refund.charge_id),
            )
            .await?;
        Ok(charge.and_then(|c| c.invoice_id))
    }

    #[allow(clippy::too_many_arguments)]
    async fn deliver(
        &self,
        change: &Change,
        batch: &mut Batch,
        key: ReportKey,
        trigger: Trigger,
        referral: &Referral,
        invoice_id: Option<&str>,
        event: Result<Event, Unreportable>,
    ) -> Result<Outcome, StoreError> {
        let event = match event {
            Ok(event) => event,
            Err(Unreportable::NotYet(why)) => return Ok(Outcome::Retry(why)),
            Err(Unreportable::Never(why)) => {
                // Recorded as refused (nothing sent), so the reason is on the table too.
                let claim = self.claim_for(change, trigger, referral, invoice_id, String::new());
                return Ok(match self.store.claim(&key, &claim).await? {
                    Claimed::Mine { .. } => {
                        self.store
                            .finish(
                                &key,
                                &claim.token,
                                &Finish::Refused(why.clone()),
                                self.clock.now(),
                            )
                            .await?;
                        Outcome::Refused(why)
                    }
                    Claimed::Sent => Outcome::AlreadySent(trigger),
                    Claimed::Refused(previous) => Outcome::Refused(previous),
                    Claimed::InFlight => Outcome::Retry("another attempt holds the claim".into()),
                });
            }
        };
        if let Some(why) = &batch.cello_down {
            return Ok(Outcome::Retry(format!(
                "Cello failed earlier in this batch: {why}"
            )));
        }
        if let Some(deadline) = batch.deadline
            && deadline.saturating_duration_since(Instant::now()) < self.call_budget
        {
            return Ok(Outcome::Retry(
                "too little time left in this invocation".into(),
            ));
        }
        // The record keeps what was sent without the person's email and name: an erasure that
        // runs while this call is in flight must not find them written back afterwards.
        let mut stored = event.clone();
        stored.context.new_user.email = None;
        stored.context.new_user.name = None;
        let json =
            serde_json::to_string(&stored).map_err(|e| StoreError::Internal(e.to_string()))?;
        let claim = self.claim_for(change, trigger, referral, invoice_id, json);
        match self.store.claim(&key, &claim).await? {
            Claimed::Sent => return Ok(Outcome::AlreadySent(trigger)),
            Claimed::Refused(previous) => return Ok(Outcome::Refused(previous)),
            Claimed::InFlight => {
                return Ok(Outcome::Retry("another attempt holds a live claim".into()));
            }
            Claimed::Mine { attempt } if attempt > 1 => {
                tracing::warn!(sk = %key.sk, attempt, "claimed again after a failed or abandoned attempt");
            }
            Claimed::Mine { .. } => {}
        }
        let (finish, outcome) = match self.cello.send(&event).await {
            Ok(()) => (Finish::Sent, Outcome::Sent(trigger)),
            Err(CelloApiError::Refused { status, message }) => {
                let why = format!("Cello answered {status}: {message}");
                (Finish::Refused(why.clone()), Outcome::Refused(why))
            }
            Err(e) => {
                let why = e.to_string();
                batch.cello_down = Some(why.clone());
                (Finish::Failed(why.clone()), Outcome::Retry(why))
            }
        };
        if !self
            .store
            .finish(&key, &claim.token, &finish, self.clock.now())
            .await?
        {
            tracing::warn!(sk = %key.sk, "the claim was taken over before it was finished");
        }
        Ok(outcome)
    }

    fn claim_for(
        &self,
        change: &Change,
        trigger: Trigger,
        referral: &Referral,
        invoice_id: Option<&str>,
        event: String,
    ) -> Claim {
        let now = self.clock.now();
        Claim {
            trigger,
            user_id: referral.user_id.clone(),
            invoice_id: invoice_id.map(str::to_owned),
            event,
            source: change.sk.clone(),
            token: claim_token(&change.sequence_number),
            now,
            stale_before: now - self.lease_seconds,
        }
    }
}

/// Unique per attempt: the record's sequence number, the time and a random part.
fn claim_token(sequence_number: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{sequence_number}:{nanos:x}:{random:016x}")
}
