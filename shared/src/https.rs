//! The HTTPS stack of every client here (the AWS SDK's, Cello's API, Stripe): hyper over
//! rustls with aws-lc-rs and the webpki roots, HTTP/1.1, plain HTTP allowed for the loopback
//! stand-ins (whose base URLs the settings keep to loopback).
//!
//! The webpki roots are Mozilla's CA set (Amazon Trust Services', which sign the AWS
//! endpoints, among them), compiled in as trust anchors: nothing is read or parsed at start.

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use std::time::Duration;

#[cfg(any(feature = "stripe", feature = "cello-api"))]
pub(crate) type HttpsClient = hyper_util::client::legacy::Client<
    HttpsConnector<HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

#[cfg(any(feature = "stripe", feature = "cello-api"))]
pub(crate) fn connector() -> HttpsConnector<HttpConnector> {
    connector_with(None)
}

/// The connector, giving up on a TCP connection not made within `connect_timeout`.
pub(crate) fn connector_with(connect_timeout: Option<Duration>) -> HttpsConnector<HttpConnector> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    // A request is written in one go; Nagle's algorithm would only delay it.
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(connect_timeout);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp)
}
