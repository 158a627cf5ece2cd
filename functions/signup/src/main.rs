//! signup Lambda: wiring only. Everything is built once here, at init.

use lambda_http::{
    Error, Request,
    http::{Method, StatusCode},
    service_fn,
};
use referral_core::ApiError;
use referral_core::http::{Cors, Reply, Route};
use referral_core::init::{Base, exit_on_init_error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    referral_core::telemetry::init();
    let base = Base::init()
        .await
        .unwrap_or_else(|e| exit_on_init_error("signup", &e));
    let route = Route {
        method: Method::POST,
        cors: Cors::new(base.config.cors_allowed_origins.clone()),
        max_body_bytes: 16 * 1024,
    };
    let route = &route;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(
            route
                .serve(req, |_| async {
                    Err::<Reply, _>(ApiError::new(
                        StatusCode::NOT_IMPLEMENTED,
                        "not_implemented",
                        "/signup is not implemented yet",
                    ))
                })
                .await,
        )
    }))
    .await
}
