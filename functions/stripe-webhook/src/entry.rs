//! The edge between the Lambda runtime and lambda_http, for what lambda_http gets wrong here.
//!
//! lambda_http decodes an `isBase64Encoded` body with `.expect(..)`: a body that is not valid
//! base64 panics, and with `panic = "abort"` in the release profile that kills the container.
//! API Gateway never sends one, but the endpoint is public and its input is not trusted, so the
//! event is checked first: an undecodable body is dropped, and the request then fails the
//! signature check like any other unsigned request.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::LambdaEvent;
use lambda_http::request::LambdaRequest;

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
