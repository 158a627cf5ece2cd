//! cello-events Lambda: wiring only. Config, the secret, the Cello client and the table are
//! built once here; each invocation is one stream batch.

use cello_events::report::Reporter;
use cello_events::settings::{ReportSettings, call_budget};
use cello_events::stream::StreamBatch;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::cello_api::{CelloApi, CelloApiSettings};
use shared::clock::SystemClock;
use shared::init::exit_on_init_error;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const FUNCTION: &str = "cello-events";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let base = shared::init::start(FUNCTION).await;
    let env = shared::config::from_env();
    let settings =
        ReportSettings::from_settings(&env).unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let api_settings =
        CelloApiSettings::from_settings(&env).unwrap_or_else(|e| exit_on_init_error(FUNCTION, &e));
    let budget = call_budget(&api_settings);
    let Some(cello) = CelloApi::from_secrets(&base.initial_secrets, api_settings) else {
        exit_on_init_error(
            FUNCTION,
            &"the secret has no celloApiAccessKeyId and celloApiSecretAccessKey: reporting \
              to Cello's API needs them",
        )
    };
    let reporter = Reporter {
        store: base.table,
        cello,
        clock: SystemClock,
        mode: base.config.stripe_mode,
        lease_seconds: settings.lease_seconds,
        call_budget: budget,
    };
    let reporter = &reporter;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StreamBatch>| async move {
            let deadline = deadline(event.context.deadline);
            shared::timing::invocation(reporter.handle(event.payload, deadline))
                .await
                .map_err(Error::from)
        },
    ))
    .await
}

/// The invocation's deadline (Unix milliseconds) as an `Instant`; `None` when it is not ahead.
fn deadline(unix_ms: u64) -> Option<Instant> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    unix_ms
        .checked_sub(now)
        .filter(|left| *left > 0)
        .map(|left| Instant::now() + Duration::from_millis(left))
}
