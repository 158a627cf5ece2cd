//! Replays every fixture in `events/` through the local `cargo lambda watch` endpoints and
//! checks each outcome against its `.expect.json`. One line per fixture; exits non-zero when a
//! fixture fails or has no expectation. Run it through `infra/local/replay.sh` (which starts the
//! stack and the functions) or inside the test command's stage, where both are running.
//!
//!     replay [--events DIR] [--only TEXT] [--run ID]

use integration_tests::replay::expect::{Expectation, Outcome, snippet};
use integration_tests::replay::fixture::{self, Fixture, Kind};
use integration_tests::replay::{local_bearer, request, stripe_signature, substitute_run};
use referral_core::SecretSource;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Options {
    events: PathBuf,
    only: Option<String>,
    run: String,
}

fn options() -> Result<Options, String> {
    let mut opts = Options {
        events: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../events")),
        only: None,
        run: run_id(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--events" => opts.events = PathBuf::from(value()?),
            "--only" => opts.only = Some(value()?),
            "--run" => opts.run = value()?,
            "-h" | "--help" => {
                return Err("usage: replay [--events DIR] [--only TEXT] [--run ID]".into());
            }
            other => return Err(format!("unknown argument {other}")),
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

    /// The webhook signing secret the function accepts: the first of `stripeWebhookSecrets`
    /// in the stack's secret, read the way the functions read it.
    async fn webhook_secret(&mut self) -> Result<String, String> {
        if let Some(secret) = &self.webhook_secret {
            return Ok(secret.clone());
        }
        let config = referral_core::CommonConfig::from_env().map_err(|e| e.to_string())?;
        let sdk = referral_core::aws::sdk_config().await;
        let source = referral_core::secrets::from_config(
            &config.secret_source,
            config.secret_cache_ttl,
            &sdk,
        );
        let secrets = source.current().await.map_err(|e| e.to_string())?;
        let first = secrets
            .stripe_webhook_secrets()
            .map_err(|e| e.to_string())?[0]
            .expose()
            .to_owned();
        self.webhook_secret = Some(first.clone());
        Ok(first)
    }

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
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
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
}

/// Builds the request a fixture describes, with the run id substituted first (before the
/// token is minted and before a Stripe body is signed).
async fn call_for(
    stack: &mut Stack,
    fixture: &Fixture,
    run: &str,
) -> Result<request::HttpCall, String> {
    let text = std::fs::read_to_string(&fixture.path).map_err(|e| e.to_string())?;
    let text = substitute_run(&text, run);
    match fixture.kind {
        Kind::StripeBody => {
            let secret = stack.webhook_secret().await?;
            let signature =
                stripe_signature::header(&secret, referral_core::unix_now(), text.as_bytes());
            Ok(request::stripe_call(&text, &signature))
        }
        Kind::ApiEvent => {
            request::check_lambda_http_parses(&text)?;
            let event: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
            let mut call = request::from_api_event(&event)?;
            if let (Some(secret), Some(claims), None) = (
                &stack.local_auth_secret,
                request::authorizer_claims(&event),
                call.header("authorization"),
            ) {
                let bearer = local_bearer::authorization(claims, secret, referral_core::unix_now());
                call.headers.push(("authorization".into(), bearer));
            }
            Ok(call)
        }
    }
}

async fn replay_one(stack: &mut Stack, fixture: &Fixture, run: &str) -> Result<u16, String> {
    let expect_path = fixture.expect.as_ref().ok_or("no .expect.json beside it")?;
    let expect_text = std::fs::read_to_string(expect_path).map_err(|e| e.to_string())?;
    let expectation = Expectation::parse(&substitute_run(&expect_text, run))
        .map_err(|e| format!("bad .expect.json: {e}"))?;
    let call = call_for(stack, fixture, run).await?;
    let outcome = stack.send(&fixture.function, &call).await?;
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
    println!(
        "replaying {} fixtures from {} (run id {})",
        fixtures.len(),
        events.display(),
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
        let result = replay_one(&mut stack, fixture, &opts.run).await;
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
    println!(
        "{} fixtures, {} passed, {failed} failed",
        fixtures.len(),
        fixtures.len() + orphans.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
