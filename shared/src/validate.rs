//! Field rules shared by the endpoints. Each failure names the field.

use crate::error::ApiError;

/// A BCP 47-style language tag as Cello's `language` takes it: `en`, `de`, `pt-BR`.
pub fn language(field: &'static str, value: &str) -> Result<String, ApiError> {
    let mut parts = value.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if value.len() <= 35 && primary_ok && rest_ok {
        Ok(value.to_owned())
    } else {
        Err(ApiError::bad_request(
            "invalid_language",
            format!("{field} must be a language tag such as \"en\" or \"pt-BR\""),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        for ok in ["en", "de", "pt-BR", "zh-Hant-TW", "gsw"] {
            assert_eq!(language("language", ok).unwrap(), ok);
        }
        for bad in [
            "",
            "e",
            "english",
            "en_US",
            "en-",
            "<b>",
            "en-US-toolongsubtag",
            "ç",
        ] {
            let err = language("language", bad).unwrap_err();
            assert_eq!(err.code, "invalid_language", "{bad}");
            assert!(err.message.contains("language"));
        }
    }
}
