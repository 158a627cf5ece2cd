//! The perf harness's driver: runs one function's release binary against our minimal Lambda
//! Runtime API, `--runs` times from a cold process, and prints one JSON line of medians:
//! init (spawn → first `/next`), with the function's own `INIT_TIMING` breakdown; the first
//! invocation and `--warm` further ones (event handed out → response posted); peak RSS
//! (`VmHWM` while the process waits for its next event after the last one). The first
//! invocation's outcome is checked against the fixture's `.expect.json`, and no warm invocation
//! may fail, so the figures are of requests that did what they should.
//!
//! The binaries are built with `shared/perf-timing` and run with `PERF_TIMING=1`: each prints
//! its init stages, and after every invocation its handler time and the time its HTTP clients
//! spent in round trips to DynamoDB, Stripe and Cello's API (request sent → answer back, as the
//! function sees them; `shared/src/timing.rs`). The warm overhead is the latency seen here
//! minus those round trips, in the same invocation.
//!
//!     runtime_api --function NAME --binary PATH --event FILE [--stripe] [--fresh-each] [--raw]
//!                 [--given-by FUNCTION=EVENT]... [--runs 15] [--warm 200]
//!
//! `--raw`: the event is not an API Gateway request (a stream batch, say): no bearer is added
//! and the answer only has to be JSON. `--given-by signup=events/signup/x.json`: before each
//! cold start, that function's binary (beside `--binary`) handles that event once, with the
//! same `{{run}}`, and must meet its `.expect.json` (a checkout needs a signed-up user).
//!
//! It runs in `infra/local/perf.sh`, with the local stack's environment exported.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testkit::stripe_signature;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tools::replay::expect::{Expectation, Outcome};
use tools::replay::{local_bearer, request, substitute_run};
use tools::runtime_api::{Observed, RuntimeApi};

const STEP_TIMEOUT: Duration = Duration::from_secs(15);

struct Options {
    function: String,
    binary: PathBuf,
    event: PathBuf,
    stripe: bool,
    fresh_each: bool,
    raw: bool,
    given_by: Vec<(String, PathBuf)>,
    runs: usize,
    warm: usize,
}

fn options() -> Result<Options, String> {
    let (mut function, mut binary, mut event) = (None, None, None);
    let (mut stripe, mut fresh_each, mut raw, mut runs, mut warm) = (false, false, false, 15, 200);
    let mut given_by = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--function" => function = Some(value()?),
            "--binary" => binary = Some(PathBuf::from(value()?)),
            "--event" => event = Some(PathBuf::from(value()?)),
            "--stripe" => stripe = true,
            "--fresh-each" => fresh_each = true,
            "--raw" => raw = true,
            "--given-by" => {
                let v = value()?;
                let (function, event) =
                    v.split_once('=').ok_or("--given-by takes FUNCTION=EVENT")?;
                given_by.push((function.to_owned(), PathBuf::from(event)));
            }
            "--runs" => runs = value()?.parse().map_err(|_| "--runs takes a number")?,
            "--warm" => warm = value()?.parse().map_err(|_| "--warm takes a number")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Options {
        function: function.ok_or("--function is required")?,
        binary: binary.ok_or("--binary is required")?,
        event: event.ok_or("--event is required")?,
        stripe,
        fresh_each,
        raw,
        given_by,
        runs: runs.max(1),
        warm,
    })
}

/// Builds the events of one run: the fixture with `{{run}}` replaced (per invocation with
/// `--fresh-each`, so every event is new to the function), a local bearer for its caller, or
/// for a Stripe body a fresh signature and the API Gateway event around it.
struct Events {
    fixture: String,
    expect: Option<String>,
    stripe: bool,
    fresh_each: bool,
    raw: bool,
    auth_secret: Option<String>,
    webhook_secret: Option<String>,
}

impl Events {
    fn tag(&self, run: &str, i: usize) -> String {
        if self.fresh_each && i > 0 {
            format!("{run}i{i}")
        } else {
            run.to_owned()
        }
    }

    fn event(&self, run: &str, i: usize) -> Result<String, String> {
        let tag = self.tag(run, i);
        let text = substitute_run(&self.fixture, &tag);
        let now = shared::unix_now();
        if self.stripe {
            // The first event stays the fixture (its .expect.json checks it); later ones get a
            // new id even when the fixture's id has no `{{run}}`.
            let body = if self.fresh_each && i > 0 {
                with_unique_event_id(&text, &tag)?
            } else {
                text
            };
            let secret = self.webhook_secret.as_deref().ok_or("no webhook secret")?;
            let signature = stripe_signature::header(secret, now, body.as_bytes());
            return Ok(request::stripe_api_event(&body, &signature).to_string());
        }
        let mut event: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if let Some(secret) = &self.auth_secret {
            local_bearer::add_to_event(&mut event, secret, now);
        }
        Ok(event.to_string())
    }

    /// The fixture's expected outcome. A raw event's `.expect.json` (a stream batch's, see
    /// events/README.md) describes more than the answer: only its `response` pointers are
    /// checked here.
    fn expectation(&self, run: &str) -> Result<Option<Expectation>, String> {
        let Some(text) = &self.expect else {
            return Ok(None);
        };
        let text = substitute_run(text, run);
        if !self.raw {
            return Expectation::parse(&text).map(Some);
        }
        let full: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let answer =
            json!({ "status": 200, "body": full.get("response").cloned().unwrap_or(json!({})) });
        Expectation::parse(&answer.to_string()).map(Some)
    }
}

/// A Stripe body with its top-level event id made unique (bytes otherwise unchanged), so the
/// function processes it instead of dropping it as a duplicate.
fn with_unique_event_id(body: &str, tag: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .ok_or("the Stripe body has no id")?;
    Ok(body.replacen(&format!("\"{id}\""), &format!("\"evt_{tag}\""), 1))
}

#[derive(Default)]
struct RunFigures {
    init_us: u64,
    stages: BTreeMap<String, u64>,
    first_us: u64,
    first_round_trips: InvocationTiming,
    secret_round_trip_us: Option<u64>,
    warm_median_us: u64,
    warm_p90_us: u64,
    /// Medians over the warm invocations: the stand-ins' time, the rest, calls made.
    warm_round_trip_us: u64,
    warm_overhead_us: u64,
    /// The latency outside the handler: the runtime's read of the event and post of the answer.
    warm_outside_handler_us: u64,
    warm_calls: u64,
    first_status: u16,
    warm_statuses: BTreeMap<u16, usize>,
    rss_kb: u64,
    rss_file_kb: u64,
    rss_anon_kb: u64,
}

async fn observe(api: &mut RuntimeApi, what: &str) -> Result<Observed, String> {
    match tokio::time::timeout(STEP_TIMEOUT, api.observed.recv()).await {
        Ok(Some(o)) => Ok(o),
        Ok(None) => Err(format!("the runtime API stopped while waiting for {what}")),
        Err(_) => Err(format!("no {what} within {STEP_TIMEOUT:?}")),
    }
}

async fn wait_next(api: &mut RuntimeApi) -> Result<Instant, String> {
    match observe(api, "request for the next event").await? {
        Observed::NextRequested(at) => Ok(at),
        Observed::InitError { body } => {
            Err(format!("init error: {}", String::from_utf8_lossy(&body)))
        }
        other => Err(format!("unexpected {other:?} before /next")),
    }
}

async fn invoke(
    api: &mut RuntimeApi,
    id: &str,
    event: String,
    raw: bool,
) -> Result<(Duration, Outcome), String> {
    api.invoke(id, event);
    match observe(api, "response").await? {
        Observed::Response {
            id: got,
            latency,
            body,
        } if got == id && raw => {
            serde_json::from_slice::<Value>(&body)
                .map_err(|e| format!("the function's answer is not JSON: {e}"))?;
            let outcome = Outcome {
                status: 200,
                headers: Default::default(),
                body: body.to_vec(),
            };
            Ok((latency, outcome))
        }
        Observed::Response {
            id: got,
            latency,
            body,
        } if got == id => Ok((latency, Outcome::from_api_response(&body)?)),
        Observed::InvocationError { body, .. } => Err(format!(
            "invocation error: {}",
            String::from_utf8_lossy(&body)
        )),
        other => Err(format!("unexpected {other:?} while waiting for {id}")),
    }
}

/// A `kB` field of `/proc/<pid>/status`: `VmHWM` (peak RSS), `RssFile` (mapped file pages,
/// mostly the binary's code), `RssAnon` (heap and stacks).
fn status_kb(pid: u32, field: &str) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/<pid>/status"))
}

fn unix_micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What the function printed of one invocation (`shared::timing`).
#[derive(Debug, Default, Clone, Copy)]
struct InvocationTiming {
    handler_us: u64,
    round_trip_us: u64,
    calls: u64,
}

impl InvocationTiming {
    fn from_line(v: &Value) -> Self {
        let field = |name: &str| v[name].as_u64().unwrap_or(0);
        Self {
            handler_us: field("handlerUs"),
            round_trip_us: field("roundTripUs"),
            calls: field("calls"),
        }
    }
}

/// One `GetSecretValue` straight to the Secrets Manager stand-in with a plain HTTP client (no
/// SDK, no signing): the stand-in's own share of the function's secret read, measured just
/// before each cold start. `None` when the stack has no such stand-in or the call fails.
async fn secret_round_trip(client: &reqwest::Client) -> Option<u64> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").ok()?;
    let secret_id = std::env::var("SECRET_ID").ok()?;
    let started = Instant::now();
    let res = client
        .post(endpoint)
        .header("x-amz-target", "secretsmanager.GetSecretValue")
        .header("content-type", "application/x-amz-json-1.1")
        .body(json!({ "SecretId": secret_id }).to_string())
        .send()
        .await
        .ok()?;
    let ok = res.status().is_success();
    res.bytes().await.ok()?;
    ok.then(|| started.elapsed().as_micros() as u64)
}

async fn one_run(opts: &Options, events: &Events, run: &str) -> Result<RunFigures, String> {
    let prepared = (0..=opts.warm)
        .map(|i| events.event(run, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut api = RuntimeApi::start(&opts.function)
        .await
        .map_err(|e| e.to_string())?;
    // A fresh client each time: a new connection, as the function's first call makes.
    let secret_round_trip_us = secret_round_trip(&reqwest::Client::new()).await;
    let mut command = Command::new(&opts.binary);
    command
        .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
        .env("AWS_LAMBDA_FUNCTION_NAME", &opts.function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", opts.function),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", run)
        .env("PERF_TIMING", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let spawned_wall = SystemTime::now();
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", opts.binary.display()))?;
    let pid = child.id().ok_or("the process has no pid")?;

    // Drain both pipes (a full pipe would stall the function); keep the init timing line and
    // the last lines for a failure message.
    let tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (timing_tx, mut timing_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let (invocation_tx, mut invocation_rx) =
        tokio::sync::mpsc::unbounded_channel::<InvocationTiming>();
    for pipe in [
        Box::new(child.stdout.take().expect("piped"))
            as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ] {
        let (tail, timing_tx, invocation_tx) =
            (tail.clone(), timing_tx.clone(), invocation_tx.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if let Some(t) = v.get("initTiming") {
                        let _ = timing_tx.send(t.clone());
                    } else if let Some(t) = v.get("invocationTiming") {
                        let _ = invocation_tx.send(InvocationTiming::from_line(t));
                    }
                }
                let mut tail = tail.lock().expect("not poisoned");
                tail.push(line);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
        });
    }
    let with_logs = |e: String| {
        format!(
            "{e}\n  last output:\n    {}",
            tail.lock().expect("not poisoned").join("\n    ")
        )
    };

    let result = async {
        let ready = wait_next(&mut api).await?;
        let mut figures = RunFigures {
            init_us: (ready - spawned).as_micros() as u64,
            secret_round_trip_us,
            ..Default::default()
        };
        // The line is written before the runtime starts polling; give the pipe reader a moment.
        let timing = tokio::time::timeout(Duration::from_secs(2), timing_rx.recv()).await;
        if let Ok(Some(t)) = timing {
            let start = t["startUnixMicros"].as_u64().unwrap_or(0);
            let runtime_start = start.saturating_sub(unix_micros(spawned_wall));
            figures.stages.insert("runtimeStart".into(), runtime_start);
            let mut base_total = 0;
            for (name, v) in t.as_object().into_iter().flatten() {
                if name != "startUnixMicros"
                    && let Some(us) = v.as_u64()
                {
                    figures.stages.insert(name.clone(), us);
                    base_total += us;
                }
            }
            figures.stages.insert(
                "functionSetupAndRuntime".into(),
                figures.init_us.saturating_sub(runtime_start + base_total),
            );
        }

        // Printed by the function when its handler returns, just before it posts the answer.
        let mut invocation_timing =
            async || match tokio::time::timeout(Duration::from_secs(2), invocation_rx.recv()).await
            {
                Ok(Some(t)) => Ok(t),
                _ => Err("no invocationTiming line: build with shared/perf-timing".to_owned()),
            };
        let (first, outcome) = invoke(&mut api, "req-0", prepared[0].clone(), opts.raw).await?;
        figures.first_us = first.as_micros() as u64;
        figures.first_round_trips = invocation_timing().await?;
        figures.first_status = outcome.status;
        if let Some(expect) = events.expectation(run)? {
            let diffs = expect.differences(&outcome);
            if !diffs.is_empty() {
                return Err(format!("first invocation: {}", diffs.join("; ")));
            }
        }
        let mut warm = Vec::with_capacity(opts.warm);
        let (mut round_trips, mut overheads, mut outside, mut calls) =
            (vec![], vec![], vec![], vec![]);
        for (i, event) in prepared.iter().enumerate().skip(1) {
            wait_next(&mut api).await?;
            let (latency, outcome) =
                invoke(&mut api, &format!("req-{i}"), event.clone(), opts.raw).await?;
            let trips = invocation_timing().await?;
            if outcome.status >= 500 {
                return Err(format!("warm invocation {i} answered {}", outcome.status));
            }
            *figures.warm_statuses.entry(outcome.status).or_default() += 1;
            let latency = latency.as_micros() as u64;
            warm.push(latency);
            round_trips.push(trips.round_trip_us);
            overheads.push(latency.saturating_sub(trips.round_trip_us));
            outside.push(latency.saturating_sub(trips.handler_us));
            calls.push(trips.calls);
        }
        figures.warm_round_trip_us = median(round_trips);
        figures.warm_overhead_us = median(overheads);
        figures.warm_outside_handler_us = median(outside);
        figures.warm_calls = median(calls);
        // Idle in /next again: everything it will hold for this work is allocated.
        wait_next(&mut api).await?;
        figures.rss_kb = status_kb(pid, "VmHWM")?;
        figures.rss_file_kb = status_kb(pid, "RssFile")?;
        figures.rss_anon_kb = status_kb(pid, "RssAnon")?;
        warm.sort_unstable();
        figures.warm_median_us = percentile(&warm, 50);
        figures.warm_p90_us = percentile(&warm, 90);
        Ok(figures)
    }
    .await
    .map_err(with_logs);
    let _ = child.start_kill();
    let _ = child.wait().await;
    result
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) * p).div_ceil(100)]
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    percentile(&v, 50)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("runtime_api: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn load_events(opts: &Options) -> Result<Events, String> {
    let fixture = std::fs::read_to_string(&opts.event)
        .map_err(|e| format!("{}: {e}", opts.event.display()))?;
    let expect_path = opts.event.with_extension("expect.json");
    let local = std::env::var("AUTH_MODE").is_ok_and(|m| m == "local");
    Ok(Events {
        fixture,
        expect: std::fs::read_to_string(&expect_path).ok(),
        stripe: opts.stripe,
        fresh_each: opts.fresh_each,
        raw: opts.raw,
        auth_secret: if local && !opts.raw {
            std::env::var("LOCAL_AUTH_SECRET").ok()
        } else {
            None
        },
        webhook_secret: if opts.stripe {
            Some(tools::replay::stack_webhook_secret().await?)
        } else {
            None
        },
    })
}

/// The `--given-by` functions, each run once with its event (the same `{{run}}`), no warm
/// invocations: what the measured function's event presupposes, done by the real function.
async fn givens(opts: &Options) -> Result<Vec<(Options, Events)>, String> {
    let mut out = Vec::new();
    for (function, event) in &opts.given_by {
        let given = Options {
            function: function.clone(),
            binary: opts.binary.with_file_name(function),
            event: event.clone(),
            stripe: false,
            fresh_each: false,
            raw: false,
            given_by: Vec::new(),
            runs: 1,
            warm: 0,
        };
        let events = load_events(&given).await?;
        out.push((given, events));
    }
    Ok(out)
}

async fn run() -> Result<Value, String> {
    let opts = options()?;
    let events = load_events(&opts).await?;
    let givens = givens(&opts).await?;
    let stamp = unix_micros(SystemTime::now());
    let mut all = Vec::with_capacity(opts.runs);
    for r in 0..opts.runs {
        let run = format!("perf{stamp:x}r{r}");
        for (given, given_events) in &givens {
            one_run(given, given_events, &run)
                .await
                .map_err(|e| format!("{} (given) run {r}: {e}", given.function))?;
        }
        let figures = one_run(&opts, &events, &run)
            .await
            .map_err(|e| format!("{} run {r}: {e}", opts.function))?;
        eprintln!(
            "  {} run {r}: init {:.1} ms, first {:.2} ms, warm {:.3} ms (round trips {:.3}, overhead {:.3}), rss {:.1} MB",
            opts.function,
            figures.init_us as f64 / 1e3,
            figures.first_us as f64 / 1e3,
            figures.warm_median_us as f64 / 1e3,
            figures.warm_round_trip_us as f64 / 1e3,
            figures.warm_overhead_us as f64 / 1e3,
            figures.rss_kb as f64 / 1024.0
        );
        all.push(figures);
    }
    let med = |f: fn(&RunFigures) -> u64| median(all.iter().map(f).collect());
    let spread = |f: fn(&RunFigures) -> u64| {
        let mut v: Vec<u64> = all.iter().map(f).collect();
        v.sort_unstable();
        json!([percentile(&v, 25), percentile(&v, 75)])
    };
    let stage_names: Vec<String> = all[0].stages.keys().cloned().collect();
    let stages: serde_json::Map<String, Value> = stage_names
        .iter()
        .map(|name| {
            let values = all
                .iter()
                .filter_map(|f| f.stages.get(name).copied())
                .collect();
            (name.clone(), json!(median(values)))
        })
        .collect();
    let mut warm_statuses = BTreeMap::<u16, usize>::new();
    for f in &all {
        for (s, n) in &f.warm_statuses {
            *warm_statuses.entry(*s).or_default() += n;
        }
    }
    Ok(json!({
        "function": opts.function,
        "event": opts.event.display().to_string(),
        "freshEach": opts.fresh_each,
        "raw": opts.raw,
        "runs": opts.runs,
        "warmPerRun": opts.warm,
        "initUs": med(|f| f.init_us),
        "initUsIqr": spread(|f| f.init_us),
        "initStagesUs": stages,
        "firstUs": med(|f| f.first_us),
        "firstUsIqr": spread(|f| f.first_us),
        "warmUs": med(|f| f.warm_median_us),
        "warmP90Us": med(|f| f.warm_p90_us),
        "warmRoundTripUs": med(|f| f.warm_round_trip_us),
        "warmOverheadUs": med(|f| f.warm_overhead_us),
        "warmOverheadUsIqr": spread(|f| f.warm_overhead_us),
        "warmOutsideHandlerUs": med(|f| f.warm_outside_handler_us),
        "warmCalls": med(|f| f.warm_calls),
        "firstRoundTripUs": med(|f| f.first_round_trips.round_trip_us),
        "firstCalls": med(|f| f.first_round_trips.calls),
        "secretRoundTripUs": median(all.iter().filter_map(|f| f.secret_round_trip_us).collect()),
        "rssKb": med(|f| f.rss_kb),
        "rssKbMax": all.iter().map(|f| f.rss_kb).max(),
        "rssFileKb": med(|f| f.rss_file_kb),
        "rssAnonKb": med(|f| f.rss_anon_kb),
        "firstStatus": all[0].first_status,
        "warmStatuses": warm_statuses,
    }))
}
