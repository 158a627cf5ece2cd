//! Finds the fixtures: `events/<function>/<case>.json` (API Gateway HTTP API v2 events) and
//! `events/stripe/<case>.json` (raw Stripe bodies for `stripe-webhook`), each with its
//! `<case>.expect.json`.

use std::io;
use std::path::{Path, PathBuf};

/// The folder of raw Stripe bodies, and the function they are delivered to.
pub const STRIPE_DIR: &str = "stripe";
pub const STRIPE_FUNCTION: &str = "stripe-webhook";
/// Folders of DynamoDB stream batches (stream consumers have no URL): replayed by
/// `infra/local/replay_stream.py`, not here.
pub const STREAM_DIRS: [&str; 1] = ["cello-events"];
const EXPECT_SUFFIX: &str = ".expect.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An API Gateway HTTP API (payload 2.0) event.
    ApiEvent,
    /// A Stripe event body, signed at replay time.
    StripeBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    /// The function (the `cargo lambda watch` URL segment) that receives it.
    pub function: String,
    /// `<folder>/<case>`, the name printed in reports.
    pub name: String,
    pub kind: Kind,
    pub path: PathBuf,
    /// `None` when the `.expect.json` beside it is missing: a failure, never a silent skip.
    pub expect: Option<PathBuf>,
}

/// Every fixture under `events_dir`, sorted by folder then case (the replay order), and every
/// `.expect.json` without a fixture (a misnamed file would otherwise never be checked).
pub fn discover(events_dir: &Path) -> io::Result<(Vec<Fixture>, Vec<PathBuf>)> {
    let mut fixtures = Vec::new();
    let mut orphans = Vec::new();
    for dir in sorted_entries(events_dir)? {
        if !dir.is_dir() {
            continue;
        }
        let folder = file_name(&dir);
        if STREAM_DIRS.contains(&folder.as_str()) {
            continue;
        }
        let (function, kind) = if folder == STRIPE_DIR {
            (STRIPE_FUNCTION.to_owned(), Kind::StripeBody)
        } else {
            (folder.clone(), Kind::ApiEvent)
        };
        for path in sorted_entries(&dir)? {
            let file = file_name(&path);
            if !path.is_file() || !file.ends_with(".json") {
                continue;
            }
            if let Some(case) = file.strip_suffix(EXPECT_SUFFIX) {
                if !dir.join(format!("{case}.json")).is_file() {
                    orphans.push(path);
                }
                continue;
            }
            let case = file.trim_end_matches(".json");
            let expect = dir.join(format!("{case}{EXPECT_SUFFIX}"));
            fixtures.push(Fixture {
                function: function.clone(),
                name: format!("{folder}/{case}"),
                kind,
                expect: expect.is_file().then_some(expect),
                path,
            });
        }
    }
    Ok((fixtures, orphans))
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_events_and_stripe_bodies_with_their_expectations_and_orphans() {
        let root = std::env::temp_dir().join(format!("replay-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (file, text) in [
            ("signup/b-new.json", "{}"),
            ("signup/b-new.expect.json", "{}"),
            ("signup/a-invalid.json", "{}"),
            ("stripe/invoice-paid.json", "{}"),
            ("stripe/invoice-paid.expect.json", "{}"),
            ("stripe/typo.expect.json", "{}"),
            ("cello-events/batch.json", "{}"),
            ("README.md", "not a fixture"),
            ("signup/notes.txt", "not a fixture"),
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let (fixtures, orphans) = discover(&root).unwrap();
        let _ = std::fs::remove_dir_all(&root);

        let names: Vec<_> = fixtures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["signup/a-invalid", "signup/b-new", "stripe/invoice-paid"]
        );
        assert!(fixtures[0].expect.is_none(), "a-invalid has no expectation");
        assert_eq!(fixtures[1].function, "signup");
        assert_eq!(fixtures[1].kind, Kind::ApiEvent);
        assert_eq!(fixtures[2].function, STRIPE_FUNCTION);
        assert_eq!(fixtures[2].kind, Kind::StripeBody);
        assert!(fixtures[2].expect.is_some());
        assert_eq!(orphans.len(), 1);
        assert!(orphans[0].ends_with("stripe/typo.expect.json"));
    }
}
