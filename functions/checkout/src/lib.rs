//! checkout: the referred user's subscription starts with the new-user discount, decided on
//! the server.
//!
//! - `discount`: the decision (pure): who gets which coupon, and why;
//! - `handler`: the edge and the use cases (`checkout`, `discount`), errors mapped to HTTP once;
//! - `store`: the once-per-click session item and the billing facts (port, DynamoDB, memory);
//! - `stripe`: Checkout Sessions (port, async-stripe adapter, memory);
//! - `cello`: Cello's New User Reward answer (port, the shared client, memory);
//! - `settings`: this function's configuration.

pub mod cello;
pub mod discount;
pub mod handler;
pub mod settings;
pub mod store;
pub mod stripe;

use handler::Endpoint;
use lambda_http::http::Method;
use shared::http::{Cors, Route};

/// The function's two routes: `POST /checkout` (a small JSON body) and `GET /checkout/discount`.
#[derive(Debug, Clone)]
pub struct Routes {
    pub checkout: Route,
    pub discount: Route,
}

pub fn routes(allowed_origins: Vec<String>) -> Routes {
    Routes {
        checkout: Route {
            method: Method::POST,
            cors: Cors::new(allowed_origins.clone()),
            max_body_bytes: 4 * 1024,
        },
        discount: Route {
            method: Method::GET,
            cors: Cors::new(allowed_origins),
            max_body_bytes: 1024,
        },
    }
}

impl Routes {
    /// The route for a request path: `/checkout/discount` (also under `cargo lambda watch`'s
    /// `/lambda-url/<function>/` prefix) or `/checkout`.
    pub fn for_path(&self, path: &str) -> (&Route, Endpoint) {
        if path.trim_end_matches('/').ends_with("/discount") {
            (&self.discount, Endpoint::Discount)
        } else {
            (&self.checkout, Endpoint::Checkout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_pick_their_route() {
        let r = routes(vec![]);
        assert_eq!(r.for_path("/checkout/discount").1, Endpoint::Discount);
        assert_eq!(
            r.for_path("/lambda-url/checkout/checkout/discount/").1,
            Endpoint::Discount
        );
        assert_eq!(r.for_path("/checkout").1, Endpoint::Checkout);
        assert_eq!(r.for_path("/lambda-url/checkout").0.method, Method::POST);
    }
}
