//! `POST /cello/rewards`, `GET /credits` and `DELETE /account` against the real local stack:
//! the function served by `cargo lambda watch`, called by Cello's stand-in
//! (`POST /_standin/rewards/deliver`: Basic credentials, `X-Cello-Env`, copies, concurrency,
//! retries) or by plain HTTP, the table in the DynamoDB stand-in, the customer in the Stripe
//! stand-in, depersonalization recorded by Cello's stand-in.

use integration_tests::{
    function_url, local_bearer, post_function, stack_secrets, stack_var, store, stripe_key, unique,
};
use serde_json::{Value, json};
use shared::UserStore;
use shared::cello_api::{CelloApi, CelloApiSettings};

fn callback_url() -> String {
    format!("{}cello/rewards", function_url("rewards"))
}

fn standin(path: &str) -> String {
    format!(
        "{}{path}",
        stack_var("CELLO_API_BASE").trim_end_matches('/')
    )
}

async fn credentials() -> (String, String) {
    let s = stack_secrets().await;
    (
        s.cello_rewards_webhook_username
            .expect("the local secret has celloRewardsWebhookUsername")
            .expose()
            .to_owned(),
        s.cello_rewards_webhook_password
            .expect("the local secret has celloRewardsWebhookPassword")
            .expose()
            .to_owned(),
    )
}

/// Asks Cello's stand-in to deliver a reward callback to the function; its answer lists each
/// delivery's final status and body.
async fn deliver(request: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(standin("/_standin/rewards/deliver"))
        .json(&request)
        .send()
        .await
        .expect("Cello's stand-in answers");
    assert!(resp.status().is_success(), "deliver: {}", resp.status());
    resp.json().await.expect("a JSON answer")
}

async fn reward_request(user: &str, event_id: &str, amount: i64) -> Value {
    let (username, password) = credentials().await;
    json!({"url": callback_url(), "username": username, "password": password, "env": "sandbox",
           "eventId": event_id, "productUserId": user, "amount": amount, "copies": 1,
           "concurrent": false, "retries": 0, "eventType": "new-reward"})
}

fn statuses(answer: &Value) -> Vec<u64> {
    answer["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| d["status"].as_u64().unwrap_or(0))
        .collect()
}

/// `GET`/`DELETE` on the function as the frontend calls it.
async fn call_as(method: reqwest::Method, path: &str, bearer: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", function_url("rewards")))
        .header("authorization", bearer)
        .header("origin", stack_var("LOCAL_FRONTEND_URL"))
        .send()
        .await
        .expect("cargo lambda watch answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

/// Every item of the table (moto's scan, paged).
async fn all_items()
-> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let table = store().await;
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = table
            .client
            .scan()
            .table_name(&table.name)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

async fn partition(
    pk: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut items: Vec<_> = all_items()
        .await
        .into_iter()
        .filter(|i| {
            i.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|p| p == pk)
        })
        .collect();
    items.sort_by_key(|i| format!("{:?}", i.get("sk")));
    items
}

async fn has_item(pk: &str, sk: &str) -> bool {
    let table = store().await;
    table
        .client
        .get_item()
        .table_name(&table.name)
        .set_key(Some(shared::table::key(pk.to_owned(), sk)))
        .consistent_read(true)
        .send()
        .await
        .expect("get_item")
        .item
        .is_some()
}

async fn balance_in_table(user: &str) -> Option<i64> {
    let table = store().await;
    let (pk, sk) = shared::credits::keys::balance(user);
    table
        .client
        .get_item()
        .table_name(&table.name)
        .set_key(Some(shared::table::key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .expect("get_item")
        .item
        .and_then(|i| i.get("balance")?.as_n().ok()?.parse().ok())
}

async fn ledger_len(user: &str) -> usize {
    partition(&format!("USER#{user}"))
        .await
        .iter()
        .filter(|i| {
            i.get("sk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|s| s.starts_with("CREDIT#"))
        })
        .count()
}

#[tokio::test]
async fn ten_concurrent_deliveries_of_one_reward_raise_the_balance_once() {
    let user = unique("rw-concurrent");
    store()
        .await
        .create_user(&integration_tests::user(
            &user,
            &format!("{user}@example.com"),
        ))
        .await
        .unwrap();
    let event_id = format!("evt_{}", unique("c").replace('-', "_"));
    let mut request = reward_request(&user, &event_id, 500).await;
    request["copies"] = json!(10);
    request["concurrent"] = json!(true);
    request["retries"] = json!(3);
    let answer = deliver(request).await;
    assert_eq!(statuses(&answer), vec![200; 10], "{answer}");
    let outcomes: Vec<&str> = answer["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["body"]["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "credited").count(),
        1,
        "{answer}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "duplicate").count(),
        9,
        "{answer}"
    );
    assert_eq!(balance_in_table(&user).await, Some(500));
    assert_eq!(ledger_len(&user).await, 1);
    let (status, credits) =
        call_as(reqwest::Method::GET, "credits", &local_bearer(&user, None)).await;
    assert_eq!(status, 200, "{credits}");
    assert_eq!(credits["balance"], 500);
    assert_eq!(credits["entries"][0]["eventId"], event_id.as_str());
    assert_eq!(credits["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn refused_callbacks_store_nothing() {
    let user = unique("rw-refused");
    store()
        .await
        .create_user(&integration_tests::user(
            &user,
            &format!("{user}@example.com"),
        ))
        .await
        .unwrap();
    let (username, password) = credentials().await;
    let mut refused = Vec::new();
    // Through Cello's stand-in: a wrong password, and a production reward at this sandbox stack.
    let mut wrong =
        reward_request(&user, &format!("evt_{}", unique("w").replace('-', "_")), 5).await;
    wrong["password"] = json!("not-the-password");
    wrong["retries"] = json!(2);
    let answer = deliver(wrong.clone()).await;
    assert_eq!(statuses(&answer), vec![401], "{answer}");
    assert_eq!(
        answer["deliveries"][0]["body"]["error"]["code"],
        "unauthorized"
    );
    refused.push(answer["eventId"].as_str().unwrap_or_default().to_owned());
    let mut prod =
        reward_request(&user, &format!("evt_{}", unique("p").replace('-', "_")), 5).await;
    prod["env"] = json!("prod");
    let answer = deliver(prod).await;
    assert_eq!(statuses(&answer), vec![403], "{answer}");
    assert_eq!(
        answer["deliveries"][0]["body"]["error"]["code"],
        "wrong_environment"
    );
    refused.push(answer["eventId"].as_str().unwrap_or_default().to_owned());
    // A plain HTTP caller: no Authorization, and no X-Cello-Env.
    let event_id = format!("evt_{}", unique("h").replace('-', "_"));
    let body = json!({"version": "1.0.3", "eventType": "new-reward",
        "createdTs": "2026-11-23T10:00:00Z", "eventId": event_id,
        "data": {"rewardId": "rwd_1", "productUserId": user, "rewardType": "credits",
                 "reward": {"amount": 5}}})
    .to_string();
    let client = reqwest::Client::new();
    let no_auth = client
        .post(callback_url())
        .header("content-type", "application/json")
        .header("x-cello-env", "sandbox")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(no_auth.status().as_u16(), 401);
    let wrong_answer: Value = no_auth.json().await.unwrap();
    assert_eq!(
        wrong_answer["error"]["message"],
        answer_message(&deliver(wrong).await),
        "every credential failure gets the same answer"
    );
    let no_env = client
        .post(callback_url())
        .header("content-type", "application/json")
        .basic_auth(&username, Some(&password))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_env.status().as_u16(), 400);
    refused.push(event_id);
    for event_id in refused.iter().filter(|e| !e.is_empty()) {
        assert!(
            !has_item(&format!("CELLO_REWARD#{event_id}"), "EVENT").await,
            "{event_id}"
        );
    }
    assert_eq!(balance_in_table(&user).await, None);
    assert_eq!(ledger_len(&user).await, 0);
}

fn answer_message(answer: &Value) -> Value {
    answer["deliveries"][0]["body"]["error"]["message"].clone()
}

#[tokio::test]
async fn a_reward_before_signup_is_kept_and_applied_once_at_signup() {
    let user = unique("rw-early");
    let event_id = format!("evt_{}", unique("e").replace('-', "_"));
    let mut first = reward_request(&user, &event_id, 300).await;
    first["copies"] = json!(3);
    let answer = deliver(first).await;
    assert_eq!(statuses(&answer), vec![200; 3], "{answer}");
    assert_eq!(answer["deliveries"][0]["body"]["outcome"], "pending");
    assert_eq!(answer["deliveries"][1]["body"]["outcome"], "duplicate");
    assert!(
        has_item(
            &format!("PENDING_REWARD#{user}"),
            &format!("REWARD#{event_id}")
        )
        .await
    );
    assert_eq!(balance_in_table(&user).await, None);

    let email = format!("{user}@example.com");
    let bearer = local_bearer(&user, Some(&email));
    let (status, _, body) = post_function(
        "signup",
        Some(&bearer),
        None,
        &json!({"firstName": "Early", "lastName": "Bird"}).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // Signup itself applied it (read from the table, before any GET /credits could).
    assert_eq!(balance_in_table(&user).await, Some(300));
    assert_eq!(ledger_len(&user).await, 1);
    assert!(
        !has_item(
            &format!("PENDING_REWARD#{user}"),
            &format!("REWARD#{event_id}")
        )
        .await
    );
    // A repeat signup and a late redelivery change nothing.
    let (status, _, _) = post_function(
        "signup",
        Some(&bearer),
        None,
        &json!({"firstName": "Early", "lastName": "Bird"}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let answer = deliver(reward_request(&user, &event_id, 300).await).await;
    assert_eq!(
        answer["deliveries"][0]["body"]["outcome"], "duplicate",
        "{answer}"
    );
    let (status, credits) = call_as(reqwest::Method::GET, "credits", &bearer).await;
    assert_eq!(status, 200, "{credits}");
    assert_eq!(
        (
            credits["balance"].as_i64(),
            credits["entries"].as_array().unwrap().len()
        ),
        (Some(300), 1)
    );
}

async fn depersonalized(user: &str) -> usize {
    let v: Value = reqwest::get(standin("/_standin/depersonalized"))
        .await
        .expect("Cello's stand-in answers")
        .json()
        .await
        .unwrap();
    v["productUserIds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|id| id.as_str() == Some(user))
        .count()
}

/// Every string in the table that holds `needle` (case-insensitive), as `pk/sk: attribute`.
async fn mentions(needle: &str) -> Vec<String> {
    fn strings(v: &aws_sdk_dynamodb::types::AttributeValue, out: &mut Vec<String>) {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        match v {
            A::S(s) => out.push(s.clone()),
            A::M(m) => m.values().for_each(|v| strings(v, out)),
            A::L(l) => l.iter().for_each(|v| strings(v, out)),
            A::Ss(ss) => out.extend(ss.iter().cloned()),
            _ => {}
        }
    }
    let needle = needle.to_lowercase();
    let mut found = Vec::new();
    for item in all_items().await {
        let at = format!(
            "{}/{}",
            item.get("pk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
            item.get("sk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        );
        for (name, value) in &item {
            let mut texts = Vec::new();
            strings(value, &mut texts);
            if texts.iter().any(|t| t.to_lowercase().contains(&needle)) {
                found.push(format!("{at}: {name}"));
            }
        }
    }
    found
}

#[tokio::test]
async fn erasing_twice_leaves_no_personal_data_and_calls_cello_once() {
    let user = unique("rw-erase");
    let email = format!("{user}@example.com");
    let (first, last) = (
        format!("Zelda{}", &user[user.len() - 6..]),
        format!("Quux{}", &user[user.len() - 5..]),
    );
    let bearer = local_bearer(&user, Some(&email));
    let (status, _, signed) = post_function(
        "signup",
        Some(&bearer),
        None,
        &json!({"firstName": first, "lastName": last, "ucc": "pNRB1aYqArN"}).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{signed}");
    let customer = signed["stripeCustomerId"].as_str().unwrap().to_owned();
    let event_id = format!("evt_{}", unique("x").replace('-', "_"));
    let answer = deliver(reward_request(&user, &event_id, 40).await).await;
    assert_eq!(
        answer["deliveries"][0]["body"]["outcome"], "credited",
        "{answer}"
    );
    assert!(
        !mentions(&email).await.is_empty(),
        "the test sees the email before erasure"
    );

    let (status, erased) = call_as(reqwest::Method::DELETE, "account", &bearer).await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(
        (
            erased["erased"].as_bool(),
            erased["alreadyErased"].as_bool()
        ),
        (Some(true), Some(false))
    );
    for needle in [email.as_str(), first.as_str(), last.as_str()] {
        assert_eq!(
            mentions(needle).await,
            Vec::<String>::new(),
            "{needle} is still stored"
        );
    }
    assert!(!has_item(&format!("EMAIL#{email}"), "EMAIL").await);
    let stored = store().await.get_user(&user).await.unwrap().unwrap();
    assert!(stored.erased_at.is_some());
    assert_eq!(
        stored.stripe_customer_id.as_deref(),
        Some(customer.as_str()),
        "the billing link stays"
    );
    assert_eq!(
        balance_in_table(&user).await,
        Some(40),
        "credits are not personal data"
    );
    let customer_at_stripe: Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/customers/{customer}",
            stack_var("STRIPE_API_BASE").trim_end_matches('/')
        ))
        .bearer_auth(stripe_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        customer_at_stripe["deleted"] == json!(true) || customer_at_stripe.get("error").is_some(),
        "the Stripe customer is gone: {customer_at_stripe}"
    );

    // The second run (through the command's use case, then the route) changes nothing.
    let before = (
        partition(&format!("USER#{user}")).await,
        partition(&format!("CUSTOMER#{customer}")).await,
    );
    let env = shared::config::from_env();
    let cello = CelloApi::from_secrets(
        &stack_secrets().await,
        CelloApiSettings::from_settings(&env).unwrap(),
    );
    let stripe = rewards::erasure::StripeCustomers::new(
        Some(&stripe_key()),
        Some(&stack_var("STRIPE_API_BASE")),
    );
    let table = store().await;
    let again = rewards::erasure::Eraser {
        store: &table,
        cello: &cello,
        stripe: &stripe,
        stripe_erasure: rewards::settings::StripeErasure::Delete,
        clock: &shared::clock::SystemClock,
    }
    .erase(&user, "integration-test")
    .await
    .unwrap();
    assert!(again.already_erased);
    let (status, repeat) = call_as(reqwest::Method::DELETE, "account", &bearer).await;
    assert_eq!(status, 200, "{repeat}");
    assert_eq!(repeat["alreadyErased"], true);
    assert_eq!(repeat["steps"], erased["steps"]);
    let after = (
        partition(&format!("USER#{user}")).await,
        partition(&format!("CUSTOMER#{customer}")).await,
    );
    assert_eq!(before, after, "the second run changed nothing");
    assert_eq!(
        depersonalized(&user).await,
        1,
        "Cello's stand-in saw one depersonalize call"
    );
    // Signing up again cannot bring the person back.
    let (status, _, body) = post_function(
        "signup",
        Some(&bearer),
        None,
        &json!({"firstName": first, "lastName": last}).to_string(),
    )
    .await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(mentions(&email).await, Vec::<String>::new());
}
