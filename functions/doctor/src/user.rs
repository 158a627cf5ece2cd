//! `doctor user <productUserId>`: the user's referral story in order, and every finding with
//! its fix. Pure: the facts are read beforehand (records, Stripe, Cello) and passed in.

use crate::finding::{Finding, Severity, iso, worst};
use crate::model::{CustomerRecords, UserRecords, version_time};
use crate::stripe::{Lookup, StripeCustomer, StripeSubscription};
use serde::Serialize;
use shared::cello_api::ReferralCode;

/// A discount that began this long after the subscription started was added afterwards.
pub const DISCOUNT_SLACK_SECONDS: i64 = 60;

/// What Stripe said, if it was asked.
#[derive(Debug, Clone, PartialEq)]
pub enum StripeFacts {
    NotConfigured,
    Unavailable(String),
    Read {
        customer: Lookup<StripeCustomer>,
        subscriptions: Vec<StripeSubscription>,
    },
}

/// What Cello's API said about the user's ucc, if it was asked.
#[derive(Debug, Clone, PartialEq)]
pub enum CelloFacts {
    NotConfigured,
    Unavailable(String),
    Code(Option<ReferralCode>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserFacts {
    pub user_id: String,
    pub user: UserRecords,
    pub customer: Option<CustomerRecords>,
    pub stripe: StripeFacts,
    pub cello: CelloFacts,
}

/// One step of the story, in time order where the time is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    pub what: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserReport {
    pub user_id: String,
    pub story: Vec<Step>,
    pub findings: Vec<Finding>,
    pub status: Severity,
}

fn step(at: Option<i64>, what: &str, detail: impl Into<String>) -> Step {
    Step {
        at,
        what: what.to_owned(),
        detail: detail.into(),
    }
}

fn when(at: Option<i64>) -> String {
    at.map(iso).unwrap_or_else(|| "an unknown time".into())
}

/// The story and the findings. `live`: the environment's Stripe mode (`STRIPE_MODE=live`).
pub fn diagnose(facts: &UserFacts, live: bool) -> UserReport {
    let mut story = Vec::new();
    let mut findings = Vec::new();
    let uid = facts.user_id.as_str();
    let mode = if live { "live" } else { "test" };

    let erased_at = facts
        .user
        .profile
        .as_ref()
        .and_then(|p| p.erased_at)
        .or_else(|| facts.user.erasure.as_ref().and_then(|e| e.completed_at));
    if erased_at.is_some() || facts.user.erasure.is_some() {
        story.push(step(
            erased_at,
            "erased",
            "the user's personal data was erased (and depersonalized at Cello)",
        ));
        findings.push(Finding::error(
            "user_erased",
            format!("user {uid} was erased at {}: no referral is rewarded for an erased person", when(erased_at)),
            "nothing to fix: an erased user's referral story ends here (the billing facts kept carry no PII)",
        ));
        return report(uid, story, findings);
    }

    let Some(profile) = &facts.user.profile else {
        findings.push(Finding::error(
            "user_unknown",
            format!("no signup is recorded for productUserId {uid}"),
            "the widget's productUserId must be the id POST /signup stored (the sign-in's sub); \
             check the id, or make the page call POST /signup after sign-in",
        ));
        return report(uid, story, findings);
    };

    // Signup and the ucc.
    let stripe_customer = match &facts.stripe {
        StripeFacts::Read {
            customer: Lookup::Found(c),
            ..
        } => Some(c),
        _ => None,
    };
    let stripe_ucc = stripe_customer.and_then(|c| c.metadata.get("cello_ucc").cloned());
    let state = facts.customer.as_ref().and_then(|c| c.state.as_ref());
    let event_ucc = state.and_then(|s| s.ucc.clone());
    let ucc = profile.ucc.clone();
    story.push(step(
        profile.created_at,
        "signup",
        match (&ucc, profile.ucc_source.as_deref()) {
            (Some(u), Some(src)) => format!("signed up with ucc {u} (from the {src})"),
            (Some(u), None) => format!("signed up with ucc {u}"),
            (None, _) => "signed up without a ucc".to_owned(),
        },
    ));
    match (&ucc, stripe_ucc.as_ref().or(event_ucc.as_ref())) {
        (Some(u), _) => {
            findings.push(Finding::ok("ucc", format!("signup stored the ucc {u}")));
            if profile.ucc_standard == Some(false) {
                findings.push(Finding::warning(
                    "ucc_nonstandard",
                    format!("the ucc {u} is not Cello's 11 alphanumerics"),
                    "check the referral link: Cello's codes look like pNRB1aYqArN (test codes such as `test` are fine)",
                ));
            }
        }
        (None, Some(later)) => findings.push(Finding::warning(
            "ucc_not_at_signup",
            format!("signup carried no ucc, but the Stripe customer has cello_ucc {later}: it was attached later"),
            "send the ucc with POST /signup (body `ucc` or the cello-referral cookie) so it is on the customer from its creation",
        )),
        (None, None) => findings.push(Finding::error(
            "no_ucc",
            format!("user {uid} has no referral code: signup carried no ucc and the Stripe customer has no cello_ucc"),
            "put Cello's attribution library on the landing and signup pages and send its ucc with POST /signup \
             (body `ucc`, or the cello-referral cookie on the API's domain); an unreferred user is never rewarded",
        )),
    }
    if let Some(u) = ucc.as_ref().or(stripe_ucc.as_ref()) {
        match &facts.cello {
            CelloFacts::Code(Some(code)) if code.valid => findings.push(Finding::ok(
                "ucc_at_cello",
                format!(
                    "Cello knows the ucc {u} (referrer {})",
                    code.product_user_id.as_deref().unwrap_or("unknown")
                ),
            )),
            CelloFacts::Code(_) => findings.push(Finding::error(
                "ucc_unknown_at_cello",
                format!("Cello's API does not know the ucc {u} as a valid code"),
                "the code comes from another environment (sandbox vs production) or was mistyped",
            )),
            CelloFacts::Unavailable(why) => findings.push(Finding::warning(
                "cello_unavailable",
                format!("Cello's API could not be asked about the ucc: {why}"),
                "retry later; check the Cello API keys in the secret",
            )),
            CelloFacts::NotConfigured => {}
        }
    }

    // The Stripe customer.
    let Some(customer_id) = profile.stripe_customer_id.clone() else {
        findings.push(Finding::error(
            "no_customer",
            "signup has not created the Stripe customer yet (the user is stored, the customer is not)",
            "the page must retry POST /signup until it answers 200/201 (a 503 means Stripe was down; the retry completes it)",
        ));
        return report(uid, story, findings);
    };
    let records = facts.customer.clone().unwrap_or_else(|| CustomerRecords {
        customer_id: customer_id.clone(),
        ..CustomerRecords::default()
    });
    match &facts.stripe {
        StripeFacts::Read { customer, .. } => match customer {
            Lookup::Found(c) => {
                story.push(step(
                    c.created,
                    "stripe customer",
                    format!(
                        "{customer_id} in Stripe now: {}",
                        metadata_line(&c.metadata)
                    ),
                ));
                if c.deleted {
                    findings.push(Finding::error(
                        "customer_deleted",
                        format!("the Stripe customer {customer_id} is deleted"),
                        "a deleted customer pays no invoices: recreate it through POST /signup only if the user is still active",
                    ));
                }
                if c.livemode.is_some_and(|l| l != live) {
                    findings.push(mode_mixed(format!(
                        "the Stripe customer {customer_id} is a {} customer, but this environment is {mode} (STRIPE_MODE)",
                        if live { "test" } else { "live" }
                    )));
                }
                check_metadata(uid, &c.metadata, ucc.as_deref(), &mut findings, "Stripe holds");
            }
            Lookup::Missing => findings.push(mode_mixed(format!(
                "Stripe does not know the customer {customer_id} with this environment's {mode} key: \
                 it was created with the other mode's (or another account's) key"
            ))),
        },
        StripeFacts::Unavailable(why) => findings.push(Finding::warning(
            "stripe_unavailable",
            format!("Stripe could not be read: {why}; using the recorded events only"),
            "retry later, or check the Stripe key in the secret",
        )),
        StripeFacts::NotConfigured => {}
    }

    // What Stripe's events told us.
    match state {
        Some(s) => {
            story.push(step(
                version_time(s.version.as_deref()),
                "customer event",
                format!(
                    "latest verified customer event: new_user_id {}, cello_ucc {}{}",
                    s.user_id.as_deref().unwrap_or("(none)"),
                    s.ucc.as_deref().unwrap_or("(none)"),
                    if s.deleted == Some(true) { ", deleted" } else { "" }
                ),
            ));
            if stripe_customer.is_none() {
                let mut md = std::collections::BTreeMap::new();
                if let Some(u) = &s.user_id {
                    md.insert("new_user_id".to_owned(), u.clone());
                }
                if let Some(u) = &s.ucc {
                    md.insert("cello_ucc".to_owned(), u.clone());
                }
                check_metadata(uid, &md, ucc.as_deref(), &mut findings, "the last customer event showed");
            }
            findings.push(Finding::ok(
                "customer_events",
                "Stripe's customer events reach the webhook",
            ));
        }
        None => findings.push(Finding::error(
            "events_not_reaching",
            format!(
                "no Stripe event for the customer {customer_id} reached the webhook{}",
                stripe_customer
                    .and_then(|c| c.created)
                    .map(|t| format!(" (Stripe created it at {})", iso(t)))
                    .unwrap_or_default()
            ),
            "register POST /stripe/webhook in Stripe (Developers → Webhooks) for customer.created, customer.updated, \
             invoice.paid and the other events the README lists, in this mode, and put its whsec_ signing secret \
             in the secret's stripeWebhookSecrets",
        )),
    }
    if let Some(m) = &records.mode_mismatch {
        findings.push(mode_mixed(format!(
            "the webhook received a {} {} event ({}) for this customer at {} and ignored it: this environment is {mode}",
            if m.livemode == Some(true) { "live-mode" } else { "test-mode" },
            m.kind.as_deref().unwrap_or("Stripe"),
            m.event_id.as_deref().unwrap_or("?"),
            when(m.last_at),
        )));
    }
    for s in &records.checkout_sessions {
        if s.livemode.is_some_and(|l| l != live) {
            findings.push(mode_mixed(format!(
                "the checkout session {} was completed in the other Stripe mode",
                s.session_id.as_deref().unwrap_or("?")
            )));
        }
    }

    // Subscriptions and their discounts.
    let stripe_subs: &[StripeSubscription] = match &facts.stripe {
        StripeFacts::Read { subscriptions, .. } => subscriptions,
        _ => &[],
    };
    let mut sub_ids: Vec<String> = records
        .subscriptions
        .iter()
        .filter_map(|s| s.subscription_id.clone())
        .collect();
    for s in stripe_subs {
        if !sub_ids.contains(&s.id) {
            sub_ids.push(s.id.clone());
        }
    }
    for sub_id in &sub_ids {
        let recorded = records
            .subscriptions
            .iter()
            .find(|s| s.subscription_id.as_deref() == Some(sub_id));
        let live_sub = stripe_subs.iter().find(|s| &s.id == sub_id);
        let checkout = records
            .checkout_sessions
            .iter()
            .find(|c| c.subscription_id.as_deref() == Some(sub_id));
        let start = live_sub
            .and_then(|s| s.start_date)
            .or_else(|| recorded.and_then(|r| r.start_date));
        let at_creation = checkout.and_then(|c| c.coupon.clone());
        story.push(step(
            start.or_else(|| recorded.and_then(|r| version_time(r.version.as_deref()))),
            "subscription",
            format!(
                "{sub_id} {} {}, discount at creation: {}",
                recorded
                    .and_then(|r| r.plan_name.clone().or(r.price_id.clone()))
                    .unwrap_or_default(),
                recorded
                    .and_then(|r| r.status.clone())
                    .or_else(|| live_sub.and_then(|s| s.status.clone()))
                    .unwrap_or_default(),
                match &at_creation {
                    Some(c) => format!("{c} (checkout)"),
                    None => "none recorded".into(),
                }
            ),
        ));
        let mut discounts: Vec<(Option<String>, Option<i64>)> = live_sub
            .map(|s| {
                s.discounts
                    .iter()
                    .map(|d| (d.coupon.clone(), d.start))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(r) = recorded
            && (r.discount_coupon.is_some() || r.discount_start.is_some())
            && discounts.is_empty()
        {
            discounts.push((r.discount_coupon.clone(), r.discount_start));
        }
        if discounts.is_empty()
            && let Some(c) = &at_creation
        {
            findings.push(Finding::ok(
                "discount_at_creation",
                format!("{sub_id} started with the discount {c} (its checkout session)"),
            ));
        }
        for (coupon, began) in discounts {
            let late = match (began, start) {
                (Some(b), Some(s)) => b > s + DISCOUNT_SLACK_SECONDS,
                _ => false,
            };
            let coupon = coupon.unwrap_or_else(|| "a coupon".into());
            if late && at_creation.as_deref() != Some(coupon.as_str()) {
                findings.push(Finding::error(
                    "discount_after_start",
                    format!(
                        "the discount {coupon} was added to {sub_id} at {}, after the subscription started at {}: \
                         Cello counts only a discount given at creation",
                        when(began),
                        when(start)
                    ),
                    "give the new-user discount when the subscription is created (POST /checkout puts it on the \
                     Checkout Session as discounts: [{coupon}]); never add it to a running subscription",
                ));
            } else {
                findings.push(Finding::ok(
                    "discount_at_creation",
                    format!("{sub_id} started with the discount {coupon}"),
                ));
            }
        }
    }

    // Invoices, refunds and what was reported.
    let first_paid = records.first_paid_invoice();
    for inv in &records.invoices {
        story.push(step(
            inv.paid_at,
            "invoice.paid",
            format!(
                "{} {} {}{}",
                inv.invoice_id.as_deref().unwrap_or("?"),
                inv.amount_paid.map(|a| a.to_string()).unwrap_or_default(),
                inv.currency.as_deref().unwrap_or(""),
                inv.billing_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        ));
        if inv.cello_interval.is_none() && inv.price_id.is_some() {
            findings.push(Finding::warning(
                "interval_unmapped",
                format!(
                    "the invoice {} is for a price whose interval has no word in Cello's vocabulary",
                    inv.invoice_id.as_deref().unwrap_or("?")
                ),
                "Cello knows weekly, bi-weekly, monthly, quarterly, semi-annual, yearly, biennial, triennial",
            ));
        }
    }
    match first_paid {
        None => findings.push(Finding::warning(
            "no_paid_invoice",
            "no invoice.paid is recorded for this customer yet: there is no purchase to reward",
            "nothing to fix if the user has not paid; otherwise check that invoice.paid is selected on the webhook endpoint",
        )),
        Some(first) => {
            findings.push(Finding::ok(
                "paid_invoice",
                format!("first invoice paid at {}", when(first.paid_at)),
            ));
            // The ucc attached after the first paid invoice: it was not stored at signup (which
            // puts it on the customer at creation), and the customer event carrying it is later.
            let ucc_seen = state
                .filter(|s| s.ucc.is_some())
                .and_then(|s| version_time(s.version.as_deref()));
            if ucc.is_none()
                && let (Some(seen), Some(paid)) = (ucc_seen, first.paid_at)
                && seen > paid
            {
                findings.push(Finding::error(
                    "ucc_after_first_invoice",
                    format!(
                        "the ucc {} reached the customer at {}, after its first invoice.paid at {}: \
                         Cello attributes a purchase only to a customer that already carries the ucc",
                        state.and_then(|s| s.ucc.clone()).unwrap_or_default(),
                        iso(seen),
                        iso(paid)
                    ),
                    "store the ucc at signup (POST /signup with `ucc` or the cello-referral cookie), which puts it on \
                     the customer when it is created; a code attached later earns nothing for earlier invoices",
                ));
            }
        }
    }
    for r in &records.refunds {
        story.push(step(
            None,
            "refund",
            format!(
                "{} of charge {}",
                r.amount
                    .or(r.amount_refunded_total)
                    .map(|a| format!("{a} {}", r.currency.as_deref().unwrap_or("")))
                    .unwrap_or_else(|| "a refund".into()),
                r.charge_id.as_deref().unwrap_or("?")
            ),
        ));
    }
    if !records.refunds.is_empty() {
        findings.push(Finding::warning(
            "refunded",
            format!(
                "{} refund(s) recorded: Cello reverses the reward of refunded purchases",
                records.refunds.len()
            ),
            "nothing to fix; a refund is reported to Cello as charge-refunded",
        ));
    }
    let reports = facts
        .user
        .signup_report
        .iter()
        .chain(records.reports.iter());
    for rep in reports {
        story.push(step(
            rep.sent_at.or(rep.updated_at),
            "reported to Cello",
            format!(
                "{} {}: {}",
                rep.trigger.as_deref().unwrap_or("event"),
                rep.invoice_id.as_deref().unwrap_or(""),
                rep.status.as_deref().unwrap_or("?")
            ),
        ));
        if rep.status.as_deref() == Some("refused") {
            findings.push(Finding::error(
                "report_refused",
                format!(
                    "Cello refused the {} report: {}",
                    rep.trigger.as_deref().unwrap_or("event"),
                    rep.error.as_deref().unwrap_or("no message")
                ),
                "fix the field Cello names, then replay the record (docs/cello-events.md, the dead-letter queue)",
            ));
        }
    }

    story.sort_by_key(|s| s.at.unwrap_or(i64::MAX));
    report(uid, story, findings)
}

fn mode_mixed(message: String) -> Finding {
    Finding::error(
        "mode_mixed",
        message,
        "test and live are mixed: the secret's stripeSecretKey, the webhook endpoint (and its whsec_), \
         the Cello product id and STRIPE_MODE must all be of one environment",
    )
}

fn metadata_line(md: &std::collections::BTreeMap<String, String>) -> String {
    if md.is_empty() {
        return "no metadata".into();
    }
    md.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_metadata(
    uid: &str,
    md: &std::collections::BTreeMap<String, String>,
    ucc: Option<&str>,
    findings: &mut Vec<Finding>,
    source: &str,
) {
    match md.get("new_user_id") {
        Some(id) if id == uid => findings.push(Finding::ok(
            "new_user_id",
            format!("the customer's new_user_id is {uid}, the widget's productUserId"),
        )),
        Some(id) => findings.push(Finding::error(
            "user_id_mismatch",
            format!(
                "the customer's `new_user_id` is `{id}` but the widget boots with `{uid}` ({source} \
                 `{id}`): Cello cannot join the signup to the referral"
            ),
            format!(
                "new_user_id must be the productUserId of the widget token (the sign-in's sub): set the \
                 customer's metadata new_user_id to {uid}, and find what wrote {id}"
            ),
        )),
        None => findings.push(Finding::error(
            "new_user_id_missing",
            format!("the customer has no new_user_id ({source})"),
            format!("set the customer's metadata new_user_id to {uid}: POST /signup does this at creation"),
        )),
    }
    if let (Some(stored), Some(on_customer)) = (ucc, md.get("cello_ucc"))
        && stored != on_customer
    {
        findings.push(Finding::warning(
            "ucc_differs",
            format!("signup stored the ucc {stored} but the customer carries {on_customer}"),
            "Cello attributes by the customer's cello_ucc; check what changed it",
        ));
    }
}

fn report(uid: &str, story: Vec<Step>, findings: Vec<Finding>) -> UserReport {
    UserReport {
        user_id: uid.to_owned(),
        status: worst(&findings),
        story,
        findings,
    }
}
