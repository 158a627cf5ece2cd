//! Stripe customers: the port signup creates and finds its user's customer through, its
//! adapter on async-stripe, and an in-memory adapter (feature `memory`) for unit tests.

use shared::stripe::StripeFailure;
use std::collections::HashMap;
use std::future::Future;

/// The customer signup creates: Cello counts the signup by this metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    /// Only a proven email; `None` leaves the customer without one.
    pub email: Option<String>,
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

/// The port.
pub trait StripeCustomers: Send + Sync {
    /// Creates a customer. `idempotency_key` makes Stripe answer a repeat with the first result
    /// for at least 24 hours.
    fn create_customer(
        &self,
        customer: &NewCustomer,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<String, StripeFailure>> + Send;

    /// Gives the customer its (newly proven) email. Idempotent: the same key and value again
    /// change nothing.
    fn update_email(
        &self,
        customer_id: &str,
        email: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<(), StripeFailure>> + Send;

    /// The live customers with this email (Stripe's list filter; no search API needed).
    fn customers_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Vec<FoundCustomer>, StripeFailure>> + Send;
}

pub use adapter::AsyncStripeCustomers;

mod adapter {
    use super::*;
    use shared::stripe::classify;
    use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
    use stripe_core::customer::{CreateCustomer, ListCustomer, UpdateCustomer};

    /// Built lazily: a repeat signup (the user already linked) never calls Stripe, so the
    /// client's TLS setup is paid on the first call that needs it, not at every cold start.
    pub struct AsyncStripeCustomers {
        client: shared::stripe::LazyClient,
    }

    impl AsyncStripeCustomers {
        /// `api_base` overrides Stripe's URL (the local stand-in); `None` in AWS.
        pub fn new(secret_key: &str, api_base: Option<&str>) -> Result<Self, String> {
            Ok(Self {
                client: shared::stripe::LazyClient::new(secret_key, api_base),
            })
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
                .name(customer.name.clone())
                .metadata(customer.metadata.clone());
            if let Some(email) = &customer.email {
                request = request.email(email.clone());
            }
            if let Some(locale) = &customer.preferred_locale {
                request = request.preferred_locales(vec![locale.clone()]);
            }
            let created = request
                .customize()
                .request_strategy(RequestStrategy::Idempotent(key))
                .send(self.client.get()?)
                .await
                .map_err(classify)?;
            Ok(created.id.to_string())
        }

        async fn update_email(
            &self,
            customer_id: &str,
            email: &str,
            idempotency_key: &str,
        ) -> Result<(), StripeFailure> {
            let key = IdempotencyKey::new(idempotency_key)
                .map_err(|e| StripeFailure::Refused(format!("idempotency key: {e:?}")))?;
            UpdateCustomer::new(customer_id)
                .email(email)
                .customize()
                .request_strategy(RequestStrategy::Idempotent(key))
                .send(self.client.get()?)
                .await
                .map_err(classify)?;
            Ok(())
        }

        async fn customers_by_email(
            &self,
            email: &str,
        ) -> Result<Vec<FoundCustomer>, StripeFailure> {
            let page = ListCustomer::new()
                .email(email)
                .limit(100)
                .send(self.client.get()?)
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

        async fn update_email(
            &self,
            customer_id: &str,
            email: &str,
            _idempotency_key: &str,
        ) -> Result<(), StripeFailure> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StripeFailure::Unavailable);
            }
            let mut all = self.customers.lock().unwrap();
            let (_, customer) = all
                .iter_mut()
                .find(|(id, _)| id == customer_id)
                .ok_or_else(|| StripeFailure::Refused(format!("no such customer {customer_id}")))?;
            customer.email = Some(email.to_owned());
            Ok(())
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
                .filter(|(_, c)| c.email.as_deref() == Some(email))
                .map(|(id, c)| FoundCustomer {
                    id: id.clone(),
                    metadata: c.metadata.clone(),
                })
                .collect())
        }
    }
}
