//! Stripe's webhook signature, made at replay time: `t=<unix time>,v1=<hex HMAC-SHA256 of
//! "<t>.<raw body>" keyed with the endpoint's signing secret>`. Made with RustCrypto's HMAC, so
//! every signed delivery in the tests comes from another implementation than the verifier's
//! (aws-lc-rs).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The `Stripe-Signature` header value for `body` sent at `timestamp`.
pub fn header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", v1(secret, timestamp, body))
}

/// The `v1` signature alone: hex(HMAC-SHA256(secret, "<t>.<body>")).
pub fn v1(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231_test_case_2() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn header_matches_an_independent_implementation() {
        // Python's standard library, independently of this code:
        // hmac.new(b"whsec_local_dev_webhook_secret",
        //          b'1700000000.{"id":"evt_1","object":"event"}', hashlib.sha256).hexdigest()
        assert_eq!(
            header(
                "whsec_local_dev_webhook_secret",
                1_700_000_000,
                br#"{"id":"evt_1","object":"event"}"#
            ),
            "t=1700000000,v1=248128f92988c61850cd532d8d5b961aea7d264811ab39983d2bfb2b85e0753b"
        );
    }

    #[test]
    fn any_change_of_secret_time_or_body_changes_the_signature() {
        let base = header("whsec_a", 1, b"{}");
        assert_ne!(base, header("whsec_b", 1, b"{}"));
        assert_ne!(base, header("whsec_a", 2, b"{}"));
        assert_ne!(base, header("whsec_a", 1, b"{ }"));
    }
}
