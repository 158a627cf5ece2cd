//! Replays every fixture in `events/` through the local `cargo lambda watch` and checks each
//! outcome against its `.expect.json`. One line per fixture; exits non-zero when a fixture
//! fails or has no expectation. Run it through `infra/local/replay.sh` (which starts the stack
//! and the functions) or inside the test command's stage, where both are running.
//!
//!     replay [--via url|invoke] [--events DIR] [--only TEXT] [--run ID]
//!
//! `--via url` (default) sends each fixture as the HTTP request it describes to the function's
//! URL (`/lambda-url/<function>/...`). `--via invoke` sends the event document itself to the
//! invoke API that `cargo lambda invoke --data-file` uses, so the function reads it exactly as
//! Lambda would hand it over (with `AUTH_MODE=jwt-authorizer`, the caller comes from the
//! event's `requestContext`). Under `AUTH_MODE=local` a fixture's caller gets a local bearer
//! token either way; Stripe bodies are signed now with the stack's webhook secret.

use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use testkit::stripe_signature;
use tools::replay::expect::{Expectation, Outcome, snippet};
use tools::replay::fixture::{self, Fixture, Kind};
use tools::replay::{local_bearer, request, substitute_run};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Url,
    Invoke,
}

struct Options {
    via: Via,
    events: PathBuf,
    only: Option<String>,
    run: String,
}

const USAGE: &str = "usage: replay [--via url|invoke] [--events DIR] [--only TEXT] [--run ID]";

fn options() -> Result<Options, String> {
    let mut opts = Options {
        via: Via::Url,
        events: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../events")),
        only: None,
        run: run_id(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--via" => {
                opts.via = match value()?.as_str() {
                    "url" => Via::Url,
                    "invoke" => Via::Invoke,
                    other => return Err(format!("--via url|invoke, not {other}")),
                }
            }
            "--events" => opts.events = PathBuf::from(value()?),
            "--only" => opts.only = Some(value()?),
            "--run" => opts.run = value()?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(opts)
}

/// Unique per replay, lower-case alphanumerics, so it fits user ids, emails and event ids.
fn run_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("r{millis:x}{:x}", std::process::id())
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| {
        format!(
            "{name} is not set: run the replay through infra/local/replay.sh or the test command"
        )
    })
}

/// What the replay needs from the running stack.
struct Stack {
    watch_url: String,
    /// `Some` under `AUTH_MODE=local`: fixtures' callers get a local bearer token.
    local_auth_secret: Option<String>,
    client: reqwest::Client,
    webhook_secret: Option<String>,
}

impl Stack {
    fn from_env() -> Result<Self, String> {
        let local = std::env::var("AUTH_MODE").is_ok_and(|m| m == "local");
        Ok(Self {
            watch_url: env("LOCAL_WATCH_URL")?.trim_end_matches('/').to_owned(),
            local_auth_secret: if local {
                Some(env("LOCAL_AUTH_SECRET")?)
            } else {
                None
            },
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // The first call to a function under `cargo lambda watch` may start it.
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| e.to_string())?,
            webhook_secret: None,
        })
    }

    /// The webhook signing secret, read from the stack once.
    async fn webhook_secret(&mut self) -> Result<String, String> {
        if let Some(secret) = &self.webhook_secret {
            return Ok(secret.clone());
        }
        let first = tools::replay::stack_webhook_secret().await?;
        self.webhook_secret = Some(first.clone());
        Ok(first)
    }

    /// The fixture as an API Gateway v2 event: run id substituted (before the token is minted
    /// and before a Stripe body is signed), the caller's local bearer added, a Stripe body
    /// signed and wrapped.
    async fn event_for(&mut self, fixture: &Fixture, run: &str) -> Result<Value, String> {
        let text = std::fs::read_to_string(&fixture.path).map_err(|e| e.to_string())?;
        let text = substitute_run(&text, run);
        let now = shared::unix_now();
        match fixture.kind {
            Kind::StripeBody => {
                let secret = self.webhook_secret().await?;
                let signature = stripe_signature::header(&secret, now, text.as_bytes());
                Ok(request::stripe_api_event(&text, &signature))
            }
            Kind::ApiEvent => {
                request::check_lambda_http_parses(&text)?;
                let mut event: Value =
                    serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
                if let Some(secret) = &self.local_auth_secret {
                    local_bearer::add_to_event(&mut event, secret, now);
                }
                Ok(event)
            }
        }
    }

    /// Through the function URL, as a browser or Stripe would call it.
    async fn send(&self, function: &str, call: &request::HttpCall) -> Result<Outcome, String> {
        let url = format!(
            "{}/lambda-url/{function}{}",
            self.watch_url, call.path_and_query
        );
        let method = reqwest::Method::from_bytes(call.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", call.method))?;
        let mut req = self.client.request(method, url).body(call.body.clone());
        for (name, value) in &call.headers {
            req = req.header(name, value);
        }
        let res = req
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_owned(), value)
            })
            .collect();
        let body = res
            .bytes()
            .await
            .map_err(|e| format!("reading the body: {e}"))?;
        Ok(Outcome {
            status,
            headers,
            body: body.to_vec(),
        })
    }

    /// Through the invoke API `cargo lambda invoke --data-file` uses: the event as Lambda
    /// hands it to the function, and the function's response document.
    async fn invoke(&self, function: &str, event: &Value) -> Result<Outcome, String> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.watch_url
        );
        let res = self
            .client
            .post(url)
            .json(event)
            .send()
            .await
            .map_err(|e| format!("invoke failed: {e}"))?;
        let status = res.status();
        let body = res
            .bytes()
            .await
            .map_err(|e| format!("reading the body: {e}"))?;
        if !status.is_success() {
            return Err(format!("invoke answered {status}: {}", snippet(&body)));
        }
        Outcome::from_api_response(&body)
    }
}

async fn replay_one(
    stack: &mut Stack,
    via: Via,
    fixture: &Fixture,
    run: &str,
) -> Result<u16, String> {
    let expect_path = fixture.expect.as_ref().ok_or("no .expect.json beside it")?;
    let expect_text = std::fs::read_to_string(expect_path).map_err(|e| e.to_string())?;
    let expectation = Expectation::parse(&substitute_run(&expect_text, run))
        .map_err(|e| format!("bad .expect.json: {e}"))?;
    let event = stack.event_for(fixture, run).await?;
    let outcome = match via {
        Via::Url => {
            let call = request::from_api_event(&event)?;
            if std::str::from_utf8(&call.body).is_ok() {
                stack.send(&fixture.function, &call).await?
            } else {
                // `cargo lambda watch` cannot put a non-UTF-8 body into a Function URL event
                // (it answers 500 itself); API Gateway base64-encodes it, as the event does.
                stack.invoke(&fixture.function, &event).await?
            }
        }
        Via::Invoke => stack.invoke(&fixture.function, &event).await?,
    };
    let diffs = expectation.differences(&outcome);
    if diffs.is_empty() {
        Ok(outcome.status)
    } else {
        Err(format!(
            "{} | body: {}",
            diffs.join("; "),
            snippet(&outcome.body)
        ))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (opts, mut stack) = match options().and_then(|o| Ok((o, Stack::from_env()?))) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("replay: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut fixtures, orphans) = match fixture::discover(&opts.events) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("replay: cannot read {}: {e}", opts.events.display());
            return ExitCode::from(2);
        }
    };
    let events = opts.events.canonicalize().unwrap_or(opts.events.clone());
    if let Some(only) = &opts.only {
        fixtures.retain(|f| f.name.contains(only.as_str()));
    }
    let via = match opts.via {
        Via::Url => "function URLs",
        Via::Invoke => "the invoke API",
    };
    println!(
        "replaying {} fixtures from {} through {via} at {} (run id {})",
        fixtures.len(),
        events.display(),
        stack.watch_url,
        opts.run
    );
    let mut failed = 0;
    for orphan in &orphans {
        failed += 1;
        println!(
            "FAIL  {}: an expectation without a fixture",
            orphan.display()
        );
    }
    for fixture in &fixtures {
        let started = Instant::now();
        let result = replay_one(&mut stack, opts.via, fixture, &opts.run).await;
        let ms = started.elapsed().as_millis();
        match result {
            Ok(status) => println!("pass  {:<44} {status}  {ms} ms", fixture.name),
            Err(why) => {
                failed += 1;
                println!("FAIL  {:<44} {why}", fixture.name);
            }
        }
    }
    if fixtures.is_empty() {
        println!("FAIL  no fixtures found: nothing was replayed");
        return ExitCode::FAILURE;
    }
    let total = fixtures.len() + orphans.len();
    println!(
        "{total} checked, {} passed, {failed} failed",
        total - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
