//! The one DynamoDB table every function shares: its key layout (documented here, once), the
//! attribute names, the table handle each function's DynamoDB adapters are implemented on, and
//! the helpers those adapters share (item conversion, conditions, error classification).
//!
//! Keys `pk` / `sk`, TTL attribute `ttl`:
//!
//! | item | pk | sk | written by |
//! |---|---|---|---|
//! | user | `USER#<user id>` | `PROFILE` | signup (with its claim attributes, see signup's `customer_link`) |
//! | email uniqueness | `EMAIL#<lowercased email>` | `EMAIL` | signup, in the user's transaction |
//! | Stripe customer → user | `CUSTOMER#<customer id>` | `CUSTOMER` | signup, or the webhook from metadata |
//! | customer state | `CUSTOMER#<customer id>` | `STATE` | webhook, only by a newer `version` |
//! | subscription | `CUSTOMER#<customer id>` | `SUBSCRIPTION#<id>` | webhook, only by a newer `version` |
//! | charge | `CUSTOMER#<customer id>` | `CHARGE#<id>` | webhook, only by a newer `version` |
//! | paid invoice | `CUSTOMER#<customer id>` | `INVOICE#<id>` | webhook, once |
//! | refund | `CUSTOMER#<customer id>` | `REFUND#<key>` | webhook, once |
//! | completed Checkout Session | `CUSTOMER#<customer id>` | `CHECKOUT_SESSION#<cs id>` | webhook, once: `sessionId`, `subscriptionId`, `userId`, `coupon` (or null), `completedAt`, `livemode`, `created` |
//! | open checkout session per price | `USER#<user id>` | `CHECKOUT#<price id>` | checkout, under a claim: `planId`, `sessionId`, `url`, `priceId`, `expiresAt`, `discount` (or null), `reason`, `createdAt`, `ttl` (a week after `expiresAt`) |
//! | other-mode event noted | `CUSTOMER#<customer id>` | `MODE_MISMATCH` | webhook, the latest ignored event of the other Stripe mode (read by the doctor) |
//! | processed Stripe event | `STRIPE_EVENT#<event id>` | `EVENT` | webhook, after its effects, with `ttl` |
//! | component health | `HEALTH` | `<component>`, e.g. `TOKEN_MINTED` | cello-token, at most once per container per few minutes; read by the doctor |
//! | report of a paid invoice to Cello | `CUSTOMER#<customer id>` | `CELLO_REPORT#invoice-paid#<invoice id>` | cello-events, claimed before the call, finished after |
//! | report of a refund to Cello | `CUSTOMER#<customer id>` | `CELLO_REPORT#charge-refunded#<invoice id>` | cello-events, likewise |
//! | report of a signup to Cello | `USER#<user id>` | `CELLO_REPORT#new-signup` | cello-events, likewise |
//! | credit balance | `USER#<user id>` | `CREDITS` | rewards, signup (kept rewards); `ADD` only |
//! | credit ledger entry | `USER#<user id>` | `CREDIT#<creditedAt, 12 digits>#<event id>` | with the balance, in one transaction |
//! | reward for an unknown user | `PENDING_REWARD#<product user id>` | `REWARD#<event id>` | rewards; deleted when applied |
//! | Cello reward dedupe | `CELLO_REWARD#<event id>` | `EVENT` | rewards, in the credit's transaction |
//! | erasure progress | `USER#<user id>` | `ERASURE` | rewards (`DELETE /account`, the `erase` command) |
//!
//! A report record holds `trigger`, `status` (`sending` → `sent` | `refused` | `failed`, the last
//! claimed again by a retry), `userId`, `invoiceId`, `event` (the JSON sent, which names the
//! user's email), `source` (the sort key that caused it), `attempts`, `claimToken`, `sentAt`,
//! `error`, `createdAt`, `updatedAt`. The table's stream (both images) feeds cello-events.
//!
//! The credit items are described in [`crate::credits`].
//!
//! A user's billing picture is one Query on its customer's partition (the user item holds the
//! customer id; the lookup item gives the way back). Every write that must happen once carries
//! a condition, so a retry never duplicates an item.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, Put, TransactWriteItem, Update};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// The table's key builders: `(pk, sk)` of each kind of item.
pub mod keys {
    pub fn user(user_id: &str) -> (String, &'static str) {
        (format!("USER#{user_id}"), "PROFILE")
    }

    pub fn email(email: &str) -> (String, &'static str) {
        (format!("EMAIL#{}", email.to_lowercase()), "EMAIL")
    }

    /// Stripe customer id → user id, written by signup, read by the webhook (no scans).
    pub fn customer(customer_id: &str) -> (String, &'static str) {
        (format!("CUSTOMER#{customer_id}"), "CUSTOMER")
    }

    /// The partition key of everything recorded for one Stripe customer.
    pub fn customer_partition(customer_id: &str) -> String {
        customer(customer_id).0
    }

    /// A component's health mark (`TOKEN_MINTED`...): `lastAt` and a running count, written
    /// at most once per container per few minutes; read by the doctor.
    pub fn health(component: &str) -> (&'static str, String) {
        (HEALTH_PARTITION, component.to_owned())
    }

    pub const HEALTH_PARTITION: &str = "HEALTH";
    /// The widget tokens cello-token minted (the Referral component's evidence).
    pub const TOKEN_MINTED: &str = "TOKEN_MINTED";

    /// A processed Stripe event id, kept for dedupe until its `ttl`.
    pub fn stripe_event(event_id: &str) -> (String, &'static str) {
        (format!("STRIPE_EVENT#{event_id}"), "EVENT")
    }
}

/// Attribute names used by more than one item or function, defined once.
pub mod attrs {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const TTL: &str = "ttl";
    /// The user id on the email item and the customer lookup item.
    pub const USER_ID: &str = "userId";
    /// The user item's Stripe customer id.
    pub const STRIPE_CUSTOMER_ID: &str = "stripeCustomerId";
    /// The attribute that orders versioned billing items.
    pub const VERSION: &str = "version";
    /// A health item's last mark (Unix seconds) and its running count.
    pub const LAST_AT: &str = "lastAt";
    pub const COUNT: &str = "count";
}

/// A store call that failed. What the caller sees is decided at each function's edge.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// Throttled, timed out or unreachable: safe to retry.
    #[error("the store is unavailable")]
    Unavailable,
    #[error("store error: {0}")]
    Internal(String),
}

/// The table, as every DynamoDB adapter reaches it: one client, one name.
#[derive(Clone)]
pub struct Table {
    pub client: Client,
    pub name: String,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    pub fn from_sdk(sdk: &aws_config::SdkConfig, name: impl Into<String>) -> Self {
        Self::new(crate::aws::dynamodb(sdk), name)
    }

    /// Whether the item at this key exists, read strongly consistent and by its key alone.
    pub async fn exists(&self, pk: String, sk: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .projection_expression("pk")
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item.is_some())
    }

    /// Writes every item or none. `Refused(i)` names the first item whose condition failed;
    /// a conflicting transaction in flight is `Unavailable` (retry later).
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Transacted, StoreError> {
        self.transact_returning(items).await.map(|(done, _)| done)
    }

    /// [`Table::transact`], with the refused item as stored when its element asked for it
    /// (`ReturnValuesOnConditionCheckFailure::AllOld`): read atomically with the refusal, so the
    /// caller needs no second call to see what stopped it.
    pub async fn transact_returning(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(Transacted, Option<Item>), StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        let err = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok((Transacted::Written, None)),
            Err(err) => err,
        };
        let (refused, conflict) = match err.as_service_error() {
            Some(E::TransactionCanceledException(tc)) => {
                let reasons = tc.cancellation_reasons();
                let is = |r: &CancellationReason, code: &str| r.code() == Some(code);
                (
                    reasons
                        .iter()
                        .position(|r| is(r, "ConditionalCheckFailed"))
                        .map(|i| (i, reasons[i].item.clone())),
                    reasons.iter().any(|r| is(r, "TransactionConflict")),
                )
            }
            _ => (None, false),
        };
        match refused {
            Some((index, item)) => Ok((Transacted::Refused(index), item)),
            None if conflict => Err(StoreError::Unavailable),
            None => Err(classify(err)),
        }
    }
}

/// What [`Table::transact`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transacted {
    Written,
    /// Nothing was written: the condition of the item at this index failed.
    Refused(usize),
}

/// A transaction element from a built `Put` or `Update`.
pub fn put(put: Result<Put, BuildError>) -> Result<TransactWriteItem, StoreError> {
    let put = put.map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

pub fn update(update: Result<Update, BuildError>) -> Result<TransactWriteItem, StoreError> {
    let update = update.map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// A record as a DynamoDB item under the given keys.
pub fn to_item<T: serde::Serialize>(value: &T, pk: String, sk: &str) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Internal(e.to_string()))?;
    item.insert(attrs::PK.into(), AttributeValue::S(pk));
    item.insert(attrs::SK.into(), AttributeValue::S(sk.to_owned()));
    Ok(item)
}

pub fn from_item<T: serde::de::DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    item.remove(attrs::PK);
    item.remove(attrs::SK);
    serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(e.to_string()))
}

pub fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        (attrs::PK.to_owned(), AttributeValue::S(pk)),
        (attrs::SK.to_owned(), AttributeValue::S(sk.to_owned())),
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
