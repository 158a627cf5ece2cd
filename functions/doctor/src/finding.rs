//! A finding: what was checked, how it stands, and the fix when it is not OK. The severities
//! are those of Cello's event feed (OK / warning / error); an error makes the run exit non-zero.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub severity: Severity,
    /// Stable, for scripts: `no_ucc`, `user_id_mismatch`, `ucc_after_first_invoice`...
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Ok,
            code,
            message: message.into(),
            fix: None,
        }
    }
    pub fn warning(code: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            code,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
    pub fn error(code: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The worst severity among `findings` (OK when there are none).
pub fn worst<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Severity {
    findings
        .into_iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok)
}

// Unix seconds as RFC 3339 UTC (`2026-12-01T20:15:00Z`), one formatter for every function.
pub use shared::clock::rfc3339 as iso;

/// "3 min ago", "2 h ago", "5 d ago".
pub fn ago(now: i64, ts: i64) -> String {
    let d = (now - ts).max(0);
    match d {
        0..=59 => format!("{d} s ago"),
        60..=3_599 => format!("{} min ago", d / 60),
        3_600..=172_799 => format!("{} h ago", d / 3_600),
        _ => format!("{} d ago", d / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ages() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_764_620_100), "2025-12-01T20:15:00Z");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(ago(1_000, 990), "10 s ago");
        assert_eq!(ago(10_000, 10_000 - 7_200), "2 h ago");
    }

    #[test]
    fn the_worst_severity_wins() {
        let f = [
            Finding::ok("a", "fine"),
            Finding::warning("b", "hmm", "look"),
        ];
        assert_eq!(worst(&f), Severity::Warning);
        assert_eq!(worst(&[]), Severity::Ok);
    }
}
