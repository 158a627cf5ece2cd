//! The edge between the Lambda runtime and a function's routes: `run` for one route, `run_http`
//! for a function that picks among several.
//!
//! lambda_http decodes an `isBase64Encoded` body with `.expect(..)`: a body that is not valid
//! base64 panics, and with `panic = "abort"` in the release profile that kills the container.
//! API Gateway never sends one, but inputs are not trusted, so the event is checked first: an
//! undecodable body is dropped, and the request then fails like any request without a body
//! (400 `missing_body`, or the webhook's signature check).

use crate::error::ApiError;
use crate::http::{Incoming, Reply, Route};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::request::LambdaRequest;
use lambda_http::{Error, LambdaEvent, Request, Service, service_fn};
use std::future::Future;

/// Removes a body flagged as base64 that does not decode; everything else passes unchanged.
pub fn drop_undecodable_body(mut event: LambdaEvent<LambdaRequest>) -> LambdaEvent<LambdaRequest> {
    if let LambdaRequest::ApiGatewayV2(req) = &mut event.payload
        && req.is_base64_encoded
        && let Some(body) = &req.body
        && STANDARD.decode(body).is_err()
    {
        tracing::warn!("body flagged as base64 does not decode; dropped");
        req.body = None;
        req.is_base64_encoded = false;
    }
    event
}

/// Serves `handle` on `route` until the runtime stops the process.
pub async fn run<H, Fut>(route: Route, handle: H) -> Result<(), Error>
where
    H: Fn(Incoming) -> Fut + Sync,
    Fut: Future<Output = Result<Reply, ApiError>> + Send,
{
    let (route, handle) = (&route, &handle);
    run_http(move |req| route.serve(req, handle)).await
}

/// Serves `serve` (a function with several routes picks the route itself, then calls
/// `Route::serve`) until the runtime stops the process: the base64 guard, lambda_http's
/// conversions, and the perf harness's per-invocation timing (`crate::timing`).
pub async fn run_http<S, Fut>(serve: S) -> Result<(), Error>
where
    S: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
{
    let serve = &serve;
    let http = service_fn(move |req: Request| async move { Ok::<_, Error>(serve(req).await) });
    let adapter = lambda_http::Adapter::from(http);
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<LambdaRequest>| {
        let mut adapter = adapter.clone();
        crate::timing::invocation(adapter.call(drop_undecodable_body(event)))
    }))
    .await
}
