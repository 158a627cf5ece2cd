//! A fixture's expected outcome (`<case>.expect.json`) and the check of a response against it.
//! Every difference is reported, not only the first, so one replay shows all that changed.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub status: u16,
    /// Exact values of response headers; names compared case-insensitively.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON Pointer → the exact value there.
    #[serde(default)]
    pub body: BTreeMap<String, Value>,
    /// JSON Pointers that must exist with a non-null value.
    #[serde(default)]
    pub present: Vec<String>,
    /// JSON Pointers that must not exist.
    #[serde(default)]
    pub absent: Vec<String>,
}

/// What came back, in a form both the HTTP replay and the Runtime API harness can give.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Outcome {
    /// The outcome in a function's API Gateway (payload 2.0) response document, as the
    /// function posts it to the Lambda Runtime API.
    pub fn from_api_response(document: &[u8]) -> Result<Self, String> {
        use base64::Engine;
        let v: Value = serde_json::from_slice(document)
            .map_err(|e| format!("the function's response is not JSON: {e}"))?;
        let status = v
            .get("statusCode")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .ok_or("the function's response has no statusCode")?;
        let headers = v
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .filter_map(|(n, v)| Some((n.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let text = v.get("body").and_then(Value::as_str).unwrap_or("");
        let body = if v.get("isBase64Encoded") == Some(&Value::Bool(true)) {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("the response body is not base64: {e}"))?
        } else {
            text.as_bytes().to_vec()
        };
        Ok(Self {
            status,
            headers,
            body,
        })
    }
}

impl Expectation {
    pub fn parse(text: &str) -> Result<Self, String> {
        let e: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        for pointer in e.body.keys().chain(&e.present).chain(&e.absent) {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(format!(
                    "{pointer:?} is not a JSON Pointer (starts with '/')"
                ));
            }
        }
        Ok(e)
    }

    /// The differences between the outcome and this expectation; empty when it matches.
    pub fn differences(&self, got: &Outcome) -> Vec<String> {
        let mut diffs = Vec::new();
        if got.status != self.status {
            diffs.push(format!("status: got {}, want {}", got.status, self.status));
        }
        for (name, want) in &self.headers {
            let values: Vec<&str> = got
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .collect();
            let value = values.join(", ");
            if values.is_empty() {
                diffs.push(format!("header {name}: missing, want {want:?}"));
            } else if value != *want {
                diffs.push(format!("header {name}: got {value:?}, want {want:?}"));
            }
        }
        if self.body.is_empty() && self.present.is_empty() && self.absent.is_empty() {
            return diffs;
        }
        let json: Value = match serde_json::from_slice(&got.body) {
            Ok(json) => json,
            Err(_) => {
                diffs.push(format!("body is not JSON: {}", snippet(&got.body)));
                return diffs;
            }
        };
        for (pointer, want) in &self.body {
            match json.pointer(pointer) {
                Some(value) if value == want => {}
                Some(value) => diffs.push(format!("{pointer}: got {value}, want {want}")),
                None => diffs.push(format!("{pointer}: missing, want {want}")),
            }
        }
        for pointer in &self.present {
            match json.pointer(pointer) {
                None => diffs.push(format!("{pointer}: missing, want present")),
                Some(Value::Null) => diffs.push(format!("{pointer}: null, want present")),
                Some(_) => {}
            }
        }
        for pointer in &self.absent {
            if let Some(value) = json.pointer(pointer) {
                diffs.push(format!("{pointer}: got {value}, want absent"));
            }
        }
        diffs
    }
}

/// The start of a body for a failure message.
pub fn snippet(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    if text.chars().count() <= MAX {
        text.into_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome(status: u16, body: Value) -> Outcome {
        Outcome {
            status,
            headers: vec![
                ("Retry-After".into(), "5".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: body.to_string().into_bytes(),
        }
    }

    fn expectation(v: Value) -> Expectation {
        Expectation::parse(&v.to_string()).unwrap()
    }

    #[test]
    fn a_matching_outcome_has_no_differences() {
        let e = expectation(json!({
            "status": 200, "headers": {"retry-after": "5"},
            "body": {"/productId": "p_local_dev", "/expiresAt": null, "/a/0": 1},
            "present": ["/token"], "absent": ["/error"]
        }));
        let got = outcome(
            200,
            json!({"productId": "p_local_dev", "expiresAt": null, "a": [1], "token": "x"}),
        );
        assert_eq!(e.differences(&got), Vec::<String>::new());
    }

    #[test]
    fn every_difference_is_reported() {
        let e = expectation(json!({
            "status": 201, "headers": {"retry-after": "9", "allow": "POST"},
            "body": {"/productId": "p_1", "/missing": 1},
            "present": ["/token", "/nothing"], "absent": ["/error"]
        }));
        let got = outcome(
            400,
            json!({"productId": "p_2", "token": null, "error": {"code": "x"}}),
        );
        let diffs = e.differences(&got);
        assert_eq!(
            diffs,
            [
                "status: got 400, want 201",
                "header allow: missing, want \"POST\"",
                "header retry-after: got \"5\", want \"9\"",
                "/missing: missing, want 1",
                "/productId: got \"p_2\", want \"p_1\"",
                "/token: null, want present",
                "/nothing: missing, want present",
                "/error: got {\"code\":\"x\"}, want absent",
            ]
        );
    }

    #[test]
    fn a_non_json_body_fails_body_checks_but_not_a_status_only_expectation() {
        let got = Outcome {
            status: 502,
            headers: vec![],
            body: b"<html>Bad Gateway</html>".to_vec(),
        };
        let status_only = expectation(json!({"status": 502}));
        assert!(status_only.differences(&got).is_empty());
        let with_body = expectation(json!({"status": 502, "absent": ["/error"]}));
        assert_eq!(
            with_body.differences(&got),
            ["body is not JSON: <html>Bad Gateway</html>"]
        );
    }

    #[test]
    fn reads_a_lambda_http_response_document() {
        let doc = json!({"statusCode": 401, "headers": {"content-type": "application/json"},
                         "multiValueHeaders": {}, "body": "{\"error\":{\"code\":\"unauthorized\"}}",
                         "isBase64Encoded": false, "cookies": []});
        let got = Outcome::from_api_response(doc.to_string().as_bytes()).unwrap();
        let e = expectation(
            json!({"status": 401, "headers": {"content-type": "application/json"},
                                   "body": {"/error/code": "unauthorized"}}),
        );
        assert!(e.differences(&got).is_empty());
        let b64 = json!({"statusCode": 200, "body": "e30=", "isBase64Encoded": true});
        assert_eq!(
            Outcome::from_api_response(b64.to_string().as_bytes())
                .unwrap()
                .body,
            b"{}"
        );
        assert!(Outcome::from_api_response(b"{}").is_err());
    }

    #[test]
    fn malformed_expectations_are_refused() {
        assert!(
            Expectation::parse(r#"{"headers": {}}"#).is_err(),
            "no status"
        );
        assert!(
            Expectation::parse(r#"{"status": 200, "bodi": {}}"#).is_err(),
            "typo"
        );
        assert!(Expectation::parse(r#"{"status": 200, "present": ["token"]}"#).is_err());
    }
}
