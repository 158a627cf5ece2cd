//! The command line and one run: arguments parsed, the readers built from the environment
//! (the operator's AWS credentials, or the local stack's `stack.sh env`), the question asked,
//! the answer rendered. Exit status: 0 when nothing is broken, 1 when something is, 2 when the
//! doctor itself could not run (usage, an unreadable table).

use crate::config::{self, ConfigFacts};
use crate::events;
use crate::finding::Severity;
use crate::model::{CustomerRecords, Row, UserRecords};
use crate::records::Records;
use crate::render;
use crate::status;
use crate::stripe::{AsyncStripeReader, StripeReader};
use crate::user::{self, CelloFacts, StripeFacts, UserFacts};
use shared::cello_api::{CelloApi, CelloApiError, CelloApiSettings};
use shared::config::StripeMode;
use shared::secrets::AppSecrets;

pub const USAGE: &str = "\
usage: doctor [--json] <command>

  status [--window 1h|24h] [--issuer URL]
      Cello's four components (healthy, stale, broken) with their evidence, and the
      configuration checks. The window defaults to 1h when STRIPE_MODE=live, 24h otherwise.
      --issuer (or JWT_ISSUER): the JWT issuer to check (the stack's JwtIssuerUrl output).
  user <productUserId>
      That user's referral story and every finding with its fix.
  events [--since 24h] [--limit 50]
      The latest verified Stripe events with per-field findings.

Environment: TABLE_NAME, SECRET_ID, STRIPE_MODE (as the stack's functions have them), AWS
credentials that may read the table and the secret (the template's DoctorReadOnlyPolicy).
Exit status: 0 nothing broken, 1 something broken, 2 the doctor could not run.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status {
        window: Option<i64>,
        issuer: Option<String>,
    },
    User {
        id: String,
    },
    Events {
        since: i64,
        limit: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub json: bool,
    pub command: Command,
}

/// `1h`, `24h`, `30m`, `7d`, `90s` or plain seconds.
pub fn duration(raw: &str) -> Result<i64, String> {
    let (num, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration (1h, 24h, 7d...)"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?} is not a duration (1h, 24h, 7d...)")),
    };
    if n <= 0 {
        return Err(format!("{raw:?} must be longer than zero"));
    }
    Ok(n * unit)
}

pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut json = false;
    let mut rest = Vec::new();
    for a in args {
        if a == "--json" {
            json = true;
        } else {
            rest.push(a.as_str());
        }
    }
    let value = |rest: &[&str], i: usize, flag: &str| -> Result<String, String> {
        rest.get(i + 1)
            .map(|v| v.to_string())
            .ok_or_else(|| format!("{flag} needs a value"))
    };
    let command = match rest.first().copied() {
        Some("status") => {
            let (mut window, mut issuer) = (None, None);
            let mut i = 1;
            while i < rest.len() {
                match rest[i] {
                    "--window" => window = Some(duration(&value(&rest, i, "--window")?)?),
                    "--issuer" => issuer = Some(value(&rest, i, "--issuer")?),
                    other => return Err(format!("status: unknown argument {other:?}")),
                }
                i += 2;
            }
            Command::Status { window, issuer }
        }
        Some("user") => match rest.get(1..) {
            Some([id]) if !id.starts_with('-') && !id.is_empty() => {
                Command::User { id: id.to_string() }
            }
            _ => return Err("user needs exactly one productUserId".into()),
        },
        Some("events") => {
            let (mut since, mut limit) = (86_400, 50);
            let mut i = 1;
            while i < rest.len() {
                match rest[i] {
                    "--since" => since = duration(&value(&rest, i, "--since")?)?,
                    "--limit" => {
                        limit = value(&rest, i, "--limit")?
                            .parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or("--limit needs a positive number")?
                    }
                    other => return Err(format!("events: unknown argument {other:?}")),
                }
                i += 2;
            }
            Command::Events { since, limit }
        }
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("a command is needed".into()),
    };
    Ok(Args { json, command })
}

/// What a run printed and how it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    fn failed(why: impl Into<String>) -> Self {
        Self {
            code: 2,
            stdout: String::new(),
            stderr: format!("doctor: {}\n", why.into()),
        }
    }
}

fn exit_code(status: Severity) -> i32 {
    i32::from(status == Severity::Error)
}

/// The readers and settings one run uses. Generic over the ports, so tests run it on memory.
pub struct Doctor<R, S> {
    pub records: R,
    pub stripe: Option<S>,
    pub cello: Option<CelloApi>,
    pub mode: StripeMode,
    pub secret_id: String,
    pub secret: Result<AppSecrets, String>,
    pub cello_env: Option<String>,
    pub issuer: Option<String>,
    pub now: i64,
}

fn render<T: serde::Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) -> String {
    if json {
        let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    } else {
        human()
    }
}

impl<R: Records, S: StripeReader> Doctor<R, S> {
    pub async fn run(&self, args: &Args) -> Outcome {
        match &args.command {
            Command::Status { window, issuer } => {
                let window = window.unwrap_or(if self.mode.is_live() { 3600 } else { 86_400 });
                let report = match self
                    .status(window, issuer.clone().or(self.issuer.clone()))
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return Outcome::failed(e),
                };
                Outcome {
                    code: exit_code(report.status),
                    stdout: render(args.json, &report, || render::status(&report, self.now)),
                    stderr: String::new(),
                }
            }
            Command::User { id } => match self.user(id).await {
                Ok(report) => Outcome {
                    code: exit_code(report.status),
                    stdout: render(args.json, &report, || render::user(&report)),
                    stderr: String::new(),
                },
                Err(e) => Outcome::failed(e),
            },
            Command::Events { since, limit } => {
                let rows = match self
                    .records
                    .scan(events::SCAN_EXACT, events::SCAN_PREFIXES)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return Outcome::failed(format!("the table could not be read: {e}")),
                };
                let report = events::feed(&rows, self.now - since, *limit);
                Outcome {
                    code: exit_code(report.status),
                    stdout: render(args.json, &report, || render::events(&report)),
                    stderr: String::new(),
                }
            }
        }
    }

    pub async fn status(
        &self,
        window: i64,
        issuer: Option<String>,
    ) -> Result<status::StatusReport, String> {
        let rows = self
            .records
            .scan(status::SCAN_EXACT, status::SCAN_PREFIXES)
            .await
            .map_err(|e| format!("the table could not be read: {e}"))?;
        let components = status::components(&rows, self.now, window);
        let cello_keys = match &self.cello {
            None => None,
            // One authenticated read: the token exchange and a code lookup.
            Some(api) => Some(match api.referral_code("doctorProbe1").await {
                Ok(_) => Ok(()),
                Err(CelloApiError::Unauthorized) => Err("the keys were refused".to_owned()),
                Err(e) => Err(e.to_string()),
            }),
        };
        let issuer = match issuer {
            Some(url) => {
                let outcome = config::probe_issuer(&url).await;
                Some((url, outcome))
            }
            None => None,
        };
        let configuration = config::checks(&ConfigFacts {
            secret_id: self.secret_id.clone(),
            secret: self.secret.clone(),
            stripe_mode: self.mode,
            cello_env: self.cello_env.clone(),
            cello_keys,
            issuer,
        });
        Ok(status::report(components, configuration, window))
    }

    pub async fn user(&self, id: &str) -> Result<user::UserReport, String> {
        let unreadable = |e: shared::StoreError| format!("the table could not be read: {e}");
        let user_rows = self
            .records
            .partition(&format!("USER#{id}"))
            .await
            .map_err(unreadable)?;
        let user = UserRecords::from_rows(&user_rows);
        let customer_id = user
            .profile
            .as_ref()
            .and_then(|p| p.stripe_customer_id.clone());
        let customer = match &customer_id {
            Some(c) => {
                let rows: Vec<Row> = self
                    .records
                    .partition(&shared::table::keys::customer_partition(c))
                    .await
                    .map_err(unreadable)?;
                Some(CustomerRecords::from_rows(c, &rows))
            }
            None => None,
        };
        let stripe = match (&self.stripe, &customer_id) {
            (None, _) | (_, None) => StripeFacts::NotConfigured,
            (Some(s), Some(c)) => match s.customer(c).await {
                Ok(found) => match s.subscriptions(c).await {
                    Ok(subscriptions) => StripeFacts::Read {
                        customer: found,
                        subscriptions,
                    },
                    Err(e) => StripeFacts::Unavailable(e.to_string()),
                },
                Err(e) => StripeFacts::Unavailable(e.to_string()),
            },
        };
        let ucc = user
            .profile
            .as_ref()
            .and_then(|p| p.ucc.clone())
            .or_else(|| match &stripe {
                StripeFacts::Read {
                    customer: crate::stripe::Lookup::Found(c),
                    ..
                } => c.metadata.get("cello_ucc").cloned(),
                _ => None,
            });
        let cello = match (&self.cello, ucc) {
            (Some(api), Some(code)) => match api.referral_code(&code).await {
                Ok(found) => CelloFacts::Code(found),
                Err(e) => CelloFacts::Unavailable(e.to_string()),
            },
            _ => CelloFacts::NotConfigured,
        };
        Ok(user::diagnose(
            &UserFacts {
                user_id: id.to_owned(),
                user,
                customer,
                stripe,
                cello,
            },
            self.mode.is_live(),
        ))
    }
}

/// A run against the environment's stack: the table and the secret through the default AWS
/// credential chain (the local stand-ins when `AWS_ENDPOINT_URL_*` point at them).
pub async fn run(args: &[String]) -> Outcome {
    run_with(args, &shared::config::from_env()).await
}

/// [`run`] with the settings from `env` (tests point it at another table).
pub async fn run_with<F: Fn(&str) -> Option<String>>(
    args: &[String],
    env: &shared::config::Settings<F>,
) -> Outcome {
    let args = match parse(args) {
        Ok(a) => a,
        Err(why) => {
            return Outcome {
                code: 2,
                stdout: String::new(),
                stderr: format!("doctor: {why}\n\n{USAGE}\n"),
            };
        }
    };
    let (table_name, secret_id) = match (
        env.required("TABLE_NAME", "the stack's table"),
        env.required("SECRET_ID", "the stack's secret"),
    ) {
        (Ok(t), Ok(s)) => (t, s),
        (Err(e), _) | (_, Err(e)) => return Outcome::failed(e.to_string()),
    };
    let mode = match env.optional("STRIPE_MODE").as_deref() {
        Some("live") => StripeMode::Live,
        Some("test") => StripeMode::Test,
        _ => return Outcome::failed("STRIPE_MODE must be test or live (the stack's StripeMode)"),
    };
    let sdk = shared::aws::sdk_config().await;
    let table = shared::Table::from_sdk(&sdk, &table_name);
    let secret = {
        use shared::secrets::{SecretLoader, SecretsManagerLoader};
        SecretsManagerLoader::new(shared::aws::secrets_manager(&sdk), &secret_id)
            .load()
            .await
            .map_err(|e| e.to_string())
    };
    let stripe_base = match env.loopback_url("STRIPE_API_BASE") {
        Ok(base) => base,
        Err(e) => return Outcome::failed(e.to_string()),
    };
    let stripe = secret
        .as_ref()
        .ok()
        .and_then(|s| s.stripe_secret_key().ok())
        .and_then(|key| AsyncStripeReader::new(key, stripe_base.as_deref()).ok());
    let cello = match (&secret, CelloApiSettings::from_settings(env)) {
        (Ok(s), Ok(settings)) => CelloApi::from_secrets(s, settings),
        (_, Err(e)) => return Outcome::failed(e.to_string()),
        _ => None,
    };
    let doctor = Doctor {
        records: table,
        stripe,
        cello,
        mode,
        secret_id,
        secret,
        cello_env: env.optional("CELLO_API_ENV"),
        issuer: env.optional("JWT_ISSUER"),
        now: shared::unix_now(),
    };
    doctor.run(&args).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Args, String> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_the_three_commands_and_names_what_is_wrong() {
        assert_eq!(
            args(&["--json", "status", "--window", "1h"]).unwrap(),
            Args {
                json: true,
                command: Command::Status {
                    window: Some(3600),
                    issuer: None
                }
            }
        );
        assert_eq!(
            args(&["user", "u-1", "--json"]).unwrap().command,
            Command::User { id: "u-1".into() }
        );
        assert_eq!(
            args(&["events", "--since", "7d", "--limit", "5"])
                .unwrap()
                .command,
            Command::Events {
                since: 7 * 86_400,
                limit: 5
            }
        );
        assert!(args(&[]).unwrap_err().contains("command"));
        assert!(args(&["user"]).unwrap_err().contains("productUserId"));
        assert!(
            args(&["status", "--window", "soon"])
                .unwrap_err()
                .contains("soon")
        );
        assert!(
            args(&["status", "--frobnicate"])
                .unwrap_err()
                .contains("--frobnicate")
        );
        assert!(args(&["reboot"]).unwrap_err().contains("reboot"));
        assert_eq!(duration("24h"), Ok(86_400));
        assert!(duration("0h").is_err());
    }
}
