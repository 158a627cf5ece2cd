//! Erasing a person (the `erase` command and `DELETE /account`): Cello told to depersonalize
//! them, their Stripe customer deleted when the environment says so, their names and emails
//! removed from every item we hold (billing facts stay, without them), and the user item
//! marked `erasedAt`. Each step is recorded in `USER#<uid>` / `ERASURE` when it is done, so a
//! failed run's retry continues where it stopped, and a finished erasure is never redone:
//! a second run changes nothing and calls nobody.

use crate::settings::StripeErasure;
use crate::store::{Begin, ErasureRecord, ErasureStore, StepRecord};
use shared::cello_api::{CelloApi, CelloApiError};
use shared::clock::Clock;
use shared::stripe::StripeFailure;
use shared::{StoreError, UserStore};
use std::future::Future;

/// How long one run may hold the erasure before another may take over: longer than the
/// slowest run (Cello's and Stripe's retries), short enough for a retry soon after a crash.
pub const LEASE_SECONDS: i64 = 60;

/// Cello's side of an erasure.
pub trait CelloErasure: Send + Sync {
    fn depersonalize(
        &self,
        product_user_id: &str,
    ) -> impl Future<Output = Result<Depersonalized, ErasureFailure>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depersonalized {
    Done,
    /// Cello does not know this user as a referrer: nothing to depersonalize there.
    Unknown,
}

/// Stripe's side of an erasure.
pub trait CustomerDeletion: Send + Sync {
    /// Deletes the customer; an already deleted or unknown one counts as deleted.
    fn delete_customer(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<(), StripeFailure>> + Send;
}

/// Why an erasure stopped. Every step done before it is recorded; a retry continues.
#[derive(Debug, thiserror::Error)]
pub enum ErasureFailure {
    #[error("another erasure of this user is running")]
    InProgress,
    #[error("Cello's API is not configured (celloApiAccessKeyId, celloApiSecretAccessKey)")]
    CelloNotConfigured,
    #[error("Cello's API is unavailable")]
    CelloUnavailable,
    #[error("Cello refused the depersonalization: {0}")]
    CelloRefused(String),
    #[error("Stripe: {0}")]
    Stripe(#[from] StripeFailure),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an erasure ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    pub user_id: String,
    pub record: ErasureRecord,
    /// True when this run found the erasure finished and did nothing.
    pub already_erased: bool,
}

/// The use case, over borrowed ports: built per call by the handler and by the command.
pub struct Eraser<'a, S, C, P, K> {
    pub store: &'a S,
    pub cello: &'a C,
    pub stripe: &'a P,
    pub stripe_erasure: StripeErasure,
    pub clock: &'a K,
}

impl<S, C, P, K> Eraser<'_, S, C, P, K>
where
    S: ErasureStore + UserStore,
    C: CelloErasure,
    P: CustomerDeletion,
    K: Clock,
{
    /// Erases `user_id`, or continues an erasure a failed run left. `owner` names this run.
    pub async fn erase(&self, user_id: &str, owner: &str) -> Result<Erased, ErasureFailure> {
        let now = self.clock.now();
        let record = match self
            .store
            .begin_erasure(user_id, owner, now, LEASE_SECONDS)
            .await?
        {
            Begin::Done(record) => {
                tracing::info!("already erased: nothing to do");
                return Ok(Erased {
                    user_id: user_id.to_owned(),
                    record,
                    already_erased: true,
                });
            }
            Begin::Busy => return Err(ErasureFailure::InProgress),
            Begin::Started(record) => record,
        };
        let result = self.run_steps(user_id, owner, &record).await;
        if result.is_err() {
            let _ = self.store.release_erasure(user_id, owner).await;
        }
        let record = result?;
        Ok(Erased {
            user_id: user_id.to_owned(),
            record,
            already_erased: false,
        })
    }

    async fn run_steps(
        &self,
        user_id: &str,
        owner: &str,
        record: &ErasureRecord,
    ) -> Result<ErasureRecord, ErasureFailure> {
        let done = |step: &str| record.steps.contains_key(step);
        if done("cello") {
            tracing::info!("cello: done in an earlier run");
        } else {
            let outcome = match self.cello.depersonalize(user_id).await? {
                Depersonalized::Done => "depersonalized",
                Depersonalized::Unknown => "not a referrer at Cello",
            };
            self.step(user_id, owner, "cello", outcome).await?;
        }
        if !done("stripe") {
            let customer = self
                .store
                .get_user(user_id)
                .await?
                .and_then(|u| u.stripe_customer_id);
            let outcome = match (customer, self.stripe_erasure) {
                (None, _) => "no customer",
                (Some(_), StripeErasure::Keep) => "customer kept (ERASE_STRIPE_CUSTOMER=keep)",
                (Some(id), StripeErasure::Delete) => {
                    self.stripe.delete_customer(&id).await?;
                    "customer deleted"
                }
            };
            self.step(user_id, owner, "stripe", outcome).await?;
        }
        if !done("records") {
            let changed = self.store.scrub_personal_data(user_id).await?;
            self.step(
                user_id,
                owner,
                "records",
                &format!("{changed} items scrubbed"),
            )
            .await?;
        }
        let record = self
            .store
            .finish_erasure(user_id, owner, self.clock.now())
            .await?;
        tracing::info!("erased");
        Ok(record)
    }

    async fn step(
        &self,
        user_id: &str,
        owner: &str,
        step: &str,
        outcome: &str,
    ) -> Result<(), ErasureFailure> {
        tracing::info!(step, outcome, "erasure step done");
        let record = StepRecord {
            at: self.clock.now(),
            outcome: outcome.to_owned(),
        };
        Ok(self
            .store
            .record_step(user_id, owner, step, &record)
            .await?)
    }
}

/// Cello's API client as the erasure's Cello side; `None` when the secret has no API keys.
impl CelloErasure for Option<CelloApi> {
    async fn depersonalize(&self, product_user_id: &str) -> Result<Depersonalized, ErasureFailure> {
        let api = self.as_ref().ok_or(ErasureFailure::CelloNotConfigured)?;
        match api.depersonalize(product_user_id).await {
            Ok(()) => Ok(Depersonalized::Done),
            Err(CelloApiError::Refused { status: 404, .. }) => Ok(Depersonalized::Unknown),
            Err(CelloApiError::Unavailable(_)) => Err(ErasureFailure::CelloUnavailable),
            Err(CelloApiError::Unauthorized) => Err(ErasureFailure::CelloRefused(
                "Cello refused the API keys".into(),
            )),
            Err(CelloApiError::Refused { status, message }) => {
                Err(ErasureFailure::CelloRefused(format!("{status}: {message}")))
            }
        }
    }
}

/// Stripe customers deleted through async-stripe, the client built on first use (most
/// invocations of this function never call Stripe).
pub struct StripeCustomers {
    /// `None`: the environment keeps customers, and none is ever deleted.
    client: Option<shared::stripe::LazyClient>,
}

impl StripeCustomers {
    /// `secret_key` `None`: the environment keeps customers, and none is ever deleted.
    pub fn new(secret_key: Option<&str>, api_base: Option<&str>) -> Self {
        Self {
            client: secret_key.map(|key| shared::stripe::LazyClient::new(key, api_base)),
        }
    }

    fn client(&self) -> Result<&shared::stripe::StripeHttp, StripeFailure> {
        self.client
            .as_ref()
            .ok_or_else(|| StripeFailure::Refused("stripeSecretKey is not configured".into()))?
            .get()
    }
}

impl CustomerDeletion for StripeCustomers {
    async fn delete_customer(&self, customer_id: &str) -> Result<(), StripeFailure> {
        use stripe_client_core::StripeRequest;
        let result = stripe_core::customer::DeleteCustomer::new(customer_id)
            .customize()
            .send(self.client()?)
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(shared::stripe::StripeError::Api { status: 404, .. }) => {
                tracing::info!("the Stripe customer was already deleted");
                Ok(())
            }
            Err(e) => Err(shared::stripe::classify(e)),
        }
    }
}

/// Fakes of the external sides, for unit tests.
#[cfg(any(test, feature = "memory"))]
pub mod memory {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    #[derive(Default)]
    pub struct MemoryCello {
        pub calls: Mutex<Vec<String>>,
        /// Fails the next call as if Cello were down.
        pub down_once: AtomicBool,
    }

    impl CelloErasure for MemoryCello {
        async fn depersonalize(&self, id: &str) -> Result<Depersonalized, ErasureFailure> {
            if self.down_once.swap(false, Ordering::SeqCst) {
                return Err(ErasureFailure::CelloUnavailable);
            }
            self.calls.lock().unwrap().push(id.to_owned());
            Ok(Depersonalized::Done)
        }
    }

    #[derive(Default)]
    pub struct MemoryStripe {
        pub deleted: Mutex<Vec<String>>,
        pub down_once: AtomicBool,
        pub calls: AtomicU32,
    }

    impl CustomerDeletion for MemoryStripe {
        async fn delete_customer(&self, id: &str) -> Result<(), StripeFailure> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down_once.swap(false, Ordering::SeqCst) {
                return Err(StripeFailure::Unavailable);
            }
            self.deleted.lock().unwrap().push(id.to_owned());
            Ok(())
        }
    }
}
