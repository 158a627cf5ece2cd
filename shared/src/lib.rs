//! The common crate of the Cello referral Lambdas: the domain, the ports (traits) the handlers
//! are generic over, and the adapters that implement them (DynamoDB, Secrets Manager, and an
//! in-memory store behind the `memory` feature for unit tests).
//!
//! Each function's `main.rs` builds what it needs from here once, at init; its `handler.rs`
//! takes the ports by reference so it runs in unit tests without AWS.

pub mod aws;
pub mod cello;
pub mod config;
pub mod error;
pub mod http;
pub mod identity;
pub mod init;
pub mod lambda;
pub mod secrets;
pub mod store;
pub mod stripe;
pub mod telemetry;
#[cfg(any(test, feature = "memory"))]
pub mod testing;
pub mod validate;
pub mod webhook;

pub use config::{CommonConfig, ConfigError};
pub use error::ApiError;
pub use identity::{Authenticator, Identity};
pub use secrets::{AppSecrets, SecretSource};
pub use store::{User, UserStore};

/// Seconds since the Unix epoch, the one clock every record and token uses.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
