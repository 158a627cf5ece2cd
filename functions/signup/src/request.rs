//! The signup body and its rules. Every refusal is a 400 naming the field; nothing is stored
//! until the whole request is valid.

use icu_properties::props::{
    BinaryProperty, DefaultIgnorableCodePoint, EnumeratedProperty, GeneralCategory, JoinControl,
    VariationSelector,
};
use serde::Deserialize;
use shared::Identity;
use shared::field::{FieldError, Language};
use shared::user::UccSource;

/// The body as sent. The caller's id, and its email when the identity has one, come from the
/// verified identity, never from here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignupBody {
    pub email: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub organization_id: Option<String>,
    pub ucc: Option<String>,
    pub language: Option<String>,
}

/// A referral code as it will be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ucc {
    pub code: String,
    pub source: UccSource,
    /// Cello's standard form: 11 alphanumerics. Others are kept but flagged.
    pub standard: bool,
}

/// An email address as the signup got it, and whether its owner proved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub address: String,
    /// The identity provider verified it (`email_verified`), or the environment trusts every
    /// email its provider issues.
    pub proven: bool,
}

/// A signup that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSignup {
    /// `None` when neither the identity nor the body carries one.
    pub email: Option<Email>,
    pub first_name: String,
    pub last_name: String,
    pub organization_id: Option<String>,
    pub language: Option<String>,
    pub ucc: Option<Ucc>,
}

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_ORGANIZATION_ID_CHARS: usize = 100;
/// Longer than any code Cello issues; a Stripe metadata value may hold 500.
pub const MAX_UCC_CHARS: usize = 64;

/// The cookie Cello's attribution script leaves on the landing page's site.
pub const UCC_COOKIE: &str = "cello-referral";

/// Checks every field. `trust_identity_emails`: the environment's identity provider only
/// issues proven addresses, so an identity's email counts as proven without `email_verified`.
pub fn validate(
    body: SignupBody,
    identity: &Identity,
    cookie_ucc: Option<&str>,
    trust_identity_emails: bool,
) -> Result<ValidSignup, FieldError> {
    let from_identity = identity.email_verified || trust_identity_emails;
    let email = match (&identity.email, body.email) {
        (Some(own), None) => Some((email("email", own)?, from_identity)),
        (Some(own), Some(sent)) if sent.trim().eq_ignore_ascii_case(own) => {
            Some((email("email", own)?, from_identity))
        }
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                "email",
                "email_mismatch",
                "email comes from your sign-in; leave it out or send the same address",
            ));
        }
        // An address in the body proves nothing about who owns it.
        (None, Some(sent)) => Some((email("email", &sent)?, false)),
        (None, None) => None,
    }
    .map(|(address, proven)| Email { address, proven });
    let ucc = match body.ucc.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => Some(ucc(code, UccSource::Body).ok_or_else(|| {
            FieldError::new(
                "ucc",
                "invalid_ucc",
                format!(
                    "ucc must be a referral code: up to {MAX_UCC_CHARS} letters, digits, '-' or '_'"
                ),
            )
        })?),
        // A junk cookie is not the person's fault: ignore it rather than refuse the signup.
        None => cookie_ucc
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .and_then(|code| {
                let parsed = ucc(code, UccSource::Cookie);
                if parsed.is_none() {
                    tracing::warn!(
                        "ignoring a cello-referral cookie that cannot be a referral code"
                    );
                }
                parsed
            }),
    };
    Ok(ValidSignup {
        email,
        first_name: name("firstName", &body.first_name)?,
        last_name: name("lastName", &body.last_name)?,
        organization_id: body
            .organization_id
            .map(|o| organization_id(&o))
            .transpose()?,
        language: body
            .language
            .map(|l| Language::parse("language", &l).map(Language::into_string))
            .transpose()?,
        ucc,
    })
}

/// A character that displays as nothing, or changes how the text around it displays: Unicode's
/// default-ignorable code points and format (Cf) characters, found by their properties rather
/// than from a list, and controls. Joiners (ZWJ, ZWNJ) and variation selectors stay: scripts and
/// emoji need them.
fn is_deceptive(c: char) -> bool {
    if JoinControl::for_char(c) || VariationSelector::for_char(c) {
        return false;
    }
    c.is_control()
        || DefaultIgnorableCodePoint::for_char(c)
        || GeneralCategory::for_char(c) == GeneralCategory::Format
        || matches!(c, '\u{2028}' | '\u{2029}')
}

fn name(field: &'static str, value: &str) -> Result<String, FieldError> {
    let code = if field == "firstName" {
        "invalid_first_name"
    } else {
        "invalid_last_name"
    };
    let value = value.trim();
    let refuse = |why: &str| Err(FieldError::new(field, code, format!("{field} {why}")));
    if value.is_empty() {
        return refuse("must not be empty");
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return refuse(&format!("must be at most {MAX_NAME_CHARS} characters"));
    }
    if value.chars().any(is_deceptive) {
        return refuse("must not contain control or invisible formatting characters");
    }
    if value
        .chars()
        .any(|c| matches!(c, '<' | '>' | '{' | '}' | '\\'))
    {
        return refuse("must not contain markup characters");
    }
    Ok(value.to_owned())
}

fn email(field: &'static str, value: &str) -> Result<String, FieldError> {
    let value = value.trim();
    let valid = value.len() <= 254
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && !local.starts_with('.')
                && !local.ends_with('.')
                && local
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`|~.".contains(c))
                && domain.contains('.')
                && domain.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        });
    if valid {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new(
            field,
            "invalid_email",
            format!("{field} must be an email address such as ada@example.com"),
        ))
    }
}

fn organization_id(value: &str) -> Result<String, FieldError> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value.chars().count() <= MAX_ORGANIZATION_ID_CHARS
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new(
            "organizationId",
            "invalid_organization_id",
            format!(
                "organizationId must be 1 to {MAX_ORGANIZATION_ID_CHARS} letters, digits or -_.:@"
            ),
        ))
    }
}

/// A code Cello could have issued, flagged when not its standard form; `None` when it cannot
/// be a code at all.
fn ucc(code: &str, source: UccSource) -> Option<Ucc> {
    let plausible = code.len() <= MAX_UCC_CHARS
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plausible.then(|| Ucc {
        code: code.to_owned(),
        source,
        standard: code.len() == 11 && code.chars().all(|c| c.is_ascii_alphanumeric()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(email: Option<&str>) -> Identity {
        Identity {
            user_id: "u1".into(),
            email: email.map(str::to_owned),
            email_verified: email.is_some(),
            given_name: None,
            family_name: None,
        }
    }

    fn body(json: serde_json::Value) -> SignupBody {
        serde_json::from_value(json).unwrap()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({"firstName": "Ada", "lastName": "Lovelace"})
    }

    fn proven(address: &str, proven: bool) -> Option<Email> {
        Some(Email {
            address: address.into(),
            proven,
        })
    }

    #[test]
    fn email_comes_from_the_identity_and_is_proven_only_by_it() {
        let v = validate(
            body(base()),
            &identity(Some("ada@example.com")),
            None,
            false,
        )
        .unwrap();
        assert_eq!(v.email, proven("ada@example.com", true));
        let mut b = base();
        b["email"] = "other@example.com".into();
        let err = validate(
            body(b.clone()),
            &identity(Some("ada@example.com")),
            None,
            false,
        )
        .unwrap_err();
        assert_eq!(err.code, "email_mismatch");
        // A body address is never proven, even when the environment trusts its provider.
        for trust in [false, true] {
            let v = validate(body(b.clone()), &identity(None), None, trust).unwrap();
            assert_eq!(v.email, proven("other@example.com", false));
        }
        assert_eq!(
            validate(body(base()), &identity(None), None, false)
                .unwrap()
                .email,
            None
        );
        // The identity's email without email_verified: unproven, unless the provider is trusted.
        let mut unverified = identity(Some("ada@example.com"));
        unverified.email_verified = false;
        let v = validate(body(base()), &unverified, None, false).unwrap();
        assert_eq!(v.email, proven("ada@example.com", false));
        let v = validate(body(base()), &unverified, None, true).unwrap();
        assert_eq!(v.email, proven("ada@example.com", true));
    }

    #[test]
    fn ucc_from_body_then_cookie_and_flagged_when_non_standard() {
        let id = identity(Some("a@b.co"));
        let mut b = base();
        b["ucc"] = "pNRB1aYqArN".into();
        let v = validate(body(b), &id, Some("cookieCode1"), false).unwrap();
        assert_eq!(
            v.ucc,
            Some(Ucc {
                code: "pNRB1aYqArN".into(),
                source: UccSource::Body,
                standard: true
            })
        );
        let v = validate(body(base()), &id, Some("test"), false).unwrap();
        assert_eq!(
            v.ucc,
            Some(Ucc {
                code: "test".into(),
                source: UccSource::Cookie,
                standard: false
            })
        );
        // A hostile cookie is ignored; the same value in the body is refused.
        assert_eq!(
            validate(body(base()), &id, Some("<script>"), false)
                .unwrap()
                .ucc,
            None
        );
        let mut b = base();
        b["ucc"] = "<script>".into();
        assert_eq!(
            validate(body(b), &id, None, false).unwrap_err().code,
            "invalid_ucc"
        );
        let mut b = base();
        b["ucc"] = "a".repeat(65).into();
        assert_eq!(
            validate(body(b), &id, None, false).unwrap_err().code,
            "invalid_ucc"
        );
        // Empty means absent: never an empty cello_ucc.
        let mut b = base();
        b["ucc"] = "  ".into();
        assert_eq!(validate(body(b), &id, None, false).unwrap().ucc, None);
    }

    #[test]
    fn names_refuse_what_would_display_as_something_else() {
        let id = identity(Some("a@b.co"));
        for (bad, why) in [
            ("", "empty"),
            ("A\u{0000}da", "NUL"),
            ("Ada\nLovelace", "newline"),
            ("\u{202E}ecalevoL", "RTL override"),
            ("A\u{200B}da", "zero width"),
            ("\u{3164}", "only a Hangul filler"),
            ("\u{3164}\u{3164}", "only Hangul fillers"),
            ("\u{115F}", "a Hangul choseong filler"),
            ("Ada\u{061C}", "Arabic letter mark"),
            ("Ada\u{180E}", "Mongolian vowel separator"),
            ("Ada\u{034F}", "combining grapheme joiner"),
            ("Ada\u{00AD}", "soft hyphen"),
            ("Ada\u{E0041}", "tag character"),
            ("Ada\u{1D173}", "musical symbol format"),
            ("<b>Ada</b>", "markup"),
        ] {
            let mut b = base();
            b["firstName"] = bad.into();
            let err = validate(body(b), &id, None, false).unwrap_err();
            assert_eq!(err.code, "invalid_first_name", "{why}");
            assert_eq!(err.field, "firstName", "{why}");
            assert!(err.message.starts_with("firstName"), "{why}");
        }
        let mut b = base();
        b["lastName"] = "x".repeat(101).into();
        assert_eq!(
            validate(body(b), &id, None, false).unwrap_err().code,
            "invalid_last_name"
        );
        // Real names in any script are fine.
        for good in [
            "Zoë",
            "José-María",
            "O'Brien",
            "李",
            "Ærøskøbing",
            "Nguyễn",
            "👩‍💻",
            "❤️",
            "Δημήτρης",
            "Алёна",
            "محمد",
            "नमस्ते",
            "می\u{200C}خواهم",
            "ஸ்ரீ",
            "ქეთევან",
            "さくら",
            "김민준",
        ] {
            let mut b = base();
            b["firstName"] = good.into();
            assert_eq!(
                validate(body(b), &id, None, false).unwrap().first_name,
                good
            );
        }
    }

    #[test]
    fn emails_and_organizations() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.co",
            "ada@localhost",
            "a b@x.co",
            "ada@x..co",
            "<a>@x.co",
        ] {
            let mut b = base();
            b["email"] = bad.into();
            assert_eq!(
                validate(body(b), &identity(None), None, false)
                    .unwrap_err()
                    .code,
                "invalid_email",
                "{bad}"
            );
        }
        let mut b = base();
        b["organizationId"] = "org 1".into();
        assert_eq!(
            validate(body(b), &identity(Some("a@b.co")), None, false)
                .unwrap_err()
                .code,
            "invalid_organization_id"
        );
    }
}
