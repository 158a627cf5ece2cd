//! The HTTPS stack of shared's own clients (Cello's API, Stripe): hyper over rustls with
//! aws-lc-rs and the webpki roots, HTTP/1.1, plain HTTP allowed for the loopback stand-ins
//! (whose base URLs the settings keep to loopback).

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

pub(crate) type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub(crate) fn connector() -> HttpsConnector<HttpConnector> {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build()
}
