//! Signup's own store port: linking a user to exactly one Stripe customer. Before calling Stripe, signup claims the
//! user item with a lease; only the holder creates the customer and writes its id back. A crashed
//! holder's lease runs out so a retry can take over, and the number of earlier attempts tells
//! the taker to look for a customer the crashed attempt may already have created.

pub mod dynamodb;
#[cfg(any(test, feature = "memory"))]
pub mod memory;

use shared::StoreError;
use std::future::Future;

/// The outcome of trying to claim the customer creation for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller holds the lease. `earlier_attempts` > 0 means a previous attempt may have
    /// reached Stripe without recording the result.
    Granted { earlier_attempts: u32 },
    /// The user already has its customer.
    Linked(String),
    /// Another request holds a live lease.
    Busy,
    /// No such user.
    NoUser,
}

/// The outcome of recording the customer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Linked,
    /// The lease ran out and someone else took over; nothing was written.
    LostClaim,
}

/// The per-operation port for the claim, the write-back and the release.
pub trait CustomerLinks: Send + Sync {
    fn claim_customer_creation(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Writes the customer id to the user and the customer → user lookup item, together.
    fn link_customer(
        &self,
        user_id: &str,
        owner: &str,
        customer_id: &str,
    ) -> impl Future<Output = Result<Link, StoreError>> + Send;

    /// Gives the lease up early (after a failed Stripe call) so a retry need not wait.
    fn release_claim(
        &self,
        user_id: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The outcome of claiming a user's newly proven email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailClaim {
    /// The email item now names this user, and the user item holds the email (marked as not
    /// yet on the Stripe customer).
    Claimed,
    /// Another user holds this email; nothing was written.
    Taken,
}

/// The port for an email proven after the user was stored (a repeat signup with a verified
/// identity): the uniqueness item and the user's email, together.
pub trait EmailClaims: Send + Sync {
    fn claim_email(
        &self,
        user_id: &str,
        email: &str,
    ) -> impl Future<Output = Result<EmailClaim, StoreError>> + Send;

    /// The Stripe customer now carries the user's email: clears the pending mark.
    fn email_reached_stripe(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The user item's claim attributes (only signup reads or writes them).
pub mod attrs {
    pub const OWNER: &str = "claimOwner";
    pub const UNTIL: &str = "claimUntil";
    pub const ATTEMPTS: &str = "claimAttempts";
    pub const EMAIL: &str = "email";
    pub const UNVERIFIED_EMAIL: &str = "unverifiedEmail";
    pub const EMAIL_PENDING_STRIPE: &str = "emailPendingStripe";
}
