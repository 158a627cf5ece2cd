//! The user record every function reads, its port, and the port's adapters: DynamoDB (on the
//! shared [`Table`](crate::table::Table)) and in memory (feature `memory`, for unit tests).
//! The user and its email-uniqueness item are written in one transaction, each with a
//! condition, so a retry never duplicates a user and two users never share an email.

pub mod dynamodb;
#[cfg(any(test, feature = "memory"))]
pub mod memory;

use crate::table::StoreError;
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
    /// The proven email: one the identity provider verified. Only this one is claimed as the
    /// user's (the email uniqueness item) and sent to Stripe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// An address nobody proved, kept when the environment allows it: never claimed, never
    /// sent to Stripe, so it can't lock its owner out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unverified_email: Option<String>,
    /// Set when the proven email was claimed after the Stripe customer existed, until the
    /// customer carries it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_pending_stripe: Option<bool>,
    /// Empty once the user is erased (the attributes are removed; an absent one reads as "").
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
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
    /// Unix seconds: when the person was erased (names and emails removed, Cello told).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<i64>,
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
