//! Under `AUTH_MODE=local`, a fixture's caller (its authorizer claims) gets the bearer token
//! the function verifies, minted by `testkit::local_bearer`.

use serde_json::Value;
use testkit::local_bearer::authorization;

/// Under `AUTH_MODE=local`, gives the event's caller (its authorizer claims) the bearer token
/// the function verifies, unless the event already carries an `authorization` header.
pub fn add_to_event(event: &mut Value, secret: &str, now: i64) {
    let has_header = event
        .get("headers")
        .and_then(Value::as_object)
        .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("authorization")));
    if has_header {
        return;
    }
    if let Some(claims) = crate::replay::request::authorizer_claims(event).cloned() {
        let header = authorization(&claims, secret, now);
        crate::replay::request::set_event_header(event, "authorization", &header);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "local-dev-auth-secret-not-for-production";

    #[test]
    fn an_event_gets_a_bearer_only_for_a_caller_without_one() {
        let claims = json!({"jwt": {"claims": {"sub": "u"}}});
        let mut with_caller = json!({"requestContext": {"authorizer": claims}});
        add_to_event(&mut with_caller, SECRET, 1);
        let header = with_caller["headers"]["authorization"].as_str().unwrap();
        assert!(header.starts_with("Bearer ey"));

        let mut anonymous = json!({"requestContext": {}, "headers": {}});
        add_to_event(&mut anonymous, SECRET, 1);
        assert_eq!(anonymous["headers"], json!({}));

        let mut own = json!({"requestContext": {"authorizer": claims},
                             "headers": {"Authorization": "Bearer forged"}});
        add_to_event(&mut own, SECRET, 1);
        assert_eq!(own["headers"], json!({"Authorization": "Bearer forged"}));
    }
}
