//! Stripe's webhook signature: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, where each
//! `v1` is HMAC-SHA256(endpoint secret, "<t>.<raw body>"). Verified on the exact bytes received,
//! before anything reads the body.

use aws_lc_rs::{constant_time, hmac};
use shared::secrets::Secret;

/// Stripe's default tolerance, applied both ways (a clock ahead is as suspect as one behind).
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a delivery was refused. Logged; the caller only ever learns "invalid signature".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Stripe-Signature` header, or one that is not text.
    Missing,
    /// No timestamp, two timestamps, a timestamp that is not a number, or no usable `v1`.
    Malformed,
    /// The timestamp is more than the tolerance away from now.
    OutsideTolerance,
    /// Well-formed and fresh, but no `v1` matches any configured secret.
    NoMatch,
}

impl SignatureError {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::OutsideTolerance => "outside_tolerance",
            Self::NoMatch => "no_match",
        }
    }
}

/// The parts of a header that matter: the timestamp as sent (it is signed as text) and the
/// candidate `v1` signatures, decoded. Other schemes (`v0`, future ones) are ignored.
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureHeader<'h> {
    pub timestamp_text: &'h str,
    pub timestamp: i64,
    pub v1: Vec<[u8; 32]>,
}

pub fn parse_header(header: &str) -> Result<SignatureHeader<'_>, SignatureError> {
    let mut timestamp_text = None;
    let mut v1 = Vec::with_capacity(2);
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            // Two timestamps would let an attacker choose which one we read.
            "t" if timestamp_text.replace(value).is_some() => {
                return Err(SignatureError::Malformed);
            }
            "v1" => {
                let mut sig = [0u8; 32];
                if value.len() == 64 && hex_decode(value.as_bytes(), &mut sig) {
                    v1.push(sig);
                }
            }
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or(SignatureError::Malformed)?;
    let valid = !timestamp_text.is_empty()
        && timestamp_text.len() <= 12
        && timestamp_text.bytes().all(|b| b.is_ascii_digit());
    if !valid || v1.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let timestamp = timestamp_text
        .parse()
        .map_err(|_| SignatureError::Malformed)?;
    Ok(SignatureHeader {
        timestamp_text,
        timestamp,
        v1,
    })
}

/// Accepts when the timestamp is within the tolerance of `now` and any `v1` equals the MAC under
/// any of `secrets` (several during a rotation). One MAC per secret, each compared with every
/// candidate in constant time. Returns the index of the secret that matched.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[Secret],
    now: i64,
) -> Result<usize, SignatureError> {
    let header = parse_header(header.ok_or(SignatureError::Missing)?)?;
    if (now - header.timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::OutsideTolerance);
    }
    for (index, secret) in secrets.iter().enumerate() {
        if secret.expose().is_empty() {
            continue;
        }
        let expected = sign(secret.expose().as_bytes(), header.timestamp_text, body);
        let mut matched = false;
        for candidate in &header.v1 {
            // No early exit on the first match: the work done does not depend on which matched.
            matched |= constant_time::verify_slices_are_equal(expected.as_ref(), candidate).is_ok();
        }
        if matched {
            return Ok(index);
        }
    }
    Err(SignatureError::NoMatch)
}

fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

fn hex_decode(text: &[u8], out: &mut [u8; 32]) -> bool {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    for (i, pair) in text.chunks_exact(2).enumerate() {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(h), Some(l)) => out[i] = (h << 4) | l,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;

    fn secrets(values: &[&str]) -> Vec<Secret> {
        values.iter().map(|v| Secret::new(*v)).collect()
    }

    // Python's standard library, independently of this code:
    // hmac.new(b"whsec_local_dev_webhook_secret",
    //          b'1700000000.{"id":"evt_1","object":"event"}', hashlib.sha256).hexdigest()
    const KNOWN_V1: &str = "248128f92988c61850cd532d8d5b961aea7d264811ab39983d2bfb2b85e0753b";

    #[test]
    fn a_known_signature_verifies() {
        let header = format!("t=1700000000,v1={KNOWN_V1}");
        let s = secrets(&["whsec_local_dev_webhook_secret"]);
        assert_eq!(verify(Some(&header), BODY, &s, 1_700_000_100), Ok(0));
    }

    #[test]
    fn rotation_accepts_either_secret_and_any_v1() {
        let header = format!("t=1700000000,v1={},v1={KNOWN_V1},v0=abc", "0".repeat(64));
        let s = secrets(&["whsec_new", "whsec_local_dev_webhook_secret"]);
        assert_eq!(verify(Some(&header), BODY, &s, 1_700_000_000), Ok(1));
    }

    #[test]
    fn refusals_name_their_reason() {
        let s = secrets(&["whsec_local_dev_webhook_secret"]);
        let now = 1_700_000_000;
        let cases = [
            (None, SignatureError::Missing),
            (Some(String::new()), SignatureError::Malformed),
            (Some(format!("v1={KNOWN_V1}")), SignatureError::Malformed),
            (Some("t=1700000000".to_owned()), SignatureError::Malformed),
            (
                Some(format!("t=1700000000,t=1700000000,v1={KNOWN_V1}")),
                SignatureError::Malformed,
            ),
            (
                Some(format!("t=-1,v1={KNOWN_V1}")),
                SignatureError::Malformed,
            ),
            (
                Some(format!("t=1700000000,v1={}", &KNOWN_V1[..63])),
                SignatureError::Malformed,
            ),
            (
                Some(format!("t=1700000301,v1={KNOWN_V1}")),
                SignatureError::OutsideTolerance,
            ),
            (
                Some(format!("t=1699999699,v1={KNOWN_V1}")),
                SignatureError::OutsideTolerance,
            ),
            (
                Some(format!("t=1700000001,v1={KNOWN_V1}")),
                SignatureError::NoMatch,
            ),
        ];
        for (header, want) in cases {
            assert_eq!(
                verify(header.as_deref(), BODY, &s, now),
                Err(want),
                "{header:?}"
            );
        }
        let header = format!("t=1700000000,v1={KNOWN_V1}");
        assert_eq!(
            verify(Some(&header), BODY, &secrets(&["whsec_other"]), now),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), BODY, &secrets(&[""]), now),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn the_edges_of_the_tolerance_are_inside() {
        let header = format!("t=1700000000,v1={KNOWN_V1}");
        let s = secrets(&["whsec_local_dev_webhook_secret"]);
        assert!(verify(Some(&header), BODY, &s, 1_700_000_300).is_ok());
        assert!(verify(Some(&header), BODY, &s, 1_699_999_700).is_ok());
    }
}
