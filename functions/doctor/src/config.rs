//! The configuration checks of `doctor status`: the environment's secret has every key, its
//! product, keys and webhook secrets look like one environment (and that of `STRIPE_MODE`),
//! Cello's API accepts its keys when they are there, and the JWT issuer answers when given.
//! Pure: the secret and the probes' outcomes are passed in. Values are never printed.

use crate::finding::Finding;
use shared::config::StripeMode;
use shared::secrets::AppSecrets;

#[derive(Debug, Clone)]
pub struct ConfigFacts {
    pub secret_id: String,
    /// The secret as read, or why it could not be.
    pub secret: Result<AppSecrets, String>,
    pub stripe_mode: StripeMode,
    /// `CELLO_API_ENV`, when set (Cello's client defaults to sandbox).
    pub cello_env: Option<String>,
    /// The outcome of one authenticated read at Cello's API, when its keys are in the secret.
    pub cello_keys: Option<Result<(), String>>,
    /// The JWT issuer and the outcome of fetching its OpenID configuration, when given.
    pub issuer: Option<(String, Result<(), String>)>,
}

pub fn checks(f: &ConfigFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let mode = if f.stripe_mode.is_live() {
        "live"
    } else {
        "test"
    };
    let secret = match &f.secret {
        Ok(s) => s,
        Err(why) => {
            out.push(Finding::error(
                "secret",
                format!("the secret {} could not be read: {why}", f.secret_id),
                "check SECRET_ID and that your credentials may call secretsmanager:GetSecretValue on it \
                 (the template's DoctorReadOnlyPolicy grants it)",
            ));
            return out;
        }
    };
    let missing: Vec<&str> = [
        ("celloProductId", secret.cello_product_id().is_err()),
        ("celloProductSecret", secret.cello_product_secret().is_err()),
        ("stripeSecretKey", secret.stripe_secret_key().is_err()),
        (
            "stripeWebhookSecrets",
            secret.stripe_webhook_secrets().is_err(),
        ),
    ]
    .into_iter()
    .filter_map(|(name, gone)| gone.then_some(name))
    .collect();
    if missing.is_empty() {
        out.push(Finding::ok(
            "secret_keys",
            "the secret has every required key",
        ));
    } else {
        out.push(Finding::error(
            "secret_keys",
            format!("the secret lacks {}", missing.join(", ")),
            "fill them (docs/deployment.md, \"Filling the secret\"); the functions stop at init without them",
        ));
    }
    for (a, b, what) in [
        (
            secret.cello_api_access_key_id.is_some(),
            secret.cello_api_secret_access_key.is_some(),
            "celloApiAccessKeyId and celloApiSecretAccessKey",
        ),
        (
            secret.cello_rewards_webhook_username.is_some(),
            secret.cello_rewards_webhook_password.is_some(),
            "celloRewardsWebhookUsername and celloRewardsWebhookPassword",
        ),
    ] {
        if a != b {
            out.push(Finding::warning(
                "secret_pairs",
                format!("only one of {what} is set"),
                "set both or neither",
            ));
        }
    }

    if let Ok(key) = secret.stripe_secret_key() {
        match shared::stripe::check_key_mode(key, f.stripe_mode) {
            Ok(()) => out.push(Finding::ok(
                "stripe_key_mode",
                format!("the Stripe key is a {mode}-mode key, as STRIPE_MODE={mode} expects"),
            )),
            Err(why) => out.push(Finding::error(
                "stripe_key_mode",
                why,
                "test and live mixed: put the key of STRIPE_MODE's mode in the secret (sk_test_… for test, sk_live_… for live)",
            )),
        }
    }
    if let Ok(secrets) = secret.stripe_webhook_secrets() {
        let odd = secrets
            .iter()
            .filter(|s| !s.expose().starts_with("whsec_"))
            .count();
        if odd == 0 {
            out.push(Finding::ok(
                "webhook_secrets",
                format!("{} webhook signing secret(s), each whsec_…", secrets.len()),
            ));
        } else {
            out.push(Finding::warning(
                "webhook_secrets",
                format!("{odd} of the webhook secrets do not start with whsec_"),
                "copy the endpoint's signing secret from Stripe (Developers → Webhooks → the endpoint)",
            ));
        }
    }

    let cello_for_mode = if f.stripe_mode.is_live() {
        "production"
    } else {
        "sandbox"
    };
    let cello_env = f.cello_env.as_deref().unwrap_or("sandbox");
    match f.cello_env.as_deref() {
        Some(env) if env == cello_for_mode => out.push(Finding::ok(
            "one_environment",
            format!("Stripe {mode} mode with Cello {env} (CELLO_API_ENV)"),
        )),
        None if !f.stripe_mode.is_live() => out.push(Finding::ok(
            "one_environment",
            format!("Stripe {mode} mode with Cello sandbox (CELLO_API_ENV unset: sandbox)"),
        )),
        None => out.push(Finding::warning(
            "one_environment",
            "Stripe live mode, CELLO_API_ENV unset (sandbox assumed)",
            "run the doctor with CELLO_API_ENV=production, as the stack's functions are",
        )),
        Some(env) => out.push(Finding::error(
            "one_environment",
            format!(
                "Stripe {mode} mode with Cello {env}: the product id, secret and keys must be those of Cello {cello_for_mode}"
            ),
            "sandbox goes with Stripe test mode and production with live: set CELLO_API_ENV and the secret's \
             Cello product id and secret from the same Cello environment",
        )),
    }
    if let (Ok(id), Ok(product_secret)) = (secret.cello_product_id(), secret.cello_product_secret())
    {
        if product_secret.len() < 16 || product_secret == id {
            out.push(Finding::warning(
                "cello_product",
                "the Cello product secret looks too short to be the one Cello issued",
                "copy the product secret of this environment from Cello's portal (Integrations → Access keys)",
            ));
        } else {
            out.push(Finding::ok(
                "cello_product",
                format!("Cello product {id} with its secret"),
            ));
        }
    }
    match &f.cello_keys {
        None => out.push(Finding::ok(
            "cello_api",
            "Cello's API keys are not configured (optional: reporting and the reward check need them)",
        )),
        Some(Ok(())) => out.push(Finding::ok(
            "cello_api",
            format!("Cello's {cello_env} API accepts the keys"),
        )),
        Some(Err(why)) => out.push(Finding::error(
            "cello_api",
            format!("Cello's {cello_env} API did not accept the keys: {why}"),
            "the keys belong to another Cello environment, or were rotated: copy them from Cello's portal",
        )),
    }
    match &f.issuer {
        None => {}
        Some((url, Ok(()))) => out.push(Finding::ok(
            "jwt_issuer",
            format!("the JWT issuer {url} serves its OpenID configuration"),
        )),
        Some((url, Err(why))) => out.push(Finding::error(
            "jwt_issuer",
            format!("the JWT issuer {url} is not reachable: {why}"),
            "the API's authorizer fetches the issuer's keys: check the template's JwtIssuer parameter",
        )),
    }
    out
}

/// Fetches `<issuer>/.well-known/openid-configuration` and checks its `issuer`.
pub async fn probe_issuer(issuer: &str) -> Result<(), String> {
    use http_body_util::{BodyExt, Empty};
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https);
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let uri: http::Uri = url.parse().map_err(|_| format!("{url} is not a URL"))?;
    let fetch = async {
        let resp = client.get(uri).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("{url} answered {status}"));
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| format!("{url} is not JSON"))?;
        match doc["issuer"].as_str() {
            Some(i) if i.trim_end_matches('/') == issuer.trim_end_matches('/') => Ok(()),
            other => Err(format!("its issuer is {other:?}, not {issuer}")),
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), fetch)
        .await
        .map_err(|_| format!("{url} did not answer within 5 s"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::secrets::AppSecrets;

    fn facts(json: &str, mode: StripeMode, env: &str) -> ConfigFacts {
        ConfigFacts {
            secret_id: "s".into(),
            secret: Ok(AppSecrets::parse(json, "v").unwrap()),
            stripe_mode: mode,
            cello_env: Some(env.into()),
            cello_keys: None,
            issuer: None,
        }
    }

    const GOOD: &str = r#"{"celloProductId":"p_1","celloProductSecret":"0123456789abcdef01","stripeSecretKey":"sk_test_1","stripeWebhookSecrets":["whsec_1"]}"#;

    fn codes(f: &[Finding], sev: crate::finding::Severity) -> Vec<&'static str> {
        f.iter()
            .filter(|x| x.severity == sev)
            .map(|x| x.code)
            .collect()
    }

    #[test]
    fn a_complete_test_secret_is_green_and_never_printed() {
        let f = checks(&facts(GOOD, StripeMode::Test, "sandbox"));
        assert!(
            codes(&f, crate::finding::Severity::Error).is_empty(),
            "{f:?}"
        );
        let printed = format!("{f:?}");
        assert!(
            !printed.contains("sk_test_1")
                && !printed.contains("whsec_1")
                && !printed.contains("0123456789abcdef01")
        );
    }

    #[test]
    fn mixed_modes_missing_keys_and_bad_probes_are_errors() {
        let f = checks(&facts(GOOD, StripeMode::Live, "sandbox"));
        assert_eq!(
            codes(&f, crate::finding::Severity::Error),
            vec!["stripe_key_mode", "one_environment"]
        );
        let f = checks(&facts(
            r#"{"celloProductId":"p"}"#,
            StripeMode::Test,
            "sandbox",
        ));
        let missing = f.iter().find(|x| x.code == "secret_keys").unwrap();
        assert!(
            missing
                .message
                .contains("celloProductSecret, stripeSecretKey, stripeWebhookSecrets"),
            "{missing:?}"
        );
        let mut probed = facts(GOOD, StripeMode::Test, "sandbox");
        probed.cello_keys = Some(Err("refused".into()));
        probed.issuer = Some(("https://issuer".into(), Err("timeout".into())));
        assert_eq!(
            codes(&checks(&probed), crate::finding::Severity::Error),
            vec!["cello_api", "jwt_issuer"]
        );
        let unreadable = ConfigFacts {
            secret: Err("not found".into()),
            ..facts(GOOD, StripeMode::Test, "sandbox")
        };
        assert_eq!(
            codes(&checks(&unreadable), crate::finding::Severity::Error),
            vec!["secret"]
        );
    }
}
