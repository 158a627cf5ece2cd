//! The request fixtures in `events/` and their expectations (`*.expect.json`), checked the same
//! way in-process here as the replay checks them against the local stack.

/// The ten Stripe fixtures Cello's integration selects (`events/stripe/<name>.json`), in the
/// order a customer's life produces them.
pub const STRIPE_LIFECYCLE: [&str; 10] = [
    "customer-created",
    "customer-updated",
    "customer-subscription-created",
    "customer-subscription-updated",
    "charge-succeeded",
    "charge-updated",
    "invoice-paid",
    "charge-refunded",
    "customer-subscription-deleted",
    "customer-deleted",
];

/// Loads `events/<rel>` (an HTTP API v2 event) as the function would receive it, with
/// `{{run}}` replaced by `run`.
pub fn fixture_request(rel: &str, run: &str) -> lambda_http::Request {
    let path = format!("{}/../events/{rel}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text.replace("{{run}}", run))
        .unwrap_or_else(|e| panic!("{path} is not an HTTP API v2 event: {e}"))
}

/// Every `(case, expectation)` under `events/<dir>`, `{{run}}` replaced by `run`.
pub fn fixture_expectations(dir: &str, run: &str) -> Vec<(String, serde_json::Value)> {
    let path = format!("{}/../events/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut cases: Vec<_> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .filter_map(|entry| {
            let file = entry.ok()?.path();
            let case = file
                .file_name()?
                .to_str()?
                .strip_suffix(".expect.json")?
                .to_owned();
            let text = std::fs::read_to_string(&file).ok()?.replace("{{run}}", run);
            Some((
                case,
                serde_json::from_str(&text).expect("an expectation is JSON"),
            ))
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

/// Asserts an answer against an `.expect.json` (status, body pointers, present, absent), the
/// same rules the replay applies against the local stack. `adjust` may substitute an expected
/// value that differs in-process (a unit test's product id, say).
pub fn assert_expected(
    case: &str,
    expect: &serde_json::Value,
    status: u16,
    body: &serde_json::Value,
    adjust: impl Fn(&str, &serde_json::Value) -> serde_json::Value,
) {
    use serde_json::Value;
    assert_eq!(
        Some(status as u64),
        expect["status"].as_u64(),
        "{case}: {body}"
    );
    for (pointer, want) in expect["body"].as_object().into_iter().flatten() {
        let got = body.pointer(pointer).unwrap_or(&Value::Null);
        assert_eq!(got, &adjust(pointer, want), "{case} {pointer}");
    }
    for pointer in expect["present"].as_array().into_iter().flatten() {
        let pointer = pointer.as_str().unwrap_or_default();
        assert!(
            body.pointer(pointer).is_some_and(|v| !v.is_null()),
            "{case} {pointer}"
        );
    }
    for pointer in expect["absent"].as_array().into_iter().flatten() {
        let pointer = pointer.as_str().unwrap_or_default();
        assert!(body.pointer(pointer).is_none(), "{case} {pointer}");
    }
}
