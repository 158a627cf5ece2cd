//! The operator's erasure command: erases one person (Cello's depersonalization, the Stripe
//! customer when `ERASE_STRIPE_CUSTOMER=delete`, our records) with the environment's
//! configuration and secret, the same steps as `DELETE /account`. Idempotent and resumable:
//! run it again after a failure and it continues; after success it changes nothing.
//!
//!     cargo run -p rewards --features cli --bin erase -- <productUserId> [--json]
//!
//! Exit status: 0 erased (now or before), 1 stopped (the reason printed; run it again), 2 usage.

use rewards::erasure::{Eraser, StripeCustomers};
use rewards::handler::run_owner;
use rewards::settings::{RewardsSettings, StripeErasure};
use shared::cello_api::{CelloApi, CelloApiSettings};
use shared::clock::SystemClock;
use std::process::ExitCode;

const USAGE: &str = "usage: erase <productUserId> [--json]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut user_id = None;
    let mut json = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other if other.starts_with('-') || user_id.is_some() => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
            other => user_id = Some(other.to_owned()),
        }
    }
    let Some(user_id) = user_id.filter(|u| !u.is_empty() && u.len() <= 128) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    // The log (JSON lines, RUST_LOG) on stderr; stdout carries only the answer.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .flatten_event(true)
        .with_writer(std::io::stderr)
        .try_init();
    let base = match shared::init::Base::init().await {
        Ok(base) => base,
        Err(e) => {
            eprintln!("erase: {e}");
            return ExitCode::FAILURE;
        }
    };
    let env = shared::config::from_env();
    let settings = match RewardsSettings::from_settings(&env) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("erase: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cello = match CelloApiSettings::from_settings(&env) {
        Ok(s) => CelloApi::from_secrets(&base.initial_secrets, s),
        Err(e) => {
            eprintln!("erase: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stripe_key = match settings.stripe_erasure {
        StripeErasure::Keep => None,
        StripeErasure::Delete => base.initial_secrets.stripe_secret_key.clone(),
    };
    let stripe = StripeCustomers::new(
        stripe_key.as_ref().map(|k| k.expose()),
        settings.stripe_api_base.as_deref(),
    );
    let eraser = Eraser {
        store: &base.table,
        cello: &cello,
        stripe: &stripe,
        stripe_erasure: settings.stripe_erasure,
        clock: &SystemClock,
    };
    match eraser.erase(&user_id, &run_owner("erase-command")).await {
        Ok(erased) => {
            if json {
                let steps: serde_json::Map<String, serde_json::Value> = erased
                    .record
                    .steps
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            serde_json::json!({"at": v.at, "outcome": v.outcome}),
                        )
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"userId": erased.user_id, "erased": true,
                        "alreadyErased": erased.already_erased,
                        "erasedAt": erased.record.completed_at, "steps": steps})
                );
            } else {
                let how = if erased.already_erased {
                    "already erased"
                } else {
                    "erased"
                };
                println!("{user_id}: {how}");
                for (step, record) in &erased.record.steps {
                    println!("  {step:<8} {}", record.outcome);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("erase: {user_id}: stopped: {e} (the steps done are recorded; run it again)");
            ExitCode::FAILURE
        }
    }
}
