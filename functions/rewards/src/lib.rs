//! rewards: Cello's credit rewards credited exactly once, the caller's credits, and erasing a
//! person here and at Cello.
//!
//! - `callback`: the reward callback's Basic credentials and body (`POST /cello/rewards`);
//! - `handler`: the edge of the three routes and their use cases, errors mapped to HTTP once;
//! - `store`: crediting, the ledger, the erasure record (port, DynamoDB, memory);
//! - `erasure`: the erasure's steps (Cello, Stripe, our records), resumable;
//! - `settings`: this function's configuration.
//!
//! One function serves three routes (they share the ledger and the user's records); the path
//! picks the route, each with its own method, CORS and body limit.

pub mod callback;
pub mod erasure;
pub mod handler;
pub mod settings;
pub mod store;

use lambda_http::http::Method;
use shared::http::{Cors, Route};

/// Which of this function's routes a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /cello/rewards`: Cello's callback (Basic credentials, no JWT authorizer).
    Callback,
    /// `GET /credits`: the caller's balance and ledger.
    Credits,
    /// `DELETE /account`: the caller's own erasure, when switched on.
    Account,
}

impl Endpoint {
    /// By the path's end, so a stage prefix (`/prod/credits`) or `cargo lambda watch`'s
    /// `/lambda-url/rewards/credits` picks the same route.
    pub fn of(path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        if path.ends_with("/cello/rewards") {
            Some(Self::Callback)
        } else if path.ends_with("/credits") {
            Some(Self::Credits)
        } else if path.ends_with("/account") {
            Some(Self::Account)
        } else {
            None
        }
    }
}

/// The three routes: the callback is server to server (no browser origin), the other two
/// are the product's frontend's.
#[derive(Debug, Clone)]
pub struct Routes {
    pub callback: Route,
    pub credits: Route,
    pub account: Route,
}

pub fn routes(allowed_origins: Vec<String>) -> Routes {
    Routes {
        callback: Route {
            method: Method::POST,
            cors: Cors::new(Vec::new()),
            max_body_bytes: 16 * 1024,
        },
        credits: Route {
            method: Method::GET,
            cors: Cors::new(allowed_origins.clone()),
            max_body_bytes: 1024,
        },
        account: Route {
            method: Method::DELETE,
            cors: Cors::new(allowed_origins),
            max_body_bytes: 1024,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_pick_routes_with_or_without_a_prefix() {
        assert_eq!(Endpoint::of("/cello/rewards"), Some(Endpoint::Callback));
        assert_eq!(
            Endpoint::of("/lambda-url/rewards/cello/rewards/"),
            Some(Endpoint::Callback)
        );
        assert_eq!(Endpoint::of("/prod/credits"), Some(Endpoint::Credits));
        assert_eq!(Endpoint::of("/account"), Some(Endpoint::Account));
        assert_eq!(Endpoint::of("/rewards"), None);
        assert_eq!(Endpoint::of("/"), None);
    }
}
