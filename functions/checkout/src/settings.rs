//! This function's own settings, read once at init. Everything a Checkout Session is made of
//! that the caller must not choose (prices, return URLs, coupons) is configuration.

use crate::discount::{CouponRule, DiscountPolicy, Fallback};
use shared::ConfigError;
use shared::config::{Settings, is_loopback_url};

#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutSettings {
    /// `CHECKOUT_PRICES`: the Stripe price ids a caller may subscribe to.
    pub prices: Vec<String>,
    /// `CHECKOUT_SUCCESS_URL`, `CHECKOUT_CANCEL_URL`: where Stripe's page returns the person.
    pub success_url: String,
    pub cancel_url: String,
    /// `CHECKOUT_SESSION_MINUTES`: the session's lifetime (Stripe: 30 min to 24 h).
    pub session_seconds: i64,
    /// `CHECKOUT_ALLOW_PROMOTION_CODES=true`: people without the new-user discount may type a
    /// promotion code on Stripe's page. Never sent together with `discounts`.
    pub allow_promotion_codes: bool,
    /// The coupons for Cello's rewards and what happens when Cello can't be asked.
    pub policy: DiscountPolicy,
    /// How long a request holds the claim on creating a user's session for a price.
    pub claim_lease_seconds: i64,
    /// The local Stripe stand-in's URL; unset in AWS.
    pub stripe_api_base: Option<String>,
}

pub const DEFAULT_SESSION_MINUTES: i64 = 60;
pub const DEFAULT_CLAIM_LEASE_SECONDS: i64 = 30;

impl CheckoutSettings {
    pub fn from_settings<F: Fn(&str) -> Option<String>>(
        s: &Settings<F>,
    ) -> Result<Self, ConfigError> {
        let prices = s.list("CHECKOUT_PRICES");
        if prices.is_empty() {
            return Err(ConfigError::new(
                "CHECKOUT_PRICES",
                "is required (the comma-separated Stripe price ids a caller may subscribe to)",
            ));
        }
        if let Some(bad) = prices.iter().find(|p| !is_stripe_id(p)) {
            return Err(ConfigError::new(
                "CHECKOUT_PRICES",
                format!("is invalid: {bad:?} is not a Stripe price id"),
            ));
        }
        let success_url = return_url(
            "CHECKOUT_SUCCESS_URL",
            s.required(
                "CHECKOUT_SUCCESS_URL",
                "where Stripe's page sends the person who paid",
            )?,
        )?;
        let cancel_url = return_url(
            "CHECKOUT_CANCEL_URL",
            s.required(
                "CHECKOUT_CANCEL_URL",
                "where Stripe's page sends the person who cancels",
            )?,
        )?;
        let session_seconds = s
            .parsed("CHECKOUT_SESSION_MINUTES", |raw| {
                raw.parse::<i64>()
                    .ok()
                    .filter(|m| (31..=1440).contains(m))
                    .ok_or_else(|| {
                        "expected 31 to 1440 minutes (Stripe: 30 min to 24 h)".to_owned()
                    })
            })?
            .unwrap_or(DEFAULT_SESSION_MINUTES)
            * 60;
        let allow_promotion_codes = s
            .parsed("CHECKOUT_ALLOW_PROMOTION_CODES", bool_value)?
            .unwrap_or(false);
        let coupons = s
            .parsed("CHECKOUT_COUPONS", parse_coupons)?
            .ok_or_else(|| {
                ConfigError::new(
                    "CHECKOUT_COUPONS",
                    "is required (reward → Stripe coupon, e.g. 50%x3=cello-new-user-50-3m: the \
                     first is the discount when Cello's API does not pick one)",
                )
            })?;
        let fallback = s
            .parsed("CHECKOUT_CELLO_FALLBACK", |raw| match raw {
                "grant" => Ok(Fallback::Grant),
                "deny" => Ok(Fallback::Deny),
                _ => Err("expected grant or deny".to_owned()),
            })?
            .unwrap_or(Fallback::Grant);
        let claim_lease_seconds = match s.seconds("CHECKOUT_CLAIM_LEASE_SECONDS")? {
            None => DEFAULT_CLAIM_LEASE_SECONDS,
            Some(d) if (10..=300).contains(&d.as_secs()) => d.as_secs() as i64,
            Some(_) => {
                return Err(ConfigError::new(
                    "CHECKOUT_CLAIM_LEASE_SECONDS",
                    "must be between 10 and 300 seconds",
                ));
            }
        };
        // Redirecting Stripe calls elsewhere would hand the secret key to that host.
        let stripe_api_base = s.loopback_url("STRIPE_API_BASE")?;
        Ok(Self {
            prices,
            success_url,
            cancel_url,
            session_seconds,
            allow_promotion_codes,
            policy: DiscountPolicy { coupons, fallback },
            claim_lease_seconds,
            stripe_api_base,
        })
    }

    pub fn allows_price(&self, price_id: &str) -> bool {
        self.prices.iter().any(|p| p == price_id)
    }
}

fn bool_value(raw: &str) -> Result<bool, String> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// Stripe ids and coupon ids: letters, digits, `_` and `-`, at most 255.
fn is_stripe_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 255
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An https URL (or http on loopback, for local runs). Stripe replaces `{CHECKOUT_SESSION_ID}`.
fn return_url(name: &str, url: String) -> Result<String, ConfigError> {
    let ok = (url.starts_with("https://") || (url.starts_with("http://") && is_loopback_url(&url)))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(url)
    } else {
        Err(ConfigError::new(
            name,
            "must be an https URL (http only on loopback, for local runs)",
        ))
    }
}

/// `50%x3=coupon_a,25%x1=coupon_b`: percent off for so many months → the Stripe coupon that
/// gives it. Order matters: the first is the default discount.
pub fn parse_coupons(raw: &str) -> Result<Vec<CouponRule>, String> {
    let mut rules = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = (|| {
            let (reward, coupon) = entry.split_once('=')?;
            let (percent, months) = reward.trim().split_once("%x")?;
            let percent_off: u32 = percent
                .trim()
                .parse()
                .ok()
                .filter(|p| (1..=100).contains(p))?;
            let months: u32 = months
                .trim()
                .parse()
                .ok()
                .filter(|m| (1..=36).contains(m))?;
            let coupon = coupon.trim();
            is_stripe_id(coupon).then(|| CouponRule {
                percent_off,
                months,
                coupon: coupon.to_owned(),
            })
        })();
        match parsed {
            Some(rule) => rules.push(rule),
            None => {
                return Err(format!(
                    "{entry:?} is not <percent>%x<months>=<coupon id> (e.g. 50%x3=cello-50-3m)"
                ));
            }
        }
    }
    if rules.is_empty() {
        return Err("no coupon given".into());
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &[(&str, &str)] = &[
        ("CHECKOUT_PRICES", "price_a, price_b"),
        (
            "CHECKOUT_SUCCESS_URL",
            "https://app.example.com/ok?s={CHECKOUT_SESSION_ID}",
        ),
        ("CHECKOUT_CANCEL_URL", "https://app.example.com/pricing"),
        ("CHECKOUT_COUPONS", "50%x3=cello-50-3m,25%x1=cello-25-1m"),
    ];

    fn settings(extra: &[(&'static str, &'static str)]) -> Result<CheckoutSettings, ConfigError> {
        let mut all = BASE.to_vec();
        all.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        all.extend_from_slice(extra);
        CheckoutSettings::from_settings(&testkit::settings(&all))
    }

    #[test]
    fn a_complete_configuration_with_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.prices, vec!["price_a", "price_b"]);
        assert!(s.allows_price("price_b") && !s.allows_price("price_c"));
        assert_eq!(s.session_seconds, 3600);
        assert_eq!(s.policy.fallback, Fallback::Grant);
        assert_eq!(s.policy.coupons[0].coupon, "cello-50-3m");
        assert_eq!(s.policy.coupons[1].percent_off, 25);
        assert!(!s.allow_promotion_codes);
    }

    #[test]
    fn each_bad_setting_is_named() {
        for (name, value) in [
            ("CHECKOUT_PRICES", ""),
            ("CHECKOUT_PRICES", "price a"),
            ("CHECKOUT_SUCCESS_URL", "http://app.example.com/ok"),
            ("CHECKOUT_CANCEL_URL", "javascript:alert(1)"),
            ("CHECKOUT_COUPONS", "50=coupon"),
            ("CHECKOUT_COUPONS", "0%x3=coupon"),
            ("CHECKOUT_COUPONS", ""),
            ("CHECKOUT_CELLO_FALLBACK", "maybe"),
            ("CHECKOUT_SESSION_MINUTES", "10"),
            ("CHECKOUT_ALLOW_PROMOTION_CODES", "yes"),
            ("STRIPE_API_BASE", "https://evil.example.com"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}: {err}");
        }
        let local = settings(&[("CHECKOUT_SUCCESS_URL", "http://127.0.0.1:4514/?ok")]).unwrap();
        assert_eq!(local.success_url, "http://127.0.0.1:4514/?ok");
        let s = settings(&[("CHECKOUT_CELLO_FALLBACK", "deny")]).unwrap();
        assert_eq!(s.policy.fallback, Fallback::Deny);
    }
}
