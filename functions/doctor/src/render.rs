//! Output: readable tables for people, JSON (`--json`) for scripts.

use crate::events::EventsReport;
use crate::finding::{Finding, Severity, ago, iso};
use crate::status::{StatusReport, window_name};
use crate::user::UserReport;
use std::fmt::Write;

/// Left-aligned columns, two spaces apart; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let pad = width[i] - cell.chars().count();
                l.push_str(cell);
                l.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn findings_table(findings: &[Finding]) -> String {
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            vec![
                f.severity.as_str().to_owned(),
                f.code.to_owned(),
                f.message.clone(),
            ]
        })
        .collect();
    let t = table(&["RESULT", "CHECK", "FINDING"], &rows);
    let indent = t
        .lines()
        .next()
        .and_then(|h| h.find("FINDING"))
        .unwrap_or(0);
    let mut out = String::new();
    for (i, line) in t.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if let Some(f) = i.checked_sub(1).and_then(|i| findings.get(i))
            && f.severity != Severity::Ok
            && let Some(fix) = &f.fix
        {
            let _ = writeln!(out, "{}fix: {fix}", " ".repeat(indent));
        }
    }
    out
}

fn verdict(status: Severity) -> String {
    match status {
        Severity::Error => "result: broken (exit 1)\n".into(),
        Severity::Warning => "result: working, with warnings (exit 0)\n".into(),
        Severity::Ok => "result: all checks green (exit 0)\n".into(),
    }
}

pub fn status(r: &StatusReport, now: i64) -> String {
    let mut out = format!(
        "Cello integration status (window {}, at {})\n\n",
        window_name(r.window_seconds),
        iso(now)
    );
    let rows: Vec<Vec<String>> = r
        .components
        .iter()
        .map(|c| {
            vec![
                c.name.to_owned(),
                c.health.as_str().to_owned(),
                c.last_event_at
                    .map(|t| format!("{} ({})", iso(t), ago(now, t)))
                    .unwrap_or_else(|| "never".into()),
                c.in_window.map_or_else(|| "-".into(), |n| n.to_string()),
                c.total.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["COMPONENT", "STATUS", "LAST EVENT", "IN WINDOW", "TOTAL"],
        &rows,
    ));
    out.push('\n');
    for c in &r.components {
        let _ = writeln!(out, "{}: {}", c.name, c.evidence);
        if let Some(cause) = &c.likely_cause {
            let _ = writeln!(out, "  likely cause: {cause}");
        }
    }
    out.push_str("\nConfiguration\n");
    out.push_str(&findings_table(&r.configuration));
    out.push('\n');
    out.push_str(&verdict(r.status));
    out
}

pub fn user(r: &UserReport) -> String {
    let mut out = format!("Referral story of {}\n\n", r.user_id);
    let rows: Vec<Vec<String>> = r
        .story
        .iter()
        .map(|s| {
            vec![
                s.at.map(iso).unwrap_or_else(|| "-".into()),
                s.what.clone(),
                s.detail.clone(),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("(nothing recorded)\n");
    } else {
        out.push_str(&table(&["WHEN", "STEP", "DETAIL"], &rows));
    }
    out.push_str("\nFindings\n");
    out.push_str(&findings_table(&r.findings));
    out.push('\n');
    out.push_str(&verdict(r.status));
    out
}

pub fn events(r: &EventsReport) -> String {
    let mut out = format!("Verified Stripe events since {}\n\n", iso(r.since));
    if r.events.is_empty() {
        out.push_str("(none)\n");
    }
    let rows: Vec<Vec<String>> = r
        .events
        .iter()
        .map(|e| {
            // The fields that are not OK, else how many were checked (`--json` has them all).
            let problems: Vec<String> = e
                .fields
                .iter()
                .filter(|f| f.severity != Severity::Ok)
                .map(|f| format!("{} {}: {}", f.severity.as_str(), f.code, f.message))
                .collect();
            let fields = if problems.is_empty() {
                format!(
                    "{} OK ({})",
                    e.fields.len(),
                    e.fields
                        .iter()
                        .map(|f| f.code)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                problems.join("; ")
            };
            vec![
                e.at.map(iso).unwrap_or_else(|| "-".into()),
                e.kind.to_owned(),
                e.object_id.clone(),
                e.user_id.clone().unwrap_or_else(|| "-".into()),
                e.status.as_str().to_owned(),
                fields,
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(
            &["WHEN", "EVENT", "OBJECT", "USER", "RESULT", "FIELDS"],
            &rows,
        ));
    }
    out.push('\n');
    out.push_str(&verdict(r.status));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let t = table(
            &["A", "BB", "C"],
            &[
                vec!["xxx".into(), "y".into(), "z".into()],
                vec!["1".into(), "2".into(), "3".into()],
            ],
        );
        assert_eq!(t, "A    BB  C\nxxx  y   z\n1    2   3\n");
    }

    #[test]
    fn fixes_are_indented_under_their_finding() {
        let t = findings_table(&[Finding::error("no_ucc", "no code", "send it")]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[1], "error   no_ucc  no code");
        assert_eq!(lines[2], "                fix: send it");
    }
}
