//! The DynamoDB adapter of the store ports.

use super::{CreateOutcome, StoreError, User, UserStore, keys};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    pub client: Client,
    pub table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn from_sdk(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }
}

/// A record as a DynamoDB item under the given keys.
pub fn to_item<T: serde::Serialize>(value: &T, pk: String, sk: &str) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Internal(e.to_string()))?;
    item.insert(keys::PK.into(), AttributeValue::S(pk));
    item.insert(keys::SK.into(), AttributeValue::S(sk.to_owned()));
    Ok(item)
}

pub fn from_item<T: serde::de::DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    item.remove(keys::PK);
    item.remove(keys::SK);
    serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(e.to_string()))
}

pub fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        (keys::PK.to_owned(), AttributeValue::S(pk)),
        (keys::SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// A string attribute.
pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// A number attribute.
pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A single-item write refused by its condition: already done, superseded, or not ours.
pub fn is_condition_failure<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    err: &SdkError<E, R>,
) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// Sorts an SDK failure into "retry later" (throttling, timeouts, no connection, 5xx) and
/// everything else. The detail is logged, never shown to callers.
pub fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => matches!(
            se.err().code(),
            Some(
                "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "ThrottlingException"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionInProgressException"
            )
        ),
        _ => false,
    };
    let detail = aws_smithy_types::error::display::DisplayErrorContext(&err).to_string();
    if retryable {
        tracing::warn!(%detail, "DynamoDB unavailable");
        StoreError::Unavailable
    } else {
        StoreError::Internal(detail)
    }
}

impl UserStore for DynamoStore {
    async fn get_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let (pk, sk) = keys::user(user_id);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map(from_item).transpose()
    }

    async fn create_user(&self, user: &User) -> Result<CreateOutcome, StoreError> {
        let (pk, sk) = keys::user(&user.user_id);
        let user_item = to_item(user, pk, sk)?;
        let (epk, esk) = keys::email(&user.email);
        let mut email_item = key(epk, esk);
        email_item.insert("userId".into(), AttributeValue::S(user.user_id.clone()));

        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(put(user_item)?)
            .transact_items(put(email_item)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(err) => {
                let reasons = cancellation_reasons(&err);
                match reasons.as_deref() {
                    // The user exists: a retry or a concurrent request. Report what is stored.
                    Some([first, ..]) if first == "ConditionalCheckFailed" => {
                        match self.get_user(&user.user_id).await? {
                            Some(existing) => Ok(CreateOutcome::Existing(Box::new(existing))),
                            None => Err(StoreError::Unavailable),
                        }
                    }
                    Some([_, second, ..]) if second == "ConditionalCheckFailed" => {
                        Ok(CreateOutcome::EmailTaken)
                    }
                    // Another transaction on the same items is in flight: retry later.
                    Some(rs) if rs.iter().any(|r| r == "TransactionConflict") => {
                        Err(StoreError::Unavailable)
                    }
                    _ => Err(classify(err)),
                }
            }
        }
    }
}

/// The per-item cancellation codes of a failed transaction, in request order.
fn cancellation_reasons<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Option<Vec<String>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    match err.as_service_error()? {
        E::TransactionCanceledException(tc) => Some(
            tc.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

mod customer_links {
    use super::super::customer_link::{Claim, CustomerLinks, Link, attrs};
    use super::*;
    use aws_sdk_dynamodb::types::{ReturnValue, Update};

    impl CustomerLinks for DynamoStore {
        async fn claim_customer_creation(
            &self,
            user_id: &str,
            owner: &str,
            now: i64,
            lease_seconds: i64,
        ) -> Result<Claim, StoreError> {
            let (pk, sk) = keys::user(user_id);
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .update_expression("SET #owner = :owner, #until = :until ADD #attempts :one")
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(#customer) \
                     AND (attribute_not_exists(#until) OR #until < :now)",
                )
                .expression_attribute_names("#owner", attrs::OWNER)
                .expression_attribute_names("#until", attrs::UNTIL)
                .expression_attribute_names("#attempts", attrs::ATTEMPTS)
                .expression_attribute_names("#customer", attrs::CUSTOMER)
                .expression_attribute_values(":owner", s(owner))
                .expression_attribute_values(":until", n(now + lease_seconds))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":one", n(1))
                .return_values(ReturnValue::AllOld)
                .send()
                .await;
            match result {
                Ok(out) => {
                    let earlier_attempts = out
                        .attributes
                        .as_ref()
                        .and_then(|a| a.get(attrs::ATTEMPTS))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    Ok(Claim::Granted { earlier_attempts })
                }
                Err(err) if is_condition_failure(&err) => {
                    Ok(match self.get_user_for_claim(user_id).await? {
                        None => Claim::NoUser,
                        Some(Some(customer)) => Claim::Linked(customer),
                        Some(None) => Claim::Busy,
                    })
                }
                Err(err) => Err(classify(err)),
            }
        }

        async fn link_customer(
            &self,
            user_id: &str,
            owner: &str,
            customer_id: &str,
        ) -> Result<Link, StoreError> {
            let (pk, sk) = keys::user(user_id);
            let user_update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .update_expression("SET #customer = :customer REMOVE #owner, #until")
                .condition_expression("#owner = :owner AND attribute_not_exists(#customer)")
                .expression_attribute_names("#customer", attrs::CUSTOMER)
                .expression_attribute_names("#owner", attrs::OWNER)
                .expression_attribute_names("#until", attrs::UNTIL)
                .expression_attribute_values(":customer", s(customer_id))
                .expression_attribute_values(":owner", s(owner))
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            // An update, not a put: the webhook may already have recorded more on this item.
            let (cpk, csk) = keys::customer(customer_id);
            let lookup = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(cpk, csk)))
                .update_expression("SET #user = :user")
                .condition_expression("attribute_not_exists(pk) OR #user = :user")
                .expression_attribute_names("#user", "userId")
                .expression_attribute_values(":user", s(user_id))
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(user_update).build())
                .transact_items(TransactWriteItem::builder().update(lookup).build())
                .send()
                .await;
            match result {
                Ok(_) => Ok(Link::Linked),
                Err(err) => match cancellation_reasons(&err).as_deref() {
                    Some([first, ..]) if first == "ConditionalCheckFailed" => Ok(Link::LostClaim),
                    Some([_, second, ..]) if second == "ConditionalCheckFailed" => {
                        Err(StoreError::Internal(format!(
                            "customer {customer_id} is linked to another user"
                        )))
                    }
                    Some(rs) if rs.iter().any(|r| r == "TransactionConflict") => {
                        Err(StoreError::Unavailable)
                    }
                    _ => Err(classify(err)),
                },
            }
        }

        async fn release_claim(&self, user_id: &str, owner: &str) -> Result<(), StoreError> {
            let (pk, sk) = keys::user(user_id);
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .update_expression("REMOVE #owner, #until")
                .condition_expression("#owner = :owner")
                .expression_attribute_names("#owner", attrs::OWNER)
                .expression_attribute_names("#until", attrs::UNTIL)
                .expression_attribute_values(":owner", s(owner))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                // Someone else holds it now: nothing of ours to release.
                Err(err) if is_condition_failure(&err) => Ok(()),
                Err(err) => Err(classify(err)),
            }
        }
    }

    impl DynamoStore {
        /// `None` when there is no user; else the user's customer id, if linked.
        async fn get_user_for_claim(
            &self,
            user_id: &str,
        ) -> Result<Option<Option<String>>, StoreError> {
            Ok(self.get_user(user_id).await?.map(|u| u.stripe_customer_id))
        }
    }
}
