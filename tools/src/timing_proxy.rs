//! A plain-HTTP forwarding proxy in front of one local stand-in (moto's DynamoDB, localstripe,
//! Cello's stand-in) that adds up how long the stand-in took for each request it forwarded:
//! from the request's arrival at the proxy to the stand-in's whole answer being back. The perf
//! driver points a function at it (`AWS_ENDPOINT_URL_DYNAMODB`, `STRIPE_API_BASE`, ...) and
//! subtracts that time from each invocation's latency, which leaves the function's own work:
//! the "handler overhead beyond the round trips", measured in the same invocations. The extra
//! loopback hop through the proxy counts as the function's (so the overhead is, if anything,
//! overstated).

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::net::TcpListener;

#[derive(Default)]
struct Totals {
    calls: AtomicU64,
    busy_us: AtomicU64,
}

/// A running proxy; dropped, it stops listening.
pub struct TimingProxy {
    pub addr: SocketAddr,
    totals: Arc<Totals>,
    task: tokio::task::JoinHandle<()>,
}

/// Requests forwarded and the stand-in's time for them, since the last `take`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrips {
    pub calls: u64,
    pub busy_us: u64,
}

impl TimingProxy {
    /// Listens on an ephemeral loopback port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let totals = Arc::new(Totals::default());
        let upstream: Arc<str> = upstream.trim_end_matches('/').into();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let task = tokio::spawn({
            let totals = totals.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let (totals, upstream, client) =
                        (totals.clone(), upstream.clone(), client.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let (totals, upstream, client) =
                                (totals.clone(), upstream.clone(), client.clone());
                            async move {
                                Ok::<_, hyper::Error>(
                                    forward(&client, &upstream, &totals, req).await,
                                )
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        Ok(Self { addr, totals, task })
    }

    /// The base URL to give the function instead of the stand-in's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The totals since the last call, and a fresh start.
    pub fn take(&self) -> RoundTrips {
        RoundTrips {
            calls: self.totals.calls.swap(0, Ordering::SeqCst),
            busy_us: self.totals.busy_us.swap(0, Ordering::SeqCst),
        }
    }
}

impl Drop for TimingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
];

async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    totals: &Totals,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = format!(
        "{upstream}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut out = client.request(parts.method, target).body(body);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let answer = async {
        let res = out.send().await?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, body))
    }
    .await;
    totals
        .busy_us
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::SeqCst);
    totals.calls.fetch_add(1, Ordering::SeqCst);
    match answer {
        Ok((status, headers, body)) => {
            let mut res = Response::new(Full::new(body));
            *res.status_mut() = status;
            for (name, value) in &headers {
                if !HOP_BY_HOP.contains(&name.as_str()) {
                    res.headers_mut().append(name, value.clone());
                }
            }
            res
        }
        Err(_) => {
            let mut res = Response::new(Full::new(Bytes::from_static(b"upstream unreachable")));
            *res.status_mut() = StatusCode::BAD_GATEWAY;
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes what it received, after a pause the proxy must count.
    async fn echo_upstream() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        let seen = format!(
                            "{} {} {}",
                            req.method(),
                            req.uri(),
                            req.headers()["x-amz-target"].to_str().unwrap()
                        );
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let mut res = Response::new(Full::new(Bytes::from(format!(
                            "{seen} {}",
                            String::from_utf8_lossy(&body)
                        ))));
                        *res.status_mut() = StatusCode::CREATED;
                        res.headers_mut()
                            .insert("x-upstream", "echo".parse().unwrap());
                        Ok::<_, hyper::Error>(res)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn forwards_requests_and_answers_and_adds_up_the_upstreams_time() {
        let proxy = TimingProxy::start(&echo_upstream().await).await.unwrap();
        let client = reqwest::Client::new();
        for _ in 0..2 {
            let res = client
                .post(format!("{}/some/path?q=1", proxy.url()))
                .header("x-amz-target", "DynamoDB_20120810.GetItem")
                .body("{\"k\":1}")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            assert_eq!(res.headers()["x-upstream"], "echo");
            assert_eq!(
                res.text().await.unwrap(),
                "POST /some/path?q=1 DynamoDB_20120810.GetItem {\"k\":1}"
            );
        }
        let took = proxy.take();
        assert_eq!(took.calls, 2);
        assert!(took.busy_us >= 40_000, "{took:?}");
        assert_eq!(proxy.take(), RoundTrips::default());
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_a_502_and_still_counted() {
        let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_url = format!("http://{}", dead.local_addr().unwrap());
        drop(dead);
        let proxy = TimingProxy::start(&dead_url).await.unwrap();
        let res = reqwest::get(format!("{}/x", proxy.url())).await.unwrap();
        assert_eq!(res.status(), 502);
        assert_eq!(proxy.take().calls, 1);
    }
}
