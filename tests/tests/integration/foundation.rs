//! The foundation's adapters against the real stand-ins: conditional writes, all-or-nothing
//! transactions, secrets through the Secrets Manager API, and configuration errors at start-up.

use integration_tests::{sdk, stack_var, store, unique, user};
use shared::UserStore;
use shared::secrets::{SecretError, SecretLoader, SecretsManagerLoader};
use shared::user::CreateOutcome;

#[tokio::test]
async fn a_second_conditional_create_is_refused_and_reports_the_stored_user() {
    let store = store().await;
    let id = unique("user");
    let email = format!("{}@example.com", unique("ada"));
    let first = user(&id, &email);
    assert_eq!(
        store.create_user(&first).await.unwrap(),
        CreateOutcome::Created
    );

    let mut retry = first.clone();
    retry.first_name = "Changed".into();
    match store.create_user(&retry).await.unwrap() {
        CreateOutcome::Existing(stored) => {
            assert_eq!(*stored, first, "the retry must not overwrite")
        }
        other => panic!("expected Existing, got {other:?}"),
    }
    assert_eq!(store.get_user(&id).await.unwrap(), Some(first));
}

/// What lets a repeat signup skip its second read: the refused element's item as stored, when
/// the element asked for it, and none when it did not.
#[tokio::test]
async fn a_refused_transaction_returns_the_stored_item_only_when_asked() {
    use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure};
    use shared::table::{Transacted, key, keys, put, s};
    let store = store().await;
    let id = unique("user");
    let stored = user(&id, &format!("{}@example.com", unique("ada")));
    store.create_user(&stored).await.unwrap();

    let again = |asked: bool| {
        let (pk, sk) = keys::user(&id);
        let mut item = key(pk, sk);
        item.insert("firstName".into(), s("Someone else"));
        let builder = Put::builder()
            .table_name(&store.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)");
        let builder = if asked {
            builder.return_values_on_condition_check_failure(
                ReturnValuesOnConditionCheckFailure::AllOld,
            )
        } else {
            builder
        };
        vec![put(builder.build()).unwrap()]
    };
    let (done, item) = store.transact_returning(again(true)).await.unwrap();
    assert_eq!(done, Transacted::Refused(0));
    let item = item.expect("the stored item comes back with the refusal");
    assert_eq!(item["firstName"].as_s().unwrap(), "Ada");
    assert_eq!(item["userId"].as_s().unwrap(), &id);

    let (done, item) = store.transact_returning(again(false)).await.unwrap();
    assert_eq!((done, item), (Transacted::Refused(0), None));
    assert_eq!(store.get_user(&id).await.unwrap(), Some(stored));
}

#[tokio::test]
async fn a_transaction_that_fails_writes_nothing() {
    let store = store().await;
    let email = format!("{}@Example.com", unique("shared"));
    let owner = user(&unique("owner"), &email);
    assert_eq!(
        store.create_user(&owner).await.unwrap(),
        CreateOutcome::Created
    );

    // Same email in another case: the email item's condition fails, so the user item of the
    // same transaction must not be written either.
    let intruder = user(&unique("intruder"), &email.to_uppercase());
    assert_eq!(
        store.create_user(&intruder).await.unwrap(),
        CreateOutcome::EmailTaken
    );
    assert_eq!(store.get_user(&intruder.user_id).await.unwrap(), None);
}

#[tokio::test]
async fn a_secret_created_through_the_api_reads_back_through_the_adapter() {
    let sdk = sdk().await;
    let client = shared::aws::secrets_manager(&sdk);
    let name = unique("cello/it");
    client
        .create_secret()
        .name(&name)
        .secret_string(
            r#"{"celloProductId":"p_it","celloProductSecret":"s3cr3t","stripeSecretKey":"sk_test_1","stripeWebhookSecrets":["whsec_a","whsec_b"]}"#,
        )
        .send()
        .await
        .unwrap();

    let loaded = SecretsManagerLoader::new(client.clone(), &name)
        .load()
        .await
        .unwrap();
    assert_eq!(loaded.cello_product_id().unwrap(), "p_it");
    assert_eq!(loaded.cello_product_secret().unwrap(), "s3cr3t");
    assert_eq!(loaded.stripe_webhook_secrets().unwrap().len(), 2);
    assert!(!loaded.version.is_empty());

    let missing = SecretsManagerLoader::new(client, unique("absent"))
        .load()
        .await;
    assert!(
        matches!(missing, Err(SecretError::NotFound(_))),
        "{missing:?}"
    );
}

#[tokio::test]
async fn the_environment_secret_exists_with_every_field() {
    let client = shared::aws::secrets_manager(&sdk().await);
    let secrets = SecretsManagerLoader::new(client, stack_var("SECRET_ID"))
        .load()
        .await
        .unwrap();
    secrets.cello_product_id().unwrap();
    secrets.cello_product_secret().unwrap();
    secrets.stripe_secret_key().unwrap();
    secrets.stripe_webhook_secrets().unwrap();
}

/// Each function refuses to start without its configuration and names the missing setting.
#[test]
fn functions_fail_at_start_up_naming_the_missing_setting() {
    for function in ["cello-token", "signup", "stripe-webhook", "cello-events"] {
        let out = std::process::Command::new(env!("CARGO"))
            .args([
                "run",
                "--quiet",
                "--manifest-path",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"),
                "-p",
                function,
            ])
            .env_remove("TABLE_NAME")
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9") // never reached: init fails first
            .output()
            .expect("cargo run");
        assert!(
            !out.status.success(),
            "{function} started without TABLE_NAME"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("TABLE_NAME is required"),
            "{function} stderr: {stderr}"
        );
    }
}
