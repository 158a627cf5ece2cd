//! signup: the referred user, stored once with its referral code, and exactly one Stripe
//! customer carrying Cello's metadata.
//!
//! - `request`: the body and the types that parse it (names, email, ucc), each naming its field;
//! - `handler`: the edge and the use case (`sign_up`), its errors mapped to HTTP once;
//! - `store`: the claim on creating the customer and the link (port, DynamoDB, memory);
//! - `customers`: Stripe customers (port, async-stripe adapter, memory);
//! - `settings`: this function's configuration.

pub mod customers;
pub mod handler;
pub mod request;
pub mod settings;
pub mod store;

use lambda_http::http::Method;
use shared::http::{Cors, Route};

/// `POST /signup`: a small JSON body.
pub fn route(allowed_origins: Vec<String>) -> Route {
    Route {
        method: Method::POST,
        cors: Cors::new(allowed_origins),
        max_body_bytes: 16 * 1024,
    }
}
