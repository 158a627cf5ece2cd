//! `doctor status`: Cello's four components as our records see them, each healthy (a successful
//! event within the window: 1 h in production, 24 h in sandbox, as Cello's portal counts), stale
//! (events, but none in the window) or broken (none yet), with the evidence and the likely cause.

use crate::finding::{Finding, Severity, ago, iso, worst};
use crate::model::{CustomerStateView, HealthView, InvoiceView, Row, UserView, version_time};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Stale,
    Broken,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Stale => "stale",
            Self::Broken => "broken",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    pub name: &'static str,
    pub health: Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<i64>,
    /// Events in the window; `None` where only a running count is kept (tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_window: Option<u64>,
    pub total: u64,
    pub evidence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likely_cause: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub window_seconds: i64,
    pub components: Vec<Component>,
    pub configuration: Vec<Finding>,
    pub status: Severity,
}

/// The rows status reads: the health marks, users, customer states, subscriptions, invoices.
pub const SCAN_EXACT: &[&str] = &["PROFILE", "STATE", "TOKEN_MINTED"];
pub const SCAN_PREFIXES: &[&str] = &["INVOICE#", "SUBSCRIPTION#"];

/// Counts of one kind of evidence.
#[derive(Default)]
struct Tally {
    last: Option<i64>,
    in_window: u64,
    total: u64,
}

impl Tally {
    fn add(&mut self, at: Option<i64>, since: i64) {
        self.total += 1;
        if let Some(at) = at {
            self.last = Some(self.last.map_or(at, |l| l.max(at)));
            if at >= since {
                self.in_window += 1;
            }
        }
    }
}

/// The four components from the scanned rows, at `now`, for a window of `window` seconds.
pub fn components(rows: &[Row], now: i64, window: i64) -> Vec<Component> {
    let since = now - window;
    let (mut tokens, mut token_count) = (Tally::default(), 0i64);
    let (mut signups, mut referred, mut linked) = (Tally::default(), Tally::default(), 0u64);
    let (mut customers, mut subscriptions, mut invoices) =
        (Tally::default(), 0u64, Tally::default());
    for row in rows {
        match (row.pk.as_str(), row.sk.as_str()) {
            ("HEALTH", "TOKEN_MINTED") => {
                let h: HealthView = row.view();
                tokens.add(h.last_at, since);
                token_count += h.count.unwrap_or(0);
            }
            (pk, "PROFILE") if pk.starts_with("USER#") => {
                let u: UserView = row.view();
                if u.erased_at.is_some() {
                    continue;
                }
                signups.add(u.created_at, since);
                if u.ucc.is_some() {
                    referred.add(u.created_at, since);
                }
                if u.stripe_customer_id.is_some() {
                    linked += 1;
                }
            }
            (pk, "STATE") if pk.starts_with("CUSTOMER#") => {
                let c: CustomerStateView = row.view();
                if c.user_id.is_some() {
                    customers.add(version_time(c.version.as_deref()), since);
                }
            }
            (_, sk) if sk.starts_with("SUBSCRIPTION#") => subscriptions += 1,
            (_, sk) if sk.starts_with("INVOICE#") => {
                let i: InvoiceView = row.view();
                invoices.add(i.paid_at, since);
            }
            _ => {}
        }
    }

    let referral_cause = "no widget token was minted: the page never called POST /cello/token \
        (or cello-token runs a build without the health mark)"
        .to_owned();
    let attribution_cause = if signups.total > 0 {
        format!(
            "{} signup(s), none with a ucc: Cello's attribution library is not on the landing or \
             signup page, or the signup form does not send the ucc (body `ucc` or the cello-referral cookie)",
            signups.total
        )
    } else {
        "no signup yet: the page has not called POST /signup".to_owned()
    };
    let signups_cause = if linked > 0 {
        format!(
            "signup created {linked} Stripe customer(s) but no customer event with new_user_id reached \
             POST /stripe/webhook: register the endpoint for customer.created/updated and put its signing \
             secret in stripeWebhookSecrets"
        )
    } else {
        "no Stripe customer was created by signup yet".to_owned()
    };
    let purchases_cause = if subscriptions > 0 {
        format!(
            "{subscriptions} subscription(s) recorded but no invoice.paid: select invoice.paid on the webhook endpoint"
        )
    } else {
        "no invoice paid yet (no subscription recorded either)".to_owned()
    };

    vec![
        Component {
            in_window: None,
            total: token_count.max(0) as u64,
            ..component(
                "Referral component",
                &tokens,
                now,
                window,
                format!(
                    "widget tokens minted (at least {token_count} in all, noted once per \
                     container every 5 min)"
                ),
                referral_cause,
            )
        },
        component(
            "Attribution library",
            &referred,
            now,
            window,
            format!("signups carrying a ucc (of {} signups)", signups.total),
            attribution_cause,
        ),
        component(
            "Signups tracking",
            &customers,
            now,
            window,
            "Stripe customers with Cello metadata, from verified customer events".to_owned(),
            signups_cause,
        ),
        component(
            "Purchases tracking",
            &invoices,
            now,
            window,
            "verified invoice.paid events".to_owned(),
            purchases_cause,
        ),
    ]
}

fn component(
    name: &'static str,
    t: &Tally,
    now: i64,
    window: i64,
    what: String,
    cause: String,
) -> Component {
    let (health, likely_cause) = match t.last {
        None => (Health::Broken, Some(format!("no event yet: {cause}"))),
        Some(last) if now - last > window => (
            Health::Stale,
            Some(format!(
                "the last event was {}, outside the {} window: {cause}",
                ago(now, last),
                window_name(window)
            )),
        ),
        Some(_) => (Health::Healthy, None),
    };
    let evidence = match t.last {
        None => format!("{what}: none"),
        Some(last) => format!(
            "{what}: last {} ({}), {} in the window, {} in all",
            iso(last),
            ago(now, last),
            t.in_window,
            t.total
        ),
    };
    let evidence = if name == "Referral component" {
        match t.last {
            None => format!("{what}: none"),
            Some(last) => format!("{what}: last {} ({})", iso(last), ago(now, last)),
        }
    } else {
        evidence
    };
    Component {
        name,
        health,
        last_event_at: t.last,
        in_window: Some(t.in_window),
        total: t.total,
        evidence,
        likely_cause,
    }
}

pub fn window_name(seconds: i64) -> String {
    if seconds % 3600 == 0 {
        format!("{} h", seconds / 3600)
    } else {
        format!("{seconds} s")
    }
}

pub fn report(
    components: Vec<Component>,
    configuration: Vec<Finding>,
    window: i64,
) -> StatusReport {
    let components_worst = components
        .iter()
        .map(|c| match c.health {
            Health::Healthy => Severity::Ok,
            Health::Stale => Severity::Warning,
            Health::Broken => Severity::Error,
        })
        .max()
        .unwrap_or(Severity::Ok);
    StatusReport {
        window_seconds: window,
        status: components_worst.max(worst(&configuration)),
        components,
        configuration,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fresh_table_has_four_broken_components_with_no_event_yet() {
        let c = components(&[], 10_000, 3600);
        assert_eq!(c.len(), 4);
        for comp in &c {
            assert_eq!(comp.health, Health::Broken, "{comp:?}");
            assert!(
                comp.likely_cause
                    .as_deref()
                    .unwrap()
                    .starts_with("no event yet")
            );
        }
    }

    #[test]
    fn recent_events_are_healthy_old_ones_stale_and_causes_follow_the_evidence() {
        let now = 100_000;
        let rows = vec![
            Row::new(
                "HEALTH",
                "TOKEN_MINTED",
                json!({"lastAt": now - 60, "count": 7}),
            ),
            Row::new(
                "USER#a",
                "PROFILE",
                json!({"createdAt": now - 10, "ucc": "x", "stripeCustomerId": "cus_a"}),
            ),
            Row::new(
                "USER#b",
                "PROFILE",
                json!({"createdAt": now - 20, "stripeCustomerId": "cus_b"}),
            ),
            Row::new(
                "CUSTOMER#cus_a",
                "STATE",
                json!({"userId": "a", "version": format!("{:012}:0:evt", now - 5_000)}),
            ),
            Row::new("CUSTOMER#cus_a", "SUBSCRIPTION#sub_1", json!({})),
        ];
        let c = components(&rows, now, 3600);
        assert_eq!(c[0].health, Health::Healthy);
        assert!(c[0].evidence.contains("at least 7"), "{}", c[0].evidence);
        assert_eq!(
            (c[1].health, c[1].in_window, c[1].total),
            (Health::Healthy, Some(1), 1)
        );
        assert_eq!((c[0].in_window, c[0].total), (None, 7));
        assert_eq!(c[2].health, Health::Stale);
        assert!(
            c[2].likely_cause
                .as_deref()
                .unwrap()
                .contains("created 2 Stripe customer")
        );
        assert_eq!(c[3].health, Health::Broken);
        assert!(
            c[3].likely_cause
                .as_deref()
                .unwrap()
                .contains("select invoice.paid")
        );
        let r = report(c, vec![], 3600);
        assert_eq!(r.status, Severity::Error);
    }
}
