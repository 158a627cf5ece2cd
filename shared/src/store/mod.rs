//! Users and their referral data: the domain record, the store port, and its adapters.
//!
//! One DynamoDB table (`pk`, `sk`, TTL attribute `ttl`) holds every item:
//! | item | pk | sk |
//! |---|---|---|
//! | user | `USER#<user id>` | `PROFILE` |
//! | email uniqueness | `EMAIL#<lowercased email>` | `EMAIL` |
//! | Stripe customer → user | `CUSTOMER#<customer id>` | `CUSTOMER` |
//! | processed Stripe event (TTL) | `STRIPE_EVENT#<event id>` | `EVENT` |
//! The user item also carries signup's claim on the Stripe customer creation
//! (`claimOwner`, `claimUntil`, `claimAttempts`; see `customer_link`).
//! The user and its email item are written in one transaction, each with a condition, so a
//! retry never duplicates a user and two users never share an email.

pub mod billing;
pub mod customer_link;
pub mod dynamo;
#[cfg(any(test, feature = "memory"))]
pub mod memory;

use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Where the referral code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UccSource {
    Body,
    Cookie,
}

/// A user as the backend stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The identity provider's `sub`: Cello's productUserId and Stripe's `new_user_id`.
    pub user_id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The referral code (Cello's ucc), stored before any call to Stripe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucc_source: Option<UccSource>,
    /// False when the code is not Cello's standard 11 alphanumerics (kept, but flagged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucc_standard: Option<bool>,
    /// Unix seconds.
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<String>,
}

impl User {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned()
    }
}

/// The outcome of registering a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Both items were written.
    Created,
    /// The user already existed (a retry or a race); nothing was written. The stored user.
    Existing(Box<User>),
    /// Another user holds this email; nothing was written.
    EmailTaken,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// Throttled, timed out or unreachable: safe to retry.
    #[error("the user store is unavailable")]
    Unavailable,
    #[error("user store error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable => {
                ApiError::unavailable("the user store is busy; retry shortly", 2)
            }
            StoreError::Internal(detail) => {
                tracing::error!(%detail, "user store error");
                ApiError::internal()
            }
        }
    }
}

/// Item keys, shared by every adapter and operation on the table.
pub mod keys {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const TTL: &str = "ttl";

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

    /// A processed Stripe event id, kept for dedupe until its `ttl`.
    pub fn stripe_event(event_id: &str) -> (String, &'static str) {
        (format!("STRIPE_EVENT#{event_id}"), "EVENT")
    }
}

/// The port for reading and registering users.
pub trait UserStore: Send + Sync {
    fn get_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Writes the user and its email-uniqueness item together, or neither.
    fn create_user(
        &self,
        user: &User,
    ) -> impl Future<Output = Result<CreateOutcome, StoreError>> + Send;
}
