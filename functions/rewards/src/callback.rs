//! Cello's credit-reward callback (`../shared/CELLO.md` §5): the Basic credentials check, and
//! the body read into a [`Reward`] or an ignored event type, every refusal naming its field.
//!
//! The body is read tolerantly where Cello may grow it (unknown fields are ignored, as the
//! Stripe webhook's reader does: a stricter reader would refuse Cello's next payload version
//! and send every callback to Cello's failure queue) and strictly where we use it: each field
//! we store is required, typed and checked.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use shared::credits::Reward;
use shared::field::FieldError;

/// The only event type that grants credits; every other is answered 200 and ignored.
pub const NEW_REWARD: &str = "new-reward";
pub const MAX_ID_CHARS: usize = 128;
/// A bound on one reward, far above any campaign's, so a typo can't mint a fortune.
pub const MAX_AMOUNT: u64 = 1_000_000_000;

/// True when `authorization` carries exactly the expected Basic credentials. Both parts are
/// compared in constant time over their SHA-256 digests (so neither the content nor the length
/// of the secret leaks through timing), and both are always compared.
pub fn basic_credentials_match(
    authorization: Option<&str>,
    username: &str,
    password: &str,
) -> bool {
    let Some((user, pass)) = authorization.and_then(decode_basic) else {
        return false;
    };
    let same = |a: &[u8], b: &[u8]| {
        verify_slices_are_equal(digest(&SHA256, a).as_ref(), digest(&SHA256, b).as_ref()).is_ok()
    };
    let user_ok = same(user.as_bytes(), username.as_bytes());
    let pass_ok = same(pass.as_bytes(), password.as_bytes());
    user_ok & pass_ok & !username.is_empty() & !password.is_empty()
}

/// `Basic base64(user:password)` → (user, password).
fn decode_basic(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(value.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// The envelope every callback has: its type decides whether the rest is read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub event_type: String,
}

/// A `new-reward` callback as Cello documents it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewRewardBody {
    /// Cello's payload version ("1.0.3"); read, not interpreted.
    #[serde(default)]
    pub version: Option<String>,
    /// RFC 3339 as Cello documents it, or Unix milliseconds (seen from Cello's side too):
    /// both are accepted and stored as RFC 3339.
    pub created_ts: CreatedTs,
    pub event_id: String,
    pub data: RewardData,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum CreatedTs {
    Text(String),
    UnixMillis(u64),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RewardData {
    pub reward_id: String,
    pub product_user_id: String,
    pub reward_type: String,
    pub reward: RewardAmount,
}

#[derive(Debug, Deserialize)]
pub struct RewardAmount {
    pub amount: u64,
}

/// The rules of the fields a reward stores.
pub fn validate(body: NewRewardBody) -> Result<Reward, FieldError> {
    let event_id = identifier("eventId", body.event_id, true)?;
    let reward_id = identifier("data.rewardId", body.data.reward_id, false)?;
    let product_user_id = identifier("data.productUserId", body.data.product_user_id, false)?;
    if body.data.reward_type != "credits" {
        return Err(FieldError::new(
            "data.rewardType",
            "invalid_reward_type",
            "data.rewardType must be \"credits\"",
        ));
    }
    let amount = body.data.reward.amount;
    if amount == 0 || amount > MAX_AMOUNT {
        return Err(FieldError::new(
            "data.reward.amount",
            "invalid_amount",
            format!("data.reward.amount must be a whole number from 1 to {MAX_AMOUNT}"),
        ));
    }
    let created_ts = match body.created_ts {
        CreatedTs::Text(ts) if is_rfc3339(&ts) => Some(ts),
        CreatedTs::UnixMillis(ms) if (MIN_MILLIS..=MAX_MILLIS).contains(&ms) => {
            Some(rfc3339_from_millis(ms))
        }
        _ => None,
    }
    .ok_or_else(|| {
        FieldError::new(
            "createdTs",
            "invalid_timestamp",
            "createdTs must be an RFC 3339 timestamp such as 2024-07-20T12:34:56.789Z \
             (or Unix milliseconds)",
        )
    })?;
    if let Some(v) = &body.version
        && (v.len() > 32 || v.chars().any(char::is_control))
    {
        return Err(FieldError::new(
            "version",
            "invalid_version",
            "version must be a short version string such as 1.0.3",
        ));
    }
    Ok(Reward {
        event_id,
        reward_id,
        product_user_id,
        amount: amount as i64,
        created_ts,
    })
}

/// An id we key items by: 1 to 128 characters, no control characters or whitespace; an eventId
/// (a key part) is also limited to `[A-Za-z0-9_.:-]`. productUserId follows the identity's
/// rule for `sub` (it is the same value).
fn identifier(field: &'static str, value: String, strict: bool) -> Result<String, FieldError> {
    let ok_char = |c: char| {
        if strict {
            c.is_ascii_alphanumeric() || "_.:-".contains(c)
        } else {
            !c.is_control() && !c.is_whitespace()
        }
    };
    let n = value.chars().count();
    if (1..=MAX_ID_CHARS).contains(&n) && value.chars().all(ok_char) {
        Ok(value)
    } else {
        let what = if strict {
            "letters, digits, '_', '.', ':' or '-'"
        } else {
            "characters other than spaces and control characters"
        };
        Err(FieldError::new(
            field,
            "invalid_identifier",
            format!("{field} must be 1 to {MAX_ID_CHARS} {what}"),
        ))
    }
}

/// 2015-01-01 and 2100-01-01 in Unix milliseconds: the plausible range of a reward's time.
const MIN_MILLIS: u64 = 1_420_070_400_000;
const MAX_MILLIS: u64 = 4_102_444_800_000;

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_from_millis(ms: u64) -> String {
    shared::clock::rfc3339_millis(ms as i64)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with plausible ranges.
pub fn is_rfc3339(ts: &str) -> bool {
    let b = ts.as_bytes();
    if b.len() < 20 || b.len() > 40 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let num = |r: std::ops::Range<usize>| -> u32 {
        std::str::from_utf8(&b[r])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(99)
    };
    if !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10))
        || !(b[10] == b'T' || b[10] == b't')
        || !(digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19))
    {
        return false;
    }
    let (month, day, hour, min, sec) =
        (num(5..7), num(8..10), num(11..13), num(14..16), num(17..19));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return false;
    }
    let mut rest = &ts[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let len = frac.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 9 {
            return false;
        }
        rest = &frac[len..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
    }

    #[test]
    fn only_the_exact_credentials_pass() {
        assert!(basic_credentials_match(
            Some(&basic("cello", "pw")),
            "cello",
            "pw"
        ));
        assert!(basic_credentials_match(
            Some(&basic("cello", "pw:with:colons")),
            "cello",
            "pw:with:colons"
        ));
        for header in [
            None,
            Some(basic("cello", "wrong")),
            Some(basic("other", "pw")),
            Some(basic("cello", "pw ")),
            Some(basic("cello", "p")),
            Some("Bearer abc".to_owned()),
            Some("Basic not-base64!".to_owned()),
            Some(format!("Basic {}", STANDARD.encode("no-colon"))),
            Some(String::new()),
        ] {
            assert!(
                !basic_credentials_match(header.as_deref(), "cello", "pw"),
                "{header:?}"
            );
        }
        // Empty configured credentials never match, not even an empty header pair.
        assert!(!basic_credentials_match(Some(&basic("", "")), "", ""));
        assert!(basic_credentials_match(
            Some(&format!("basic {}", STANDARD.encode("u:p"))),
            "u",
            "p"
        ));
    }

    #[test]
    fn timestamps() {
        for ok in [
            "2024-07-20T12:34:56.789Z",
            "2024-07-20T12:34:56Z",
            "2024-07-20T12:34:56+02:00",
            "2024-07-20T12:34:56.123456789-05:30",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2024-07-20",
            "2024-07-20 12:34:56Z",
            "2024-13-20T12:34:56Z",
            "2024-07-20T25:34:56Z",
            "2024-07-20T12:34:56",
            "2024-07-20T12:34:56.Z",
            "2024-07-20T12:34:56Z<script>",
            "yesterday",
            "",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn unix_milliseconds_become_rfc3339() {
        assert_eq!(
            rfc3339_from_millis(1_721_478_896_789),
            "2024-07-20T12:34:56.789Z"
        );
        assert_eq!(
            rfc3339_from_millis(1_420_070_400_000),
            "2015-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_from_millis(1_709_164_800_000),
            "2024-02-29T00:00:00.000Z"
        );
        let mut v = valid();
        v["createdTs"] = 1_721_478_896_789u64.into();
        assert_eq!(
            validate(body(v)).unwrap().created_ts,
            "2024-07-20T12:34:56.789Z"
        );
        let mut v = valid();
        v["createdTs"] = 5.into();
        assert_eq!(validate(body(v)).unwrap_err().field, "createdTs");
    }

    fn body(v: serde_json::Value) -> NewRewardBody {
        serde_json::from_value(v).unwrap()
    }

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "version": "1.0.3", "eventType": "new-reward",
            "createdTs": "2024-07-20T12:34:56.789Z", "eventId": "evt_1Rl4G0KEzvleW5flVs9sMRrs",
            "data": {"rewardId": "rwd_7f3ac1e0", "productUserId": "user-1",
                     "rewardType": "credits", "reward": {"amount": 500}}
        })
    }

    #[test]
    fn a_documented_reward_is_read() {
        let reward = validate(body(valid())).unwrap();
        assert_eq!(
            reward,
            Reward {
                event_id: "evt_1Rl4G0KEzvleW5flVs9sMRrs".into(),
                reward_id: "rwd_7f3ac1e0".into(),
                product_user_id: "user-1".into(),
                amount: 500,
                created_ts: "2024-07-20T12:34:56.789Z".into(),
            }
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(&str, serde_json::Value, &str); 7] = [
            ("/eventId", "evt 1".into(), "eventId"),
            ("/eventId", "".into(), "eventId"),
            (
                "/data/productUserId",
                "a\u{0}b".into(),
                "data.productUserId",
            ),
            ("/data/rewardId", "x".repeat(129).into(), "data.rewardId"),
            ("/data/rewardType", "cash".into(), "data.rewardType"),
            ("/data/reward/amount", 0.into(), "data.reward.amount"),
            ("/createdTs", "soon".into(), "createdTs"),
        ];
        for (pointer, value, field) in cases {
            let mut v = valid();
            *v.pointer_mut(pointer).unwrap() = value;
            let err = validate(body(v)).unwrap_err();
            assert_eq!(err.field, field, "{pointer}");
            assert!(err.message.contains(field), "{}", err.message);
        }
        let mut v = valid();
        v["data"]["reward"]["amount"] = (MAX_AMOUNT + 1).into();
        assert_eq!(validate(body(v)).unwrap_err().field, "data.reward.amount");
    }
}
