//! signup: the referred user, stored once with its referral code, and exactly one Stripe
//! customer carrying Cello's metadata.
pub mod handler;
pub mod request;
pub mod settings;
