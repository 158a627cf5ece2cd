//! What two or more of the Cello referral functions use, and nothing else: the Lambda/HTTP edge
//! (route, CORS, body limits, the error envelope, request ids, the base64 guard), configuration,
//! secrets, identity, telemetry, the clock, the user record and the table's key layout, and the
//! clients several functions call (Stripe, behind the `stripe` feature).
//!
//! A function's own domain, ports and adapters live in its crate under `functions/`. Memory
//! adapters of the ports here are behind the `memory` feature (dev-dependencies only); other
//! test support lives in the dev-only `testkit` crate.

pub mod aws;
#[cfg(feature = "cello-api")]
pub mod cello_api;
pub mod clock;
pub mod config;
pub mod credits;
pub mod error;
pub mod field;
pub mod http;
mod https;
#[cfg(feature = "identity")]
pub mod identity;
pub mod init;
pub mod lambda;
mod sdk_http;
pub mod secrets;
#[cfg(feature = "stripe")]
pub mod stripe;
pub mod table;
pub mod telemetry;
pub mod timing;
pub mod user;

pub use clock::unix_now;
pub use config::{CommonConfig, ConfigError};
pub use error::ApiError;
#[cfg(feature = "identity")]
pub use identity::{Authenticator, Identity};
pub use secrets::{AppSecrets, SecretSource};
pub use table::{StoreError, Table};
pub use user::{User, UserStore};
