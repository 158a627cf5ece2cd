//! Structured logs: JSON lines in Lambda (CloudWatch), with the request id from the `request`
//! span on every line. Level from `RUST_LOG` (default `info`). Nothing here logs secrets.

use tracing_subscriber::{EnvFilter, fmt};

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .flatten_event(true)
        .try_init();
}
