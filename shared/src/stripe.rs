//! Stripe customers: the port signup uses, and its adapter on async-stripe (feature `stripe`,
//! so the functions that never call Stripe don't link its client).

use crate::config::StripeMode;
use crate::error::ApiError;
use std::collections::HashMap;
use std::future::Future;

/// The customer signup creates: Cello counts the signup by this metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub email: String,
    pub name: String,
    /// `cello_ucc`, `new_user_id`, `new_user_organization_id`; keys without a value are absent.
    pub metadata: HashMap<String, String>,
    pub preferred_locale: Option<String>,
}

/// A customer found in Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCustomer {
    pub id: String,
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StripeFailure {
    /// Down, rate-limited or timing out: the caller should retry later.
    #[error("Stripe is unavailable")]
    Unavailable,
    /// Stripe refused the request (bad key, invalid parameter): retrying will not help.
    #[error("Stripe refused the request: {0}")]
    Refused(String),
}

impl From<StripeFailure> for ApiError {
    fn from(e: StripeFailure) -> Self {
        match e {
            StripeFailure::Unavailable => ApiError::unavailable(
                "the payment provider is unavailable; your signup is saved, retry shortly",
                5,
            ),
            StripeFailure::Refused(detail) => {
                tracing::error!(%detail, "Stripe refused the request");
                ApiError::new(
                    http::StatusCode::BAD_GATEWAY,
                    "payment_provider_error",
                    "the payment provider refused the request",
                )
            }
        }
    }
}

/// The port.
pub trait StripeCustomers: Send + Sync {
    /// Creates a customer. `idempotency_key` makes Stripe answer a repeat with the first result
    /// for at least 24 hours.
    fn create_customer(
        &self,
        customer: &NewCustomer,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<String, StripeFailure>> + Send;

    /// The live customers with this email (Stripe's list filter; no search API needed).
    fn customers_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Vec<FoundCustomer>, StripeFailure>> + Send;
}

/// Test and live keys never mixed: the environment says which kind it expects.
pub fn check_key_mode(key: &str, mode: StripeMode) -> Result<(), String> {
    let prefixes: &[&str] = if mode.is_live() {
        &["sk_live_", "rk_live_"]
    } else {
        &["sk_test_", "rk_test_"]
    };
    if prefixes.iter().any(|p| key.starts_with(p)) {
        Ok(())
    } else {
        Err(format!(
            "stripeSecretKey is not a {} key, but STRIPE_MODE is {}",
            if mode.is_live() { "live" } else { "test" },
            if mode.is_live() { "live" } else { "test" },
        ))
    }
}

#[cfg(feature = "stripe")]
pub use adapter::AsyncStripeCustomers;

#[cfg(feature = "stripe")]
mod adapter {
    use super::*;
    use std::time::Duration;
    use stripe::{
        Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest,
    };
    use stripe_core::customer::{CreateCustomer, ListCustomer};

    /// Per attempt; well inside the signup lease, so a slow call can't outlive its claim.
    pub const STRIPE_TIMEOUT: Duration = Duration::from_secs(8);

    pub struct AsyncStripeCustomers {
        client: Client,
    }

    impl AsyncStripeCustomers {
        /// `api_base` overrides Stripe's URL (the local stand-in); `None` in AWS.
        pub fn new(secret_key: &str, api_base: Option<&str>) -> Result<Self, String> {
            let mut builder = ClientBuilder::new(secret_key).timeout(STRIPE_TIMEOUT);
            if let Some(base) = api_base {
                // The client appends `v1/...` to the base as given.
                let base = format!("{}/", base.trim_end_matches('/'));
                builder = builder.url(base);
            }
            let client = builder
                .build()
                .map_err(|e| format!("Stripe client: {}", redact(&e)))?;
            Ok(Self { client })
        }
    }

    fn redact(e: &StripeError) -> String {
        match e {
            StripeError::ConfigError(m) => m.clone(),
            _ => "invalid configuration".into(),
        }
    }

    fn classify(e: StripeError) -> StripeFailure {
        match e {
            StripeError::Stripe(err, status) if status == 429 || status >= 500 => {
                tracing::warn!(status, code = ?err.code, "Stripe busy");
                StripeFailure::Unavailable
            }
            StripeError::Stripe(err, status) => StripeFailure::Refused(format!(
                "{status} {:?}: {}",
                err.code,
                err.message.as_deref().unwrap_or("")
            )),
            StripeError::ClientError(_) | StripeError::Timeout => StripeFailure::Unavailable,
            StripeError::JSONDeserialize(m) => {
                StripeFailure::Refused(format!("unreadable response: {m}"))
            }
            StripeError::ConfigError(m) => StripeFailure::Refused(m),
        }
    }

    impl StripeCustomers for AsyncStripeCustomers {
        async fn create_customer(
            &self,
            customer: &NewCustomer,
            idempotency_key: &str,
        ) -> Result<String, StripeFailure> {
            let key = IdempotencyKey::new(idempotency_key)
                .map_err(|e| StripeFailure::Refused(format!("idempotency key: {e:?}")))?;
            let mut request = CreateCustomer::new()
                .email(customer.email.clone())
                .name(customer.name.clone())
                .metadata(customer.metadata.clone());
            if let Some(locale) = &customer.preferred_locale {
                request = request.preferred_locales(vec![locale.clone()]);
            }
            let created = request
                .customize()
                .request_strategy(RequestStrategy::Idempotent(key))
                .send(&self.client)
                .await
                .map_err(classify)?;
            Ok(created.id.to_string())
        }

        async fn customers_by_email(
            &self,
            email: &str,
        ) -> Result<Vec<FoundCustomer>, StripeFailure> {
            let page = ListCustomer::new()
                .email(email)
                .limit(100)
                .send(&self.client)
                .await
                .map_err(classify)?;
            Ok(page
                .data
                .into_iter()
                .map(|c| FoundCustomer {
                    id: c.id.to_string(),
                    metadata: c.metadata.unwrap_or_default(),
                })
                .collect())
        }
    }
}

/// An in-memory Stripe for unit tests. Like the local stand-in, it ignores idempotency keys,
/// so the single-customer rule must hold without them.
#[cfg(any(test, feature = "memory"))]
pub mod memory {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Default)]
    pub struct MemoryStripe {
        pub customers: Mutex<Vec<(String, NewCustomer)>>,
        /// When set, every call fails as if Stripe were down.
        pub down: AtomicBool,
        /// When set, a create succeeds in Stripe but its answer is lost (a timeout after
        /// Stripe acted): the worst case for duplicates.
        pub lose_next_answer: AtomicBool,
    }

    impl MemoryStripe {
        pub fn count(&self) -> usize {
            self.customers.lock().unwrap().len()
        }
    }

    impl StripeCustomers for MemoryStripe {
        async fn create_customer(
            &self,
            customer: &NewCustomer,
            _idempotency_key: &str,
        ) -> Result<String, StripeFailure> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StripeFailure::Unavailable);
            }
            let mut all = self.customers.lock().unwrap();
            let id = format!("cus_mem{}", all.len() + 1);
            all.push((id.clone(), customer.clone()));
            if self.lose_next_answer.swap(false, Ordering::SeqCst) {
                return Err(StripeFailure::Unavailable);
            }
            Ok(id)
        }

        async fn customers_by_email(
            &self,
            email: &str,
        ) -> Result<Vec<FoundCustomer>, StripeFailure> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StripeFailure::Unavailable);
            }
            Ok(self
                .customers
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, c)| c.email == email)
                .map(|(id, c)| FoundCustomer {
                    id: id.clone(),
                    metadata: c.metadata.clone(),
                })
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_match_the_mode() {
        assert!(check_key_mode("sk_test_abc", StripeMode::Test).is_ok());
        assert!(check_key_mode("rk_live_abc", StripeMode::Live).is_ok());
        let err = check_key_mode("sk_live_abc", StripeMode::Test).unwrap_err();
        assert!(err.contains("STRIPE_MODE") && !err.contains("abc"), "{err}");
        assert!(check_key_mode("sk_test_abc", StripeMode::Live).is_err());
        assert!(check_key_mode("pk_test_abc", StripeMode::Test).is_err());
    }
}
