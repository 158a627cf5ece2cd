//! cello-token: the Cello widget token and everything `cello.boot` needs, for the caller.
//!
//! - `signer`: the HS512 token Cello's widget verifies (its own domain);
//! - `handler`: the edge (identity, optional body) and the use case (`boot_options`);
//! - `settings`: this function's configuration;
//! - `heartbeat`: the doctor's cheap evidence that tokens are being minted.

pub mod handler;
pub mod heartbeat;
pub mod settings;
pub mod signer;

use lambda_http::http::Method;
use shared::http::{Cors, Route};

/// `POST /cello/token`: a small optional body (`{"language"}`).
pub fn route(allowed_origins: Vec<String>) -> Route {
    Route {
        method: Method::POST,
        cors: Cors::new(allowed_origins),
        max_body_bytes: 4 * 1024,
    }
}
