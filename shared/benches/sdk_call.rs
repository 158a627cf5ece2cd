//! What one DynamoDB call costs the function, apart from DynamoDB: reading a user record
//! (`UserStore::get_user`, as cello-token and signup do) through the SDK client the functions
//! build (shared's config, shared's hyper client), against
//!   - `sdk_get_user_instant`: an HTTP connector that answers at once from memory: the SDK's
//!     own work per call (serialize, sign, orchestrate, parse) and the record's decoding;
//!   - `sdk_get_user_loopback`: a keep-alive HTTP/1.1 server on loopback (a thread answering
//!     every request with the same item): the above plus hyper and the kernel's TCP.
//!
//! `cargo bench -p shared --bench sdk_call`

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use criterion::{Criterion, criterion_group, criterion_main};
use shared::Table;
use shared::user::UserStore;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// A stored user record as DynamoDB's GetItem answers it.
const GET_ITEM_ANSWER: &str = r#"{"Item":{"pk":{"S":"USER#user-4f1c2a9e"},"sk":{"S":"PROFILE"},"userId":{"S":"user-4f1c2a9e"},"email":{"S":"ada@example.com"},"firstName":{"S":"Ada"},"lastName":{"S":"Lovelace"},"ucc":{"S":"7Xk2pQm9aZ1"},"uccSource":{"S":"cookie"},"uccStandard":{"BOOL":true},"stripeCustomerId":{"S":"cus_QmZ1x7Xk2p"},"createdAt":{"N":"1795428000"}}}"#;

#[derive(Debug, Clone)]
struct Instant;

impl HttpConnector for Instant {
    fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
        let mut response =
            HttpResponse::new(200.try_into().unwrap(), SdkBody::from(GET_ITEM_ANSWER));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Instant {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// Answers every request on every connection with the item, keeping connections open.
fn loopback_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                stream.set_nodelay(true).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{GET_ITEM_ANSWER}",
                        GET_ITEM_ANSWER.len()
                    );
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn benches(c: &mut Criterion) {
    let url = loopback_server();
    // Lambda's environment, as the functions read it (shared/src/aws.rs).
    // SAFETY: set before any thread that reads the environment starts.
    unsafe {
        std::env::set_var("AWS_REGION", "eu-west-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
        std::env::set_var(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        );
        std::env::set_var("AWS_SESSION_TOKEN", "a-session-token-of-some-length");
        std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", &url);
    }
    // The functions' runtime: lambda_runtime runs on tokio's current-thread flavour.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sdk = runtime.block_on(shared::aws::sdk_config());

    let loopback = Table::new(shared::aws::dynamodb(&sdk), "bench");
    let instant = Table::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .http_client(SharedHttpClient::new(Instant))
                .build(),
        ),
        "bench",
    );
    for (name, table) in [
        ("sdk_get_user_instant", &instant),
        ("sdk_get_user_loopback", &loopback),
    ] {
        let user = runtime.block_on(table.get_user("user-4f1c2a9e")).unwrap();
        assert_eq!(user.map(|u| u.user_id).as_deref(), Some("user-4f1c2a9e"));
        c.bench_function(name, |b| {
            b.to_async(&runtime)
                .iter(|| table.get_user(black_box("user-4f1c2a9e")))
        });
    }
}

criterion_group!(sdk_call, benches);
criterion_main!(sdk_call);
