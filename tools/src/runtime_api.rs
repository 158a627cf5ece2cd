//! A minimal Lambda Runtime API (the protocol AWS's custom runtimes speak), for measuring a
//! function's release binary on this machine: the function long-polls
//! `GET /2018-06-01/runtime/invocation/next`, gets an event with its request id, deadline and
//! function ARN in headers, and posts `.../invocation/{id}/response` or `.../error`;
//! `POST .../runtime/init/error` reports a failed init. The server records when each of those
//! happens, so the harness can time init and invocations from the outside.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const PREFIX: &str = "/2018-06-01/runtime";

/// What the function did, in order, with the instant the server saw it.
#[derive(Debug)]
pub enum Observed {
    /// The function asked for its next event (it is initialised, or done with the last one).
    NextRequested(Instant),
    /// A result for request `id`; `latency` runs from handing the event out to the posted body.
    Response {
        id: String,
        latency: Duration,
        body: Bytes,
    },
    InvocationError {
        id: String,
        body: Bytes,
    },
    InitError {
        body: Bytes,
    },
}

struct Shared {
    pending: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Bytes)>>,
    handed_out: Mutex<HashMap<String, Instant>>,
    observed: mpsc::UnboundedSender<Observed>,
    function_arn: String,
}

/// A running server: `invoke` queues an event, `observed` reports what the function did.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    events: mpsc::UnboundedSender<(String, Bytes)>,
    pub observed: mpsc::UnboundedReceiver<Observed>,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Listens on an ephemeral loopback port.
    pub async fn start(function_name: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (events, pending) = mpsc::unbounded_channel();
        let (observed_tx, observed) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            pending: tokio::sync::Mutex::new(pending),
            handed_out: Mutex::new(HashMap::new()),
            observed: observed_tx,
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, hyper::Error>(route(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            events,
            observed,
            task,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function: host and port, no scheme.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an event; the function's next `/next` (or the one it is waiting in) receives it.
    pub fn invoke(&self, request_id: &str, event: impl Into<Bytes>) {
        let _ = self.events.send((request_id.to_owned(), event.into()));
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return status(StatusCode::NOT_FOUND);
    };
    match (req.method(), rest) {
        (&Method::GET, "/invocation/next") => next(shared).await,
        (&Method::POST, "/init/error") => {
            let body = read(req).await;
            let _ = shared.observed.send(Observed::InitError { body });
            status(StatusCode::ACCEPTED)
        }
        (&Method::POST, rest) if rest.starts_with("/invocation/") => {
            let mut parts = rest["/invocation/".len()..].splitn(2, '/');
            let (id, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let Some(handed_out) = shared.handed_out.lock().expect("not poisoned").remove(id)
            else {
                return status(StatusCode::BAD_REQUEST);
            };
            let id = id.to_owned();
            let observed = match kind {
                "response" => {
                    let body = read(req).await;
                    Observed::Response {
                        id,
                        latency: handed_out.elapsed(),
                        body,
                    }
                }
                "error" => Observed::InvocationError {
                    id,
                    body: read(req).await,
                },
                _ => return status(StatusCode::NOT_FOUND),
            };
            let _ = shared.observed.send(observed);
            status(StatusCode::ACCEPTED)
        }
        _ => status(StatusCode::NOT_FOUND),
    }
}

/// Long-polls like AWS: answers once an event is queued.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    let _ = shared
        .observed
        .send(Observed::NextRequested(Instant::now()));
    let Some((id, event)) = shared.pending.lock().await.recv().await else {
        return status(StatusCode::GONE);
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        + 30_000;
    let response = Response::builder()
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &id)
        .header("lambda-runtime-deadline-ms", deadline.to_string())
        .header("lambda-runtime-invoked-function-arn", &shared.function_arn)
        .header(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0",
        )
        .body(Full::new(event))
        .expect("static headers are valid");
    shared
        .handed_out
        .lock()
        .expect("not poisoned")
        .insert(id, Instant::now());
    response
}

async fn read(req: Request<Incoming>) -> Bytes {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = code;
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays the function's side of the protocol with a plain HTTP client.
    #[tokio::test]
    async fn hands_out_events_with_the_protocol_headers_and_records_results() {
        let mut api = RuntimeApi::start("cello-token").await.unwrap();
        let base = format!("http://{}{PREFIX}", api.endpoint());
        let client = reqwest::Client::new();

        let poll = tokio::spawn({
            let (client, base) = (client.clone(), base.clone());
            async move { client.get(format!("{base}/invocation/next")).send().await }
        });
        assert!(matches!(
            api.observed.recv().await,
            Some(Observed::NextRequested(_))
        ));
        api.invoke("req-1", r#"{"hello":"world"}"#);
        let next = poll.await.unwrap().unwrap();
        assert_eq!(next.status(), 200);
        let h = next.headers();
        assert_eq!(h["lambda-runtime-aws-request-id"], "req-1");
        assert_eq!(
            h["lambda-runtime-invoked-function-arn"],
            "arn:aws:lambda:us-east-1:123456789012:function:cello-token"
        );
        let deadline: u128 = h["lambda-runtime-deadline-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(deadline > 1_700_000_000_000);
        assert_eq!(next.text().await.unwrap(), r#"{"hello":"world"}"#);

        let posted = client
            .post(format!("{base}/invocation/req-1/response"))
            .body(r#"{"statusCode":200}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        match api.observed.recv().await {
            Some(Observed::Response { id, body, .. }) => {
                assert_eq!(id, "req-1");
                assert_eq!(&body[..], br#"{"statusCode":200}"#);
            }
            other => panic!("expected a response, got {other:?}"),
        }

        // A result for an id never handed out is refused; errors are recorded.
        let unknown = client
            .post(format!("{base}/invocation/nope/response"))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 400);
        let init_error = client
            .post(format!("{base}/init/error"))
            .body("boom")
            .send()
            .await
            .unwrap();
        assert_eq!(init_error.status(), 202);
        assert!(matches!(
            api.observed.recv().await,
            Some(Observed::InitError { body }) if &body[..] == b"boom"
        ));
    }
}
