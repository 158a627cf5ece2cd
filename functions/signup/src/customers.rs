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
    //! async-stripe's request strategies (idempotency keys, retries) on shared's Stripe client,
    //! with request forms and answers of our own: the generated `Customer` type would compile
    //! in the deserializer of every object a customer can embed (subscriptions, sources, tax
    //! ids...), about a megabyte of the binary for the two fields signup reads.
    use super::*;
    use serde::Serialize;
    use shared::stripe::classify;
    use stripe_client_core::{IdempotencyKey, RequestBuilder, RequestStrategy, StripeMethod};

    #[derive(Serialize)]
    // Fields in the generated builders' (alphabetical) order, so the encoded forms are
    // byte-for-byte theirs (the tests compare them).
    struct CreateForm<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        email: Option<&'a str>,
        metadata: &'a HashMap<String, String>,
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        preferred_locales: Option<[&'a str; 1]>,
    }

    #[derive(Serialize)]
    struct EmailForm<'a> {
        email: &'a str,
    }

    #[derive(Serialize)]
    struct ListQuery<'a> {
        email: &'a str,
        limit: u8,
    }

    /// The fields read from a customer; everything else in Stripe's answer is skipped.
    #[derive(miniserde::Deserialize)]
    struct CustomerAnswer {
        id: String,
        metadata: Option<HashMap<String, String>>,
    }

    #[derive(miniserde::Deserialize)]
    struct CustomerPage {
        data: Vec<CustomerAnswer>,
    }

    fn create_request(customer: &NewCustomer) -> RequestBuilder {
        RequestBuilder::new(StripeMethod::Post, "/customers").form(&CreateForm {
            name: &customer.name,
            metadata: &customer.metadata,
            email: customer.email.as_deref(),
            preferred_locales: customer.preferred_locale.as_deref().map(|l| [l]),
        })
    }

    fn update_request(customer_id: &str, email: &str) -> RequestBuilder {
        RequestBuilder::new(StripeMethod::Post, format!("/customers/{customer_id}"))
            .form(&EmailForm { email })
    }

    /// Live customers only: Stripe's list leaves deleted ones out.
    fn list_request(email: &str) -> RequestBuilder {
        RequestBuilder::new(StripeMethod::Get, "/customers").query(&ListQuery { email, limit: 100 })
    }

    fn idempotent(key: &str) -> Result<RequestStrategy, StripeFailure> {
        IdempotencyKey::new(key)
            .map(RequestStrategy::Idempotent)
            .map_err(|e| StripeFailure::Refused(format!("idempotency key: {e:?}")))
    }

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
            let strategy = idempotent(idempotency_key)?;
            let created: CustomerAnswer = create_request(customer)
                .customize()
                .request_strategy(strategy)
                .send(self.client.get()?)
                .await
                .map_err(classify)?;
            Ok(created.id)
        }

        async fn update_email(
            &self,
            customer_id: &str,
            email: &str,
            idempotency_key: &str,
        ) -> Result<(), StripeFailure> {
            let strategy = idempotent(idempotency_key)?;
            let _: CustomerAnswer = update_request(customer_id, email)
                .customize()
                .request_strategy(strategy)
                .send(self.client.get()?)
                .await
                .map_err(classify)?;
            Ok(())
        }

        async fn customers_by_email(
            &self,
            email: &str,
        ) -> Result<Vec<FoundCustomer>, StripeFailure> {
            let page: CustomerPage = list_request(email)
                .customize()
                .send(self.client.get()?)
                .await
                .map_err(classify)?;
            Ok(page
                .data
                .into_iter()
                .map(|c| FoundCustomer {
                    id: c.id,
                    metadata: c.metadata.unwrap_or_default(),
                })
                .collect())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The forms and query are those async-stripe's generated requests send (the same
        /// encoder, the same field order), so Stripe reads exactly what it read before.
        #[test]
        fn requests_are_byte_for_byte_the_generated_ones() {
            use stripe_client_core::StripeRequest;
            use stripe_core::customer::{CreateCustomer, ListCustomer, UpdateCustomer};
            let customer = NewCustomer {
                email: Some("ada+x@example.com".into()),
                name: "Ada Lovelace & Co".into(),
                metadata: HashMap::from([("cello_ucc".to_owned(), "pNRB1aYqArN".to_owned())]),
                preferred_locale: Some("fr".into()),
            };
            let generated = CreateCustomer::new()
                .name(customer.name.clone())
                .metadata(customer.metadata.clone())
                .email(customer.email.clone().unwrap())
                .preferred_locales(vec!["fr".to_owned()])
                .build();
            let ours = create_request(&customer);
            assert_eq!(ours.body, generated.body);
            assert_eq!(ours.path, generated.path);
            assert!(
                ours.body
                    .as_deref()
                    .unwrap()
                    .contains("metadata[cello_ucc]=pNRB1aYqArN")
            );

            let bare = NewCustomer {
                email: None,
                preferred_locale: None,
                ..customer
            };
            let generated = CreateCustomer::new()
                .name(bare.name.clone())
                .metadata(bare.metadata.clone())
                .build();
            assert_eq!(create_request(&bare).body, generated.body);

            let generated = UpdateCustomer::new("cus_1").email("a@b.example").build();
            let ours = update_request("cus_1", "a@b.example");
            assert_eq!((ours.path, ours.body), (generated.path, generated.body));

            let generated = ListCustomer::new()
                .email("a+b@c.example")
                .limit(100)
                .build();
            let ours = list_request("a+b@c.example");
            assert_eq!((ours.path, ours.query), (generated.path, generated.query));
        }

        #[test]
        fn answers_are_read_for_their_id_and_metadata_only() {
            let page: CustomerPage = miniserde::json::from_str(
                r#"{"object":"list","has_more":false,"data":[{"id":"cus_1","object":"customer",
                "metadata":{"new_user_id":"u1"},"subscriptions":{"data":[{"id":"sub_1"}]}},
                {"id":"cus_2","metadata":null}]}"#,
            )
            .unwrap();
            assert_eq!(page.data.len(), 2);
            assert_eq!(page.data[0].id, "cus_1");
            assert_eq!(page.data[0].metadata.as_ref().unwrap()["new_user_id"], "u1");
            assert!(page.data[1].metadata.is_none());
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
