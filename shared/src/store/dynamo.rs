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
