//! The one error type every endpoint answers with. Each maps to an HTTP status and renders as
//! `{"error": {"code", "message", "requestId"}}`. Messages are written for the API's caller:
//! never a stack trace, a secret, or an upstream service's raw message.

use http::StatusCode;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// A stable, machine-readable code (`invalid_email`, `unauthorized`...).
    pub code: &'static str,
    pub message: String,
    /// Seconds for the `Retry-After` header of a 503.
    pub retry_after: Option<u32>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a verified user identity is required",
        )
    }

    pub fn method_not_allowed(allowed: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this endpoint accepts {allowed}"),
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body exceeds {limit} bytes"),
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// A dependency is down or throttling; the caller should retry after `retry_after` seconds.
    pub fn unavailable(message: impl Into<String>, retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                message,
            )
        }
    }

    /// Anything unexpected. The detail goes to the log, never to the caller.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the request could not be completed",
        )
    }

    /// A field its type refused: 400 with the type's code and message.
    pub fn field(e: crate::field::FieldError) -> Self {
        Self::bad_request(e.code, e.message)
    }

    pub fn to_json(&self, request_id: &str) -> String {
        serde_json::json!({
            "error": {"code": self.code, "message": self.message, "requestId": request_id}
        })
        .to_string()
    }
}

impl From<crate::field::FieldError> for ApiError {
    fn from(e: crate::field::FieldError) -> Self {
        Self::field(e)
    }
}

/// Every function maps the table's failures the same way: busy → 503 with Retry-After, anything
/// else → 500 with the detail in the log only.
impl From<crate::table::StoreError> for ApiError {
    fn from(e: crate::table::StoreError) -> Self {
        match e {
            crate::table::StoreError::Unavailable => {
                ApiError::unavailable("the store is busy; retry shortly", 2)
            }
            crate::table::StoreError::Internal(detail) => {
                tracing::error!(%detail, "store error");
                ApiError::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_documented_shape() {
        let body = ApiError::bad_request("invalid_email", "email is not an address").to_json("r-1");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "invalid_email");
        assert_eq!(v["error"]["message"], "email is not an address");
        assert_eq!(v["error"]["requestId"], "r-1");
    }

    #[test]
    fn unavailable_carries_retry_after() {
        let e = ApiError::unavailable("Stripe is unavailable", 5);
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.retry_after, Some(5));
    }
}
