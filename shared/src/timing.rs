//! The perf harness's view from inside a function (feature `perf-timing`, then `PERF_TIMING=1`;
//! compiled out of the binaries that ship): each invocation's handler time and the time its
//! HTTP clients spent waiting on DynamoDB, Stripe and Cello's API, from request sent to answer
//! read, printed as one JSON line on stderr when the handler returns. The driver subtracts the
//! round trips from the latency it sees, which leaves the function's own work.

use std::future::Future;
use std::time::Duration;

/// Whether this binary times invocations: the feature is compiled in and `PERF_TIMING=1`.
pub fn enabled() -> bool {
    imp::enabled()
}

/// Adds one round trip to the current invocation's total.
pub fn record_round_trip(elapsed: Duration) {
    imp::record(elapsed);
}

/// Times `work` as one round trip when timing is on; otherwise just awaits it.
pub async fn round_trip<F: Future>(work: F) -> F::Output {
    if !enabled() {
        return work.await;
    }
    let started = std::time::Instant::now();
    let out = work.await;
    record_round_trip(started.elapsed());
    out
}

/// Runs one invocation's handler; with timing on, prints
/// `{"invocationTiming":{"handlerUs":..,"roundTripUs":..,"calls":..}}` once it returns.
pub async fn invocation<F: Future>(handler: F) -> F::Output {
    if !enabled() {
        return handler.await;
    }
    imp::reset();
    let started = std::time::Instant::now();
    let out = handler.await;
    let handler_us = started.elapsed().as_micros();
    let (round_trip_us, calls) = imp::totals();
    print_line(format!(
        "{{\"invocationTiming\":{{\"handlerUs\":{handler_us},\"roundTripUs\":{round_trip_us},\"calls\":{calls}}}}}"
    ));
    out
}

/// Prints one of the harness's lines on stderr in a single write: `eprintln!` writes each
/// piece of its format on its own (stderr is unbuffered), seven syscalls for the invocation
/// line, inside the time the driver measures, each waking its pipe reader.
pub(crate) fn print_line(mut line: String) {
    line.push('\n');
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
}

#[cfg(feature = "perf-timing")]
mod imp {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    static ON: OnceLock<bool> = OnceLock::new();
    static ROUND_TRIP_US: AtomicU64 = AtomicU64::new(0);
    static CALLS: AtomicU64 = AtomicU64::new(0);

    pub fn enabled() -> bool {
        *ON.get_or_init(|| std::env::var_os("PERF_TIMING").is_some_and(|v| v == "1"))
    }

    pub fn record(elapsed: Duration) {
        if enabled() {
            ROUND_TRIP_US.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
            CALLS.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn reset() {
        ROUND_TRIP_US.store(0, Ordering::Relaxed);
        CALLS.store(0, Ordering::Relaxed);
    }

    pub fn totals() -> (u64, u64) {
        (
            ROUND_TRIP_US.load(Ordering::Relaxed),
            CALLS.load(Ordering::Relaxed),
        )
    }
}

#[cfg(not(feature = "perf-timing"))]
mod imp {
    use std::time::Duration;

    pub fn enabled() -> bool {
        false
    }
    pub fn record(_: Duration) {}
    pub fn reset() {}
    pub fn totals() -> (u64, u64) {
        (0, 0)
    }
}

/// The AWS SDK's HTTP client with each request's exchange (request sent → whole answer read)
/// recorded as a round trip. The body is read here, inside the timing, because a server may
/// send it after the headers (moto does), and waiting for it is the server's time, not ours.
#[cfg(feature = "perf-timing")]
pub mod sdk {
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::byte_stream::ByteStream;

    #[derive(Debug)]
    struct Timed(SharedHttpClient);

    #[derive(Debug)]
    struct TimedConnector(SharedHttpConnector);

    /// `client`, timed.
    pub fn timed(client: SharedHttpClient) -> SharedHttpClient {
        SharedHttpClient::new(Timed(client))
    }

    impl HttpClient for Timed {
        fn http_connector(
            &self,
            settings: &HttpConnectorSettings,
            components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(TimedConnector(self.0.http_connector(settings, components)))
        }
    }

    impl HttpConnector for TimedConnector {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let call = self.0.call(request);
            HttpConnectorFuture::new(super::round_trip(async move {
                let mut response = call.await?;
                let body = ByteStream::new(response.take_body())
                    .collect()
                    .await
                    .map_err(|e| ConnectorError::io(e.into()))?
                    .into_bytes();
                *response.body_mut() = SdkBody::from(body);
                Ok(response)
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn without_the_switch_nothing_is_recorded_and_work_still_runs() {
        // PERF_TIMING is not set in the test environment.
        assert!(!super::enabled());
        let out = super::invocation(async { super::round_trip(async { 7 }).await + 1 }).await;
        assert_eq!(out, 8);
        assert_eq!(super::imp::totals(), (0, 0));
    }
}
