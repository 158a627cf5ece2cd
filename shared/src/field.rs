//! Field-level validation shared by the endpoints: the error a value type gives when it refuses
//! its input (naming the field), and the value types more than one function parses.

use std::fmt;

/// A value refused by its type. `code` is the stable error code the edge answers with;
/// `message` names the field and says what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// A BCP 47-style language tag as Cello's `language` takes it: `en`, `de`, `pt-BR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language(String);

impl Language {
    pub fn parse(field: &'static str, value: &str) -> Result<Self, FieldError> {
        let mut parts = value.split('-');
        let primary_ok = parts.next().is_some_and(|p| {
            (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic())
        });
        let rest_ok = parts
            .all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if value.len() <= 35 && primary_ok && rest_ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "invalid_language",
                format!("{field} must be a language tag such as \"en\" or \"pt-BR\""),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        for ok in ["en", "de", "pt-BR", "zh-Hant-TW", "gsw"] {
            assert_eq!(Language::parse("language", ok).unwrap().as_str(), ok);
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
            let err = Language::parse("language", bad).unwrap_err();
            assert_eq!(err.code, "invalid_language", "{bad}");
            assert_eq!(err.field, "language");
            assert!(err.message.contains("language"));
        }
    }
}
