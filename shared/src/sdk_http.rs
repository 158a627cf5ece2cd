//! The AWS SDK's HTTP client on shared's HTTPS stack (`https.rs`: hyper, rustls, the webpki
//! roots compiled in).
//!
//! The SDK's own client trusts the system's CA bundle: it reads the file and parses its ~140
//! certificates for the first connection, and panics on one rustls rejects, so the bundle had
//! to be checked before: two parses, about 3 ms of every cold start on this machine
//! (docs/performance.md), with the local stand-ins on plain HTTP as much as in AWS.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Hyper(Client<HttpsConnector<TcpConnector>, SdkBody>);

/// One connection pool for every SDK client built from the config. `connect_timeout` bounds
/// making a connection; the SDK's attempt and operation timeouts bound the rest.
pub fn client(connect_timeout: Duration) -> SharedHttpClient {
    let mut builder = Client::builder(TokioExecutor::new());
    // The timer lets the pool expire idle connections (hyper's default: after 90 s).
    builder.pool_timer(TokioTimer::new());
    let client = builder.build(crate::https::connector_with(Some(connect_timeout)));
    SharedHttpClient::new(SdkClient(SharedHttpConnector::new(Hyper(client))))
}

#[derive(Debug)]
struct SdkClient(SharedHttpConnector);

impl HttpClient for SdkClient {
    /// The same connector whatever the settings: the connect timeout is fixed above, and the
    /// SDK applies its own timeouts around each attempt.
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.clone()
    }
}

impl HttpConnector for Hyper {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let response = client.request(request).await.map_err(connector_error)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// What the SDK's retry strategy is told of a failed exchange: the classification of the SDK's
/// own hyper client (aws-smithy-http-client), where a connection that failed, closed or timed
/// out is transient and worth another attempt.
fn connector_error(err: hyper_util::client::legacy::Error) -> ConnectorError {
    use std::error::Error as _;
    let hyper = err.source().and_then(|s| s.downcast_ref::<hyper::Error>());
    let io = std::iter::successors(err.source(), |&e| e.source()).any(|e| e.is::<std::io::Error>());
    if hyper.is_some_and(|h| h.is_timeout()) {
        ConnectorError::timeout(err.into())
    } else if hyper.is_some_and(|h| h.is_user()) {
        ConnectorError::user(err.into())
    } else if err.is_connect() || io || hyper.is_some_and(|h| h.is_closed() || h.is_canceled()) {
        ConnectorError::io(err.into())
    } else if hyper.is_some_and(|h| h.is_incomplete_message()) {
        ConnectorError::other(err.into(), Some(ErrorKind::TransientError))
    } else {
        ConnectorError::other(err.into(), None)
    }
}
