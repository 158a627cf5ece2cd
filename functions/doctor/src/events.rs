//! `doctor events [--since]`: the latest verified events, newest first, each with per-field
//! findings like Cello's event feed (OK / warning / error). Read from the records the webhook
//! wrote for them (the customer's state, subscriptions, paid invoices, refunds, completed
//! checkouts), joined to the customer → user link.

use crate::finding::{Finding, Severity, worst};
use crate::model::{
    CheckoutSessionView, CustomerStateView, InvoiceView, RefundView, Row, SubscriptionView,
    version_time,
};
use serde::Serialize;
use std::collections::HashMap;

pub const SCAN_EXACT: &[&str] = &["STATE", "CUSTOMER"];
pub const SCAN_PREFIXES: &[&str] = &["SUBSCRIPTION#", "INVOICE#", "REFUND#", "CHECKOUT_SESSION#"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// The Stripe event type the record comes from.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub customer_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub object_id: String,
    pub fields: Vec<Finding>,
    pub status: Severity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsReport {
    pub since: i64,
    pub events: Vec<EventEntry>,
    pub status: Severity,
}

fn ucc_finding(ucc: Option<&str>) -> Finding {
    match ucc {
        Some(u) if u.len() == 11 && u.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Finding::ok("cello_ucc", format!("cello_ucc {u}"))
        }
        Some(u) => Finding::warning(
            "cello_ucc",
            format!("cello_ucc {u} is not Cello's 11 alphanumerics"),
            "fine for Cello's test codes; otherwise check the referral link",
        ),
        None => Finding::warning(
            "cello_ucc",
            "no cello_ucc: not a referred signup",
            "nothing to fix for an unreferred user; otherwise send the ucc with POST /signup",
        ),
    }
}

fn linked_user(
    links: &HashMap<String, String>,
    customer: &str,
    fields: &mut Vec<Finding>,
) -> Option<String> {
    match links.get(customer) {
        Some(u) => {
            fields.push(Finding::ok(
                "customer",
                format!("customer {customer} → user {u}"),
            ));
            Some(u.clone())
        }
        None => {
            fields.push(Finding::error(
                "customer",
                format!("customer {customer} is linked to no user"),
                "the customer needs metadata new_user_id (POST /signup sets it) so purchases can be attributed",
            ));
            None
        }
    }
}

/// The events at or after `since`, newest first, at most `limit`.
pub fn feed(rows: &[Row], since: i64, limit: usize) -> EventsReport {
    let links: HashMap<String, String> = rows
        .iter()
        .filter(|r| r.sk == "CUSTOMER")
        .filter_map(|r| {
            Some((
                r.pk.strip_prefix("CUSTOMER#")?.to_owned(),
                r.value["userId"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let mut events = Vec::new();
    for row in rows {
        let Some(customer) = row.pk.strip_prefix("CUSTOMER#") else {
            continue;
        };
        let customer = customer.to_owned();
        let mut fields = Vec::new();
        let (at, kind, object_id, user_id) = match row.kind() {
            "STATE" => {
                let s: CustomerStateView = row.view();
                match &s.user_id {
                    Some(u) => fields.push(Finding::ok("new_user_id", format!("new_user_id {u}"))),
                    None => fields.push(Finding::error(
                        "new_user_id",
                        "no new_user_id in the customer's metadata",
                        "Cello joins the signup to the widget's productUserId through new_user_id: POST /signup sets it",
                    )),
                }
                fields.push(ucc_finding(s.ucc.as_deref()));
                if let (Some(meta), Some(linked)) = (&s.user_id, links.get(&customer))
                    && meta != linked
                {
                    fields.push(Finding::error(
                        "new_user_id",
                        format!("new_user_id {meta} differs from the linked user {linked}"),
                        "someone edited the customer's metadata: set new_user_id back to the widget's productUserId",
                    ));
                }
                let kind = if s.deleted == Some(true) {
                    "customer.deleted"
                } else {
                    "customer.created/updated"
                };
                (
                    version_time(s.version.as_deref()),
                    kind,
                    customer.clone(),
                    s.user_id,
                )
            }
            "SUBSCRIPTION" => {
                let s: SubscriptionView = row.view();
                let user = linked_user(&links, &customer, &mut fields);
                match (&s.cello_interval, &s.interval) {
                    (Some(i), _) => fields.push(Finding::ok("interval", format!("interval {i}"))),
                    (None, Some(i)) => fields.push(Finding::warning(
                        "interval",
                        format!("Stripe interval {i}×{} has no word in Cello's vocabulary", s.interval_count.unwrap_or(1)),
                        "Cello knows weekly, bi-weekly, monthly, quarterly, semi-annual, yearly, biennial, triennial",
                    )),
                    (None, None) => fields.push(Finding::warning("interval", "no price interval", "check the subscription's price")),
                }
                if let (Some(b), Some(st)) = (s.discount_start, s.start_date)
                    && b > st + crate::user::DISCOUNT_SLACK_SECONDS
                {
                    fields.push(Finding::error(
                        "discount",
                        format!(
                            "discount {} added after the subscription started",
                            s.discount_coupon.as_deref().unwrap_or("?")
                        ),
                        "give the discount at creation (Checkout Session discounts)",
                    ));
                }
                (
                    version_time(s.version.as_deref()),
                    "customer.subscription.*",
                    s.subscription_id.unwrap_or_default(),
                    user,
                )
            }
            "INVOICE" => {
                let i: InvoiceView = row.view();
                let user = linked_user(&links, &customer, &mut fields);
                match i.amount_paid {
                    Some(a) if a > 0 => {
                        fields.push(Finding::ok("amount_paid", format!("amount_paid {a}")))
                    }
                    Some(a) => fields.push(Finding::warning(
                        "amount_paid",
                        format!("amount_paid {a}: nothing to reward"),
                        "a zero invoice (trial, full discount) earns no reward",
                    )),
                    None => fields.push(Finding::error(
                        "amount_paid",
                        "no amount_paid",
                        "the invoice event lacks its amount",
                    )),
                }
                match &i.currency {
                    Some(c) => fields.push(Finding::ok("currency", format!("currency {c}"))),
                    None => fields.push(Finding::error(
                        "currency",
                        "no currency",
                        "the invoice event lacks its currency",
                    )),
                }
                match (&i.cello_interval, &i.price_id) {
                    (Some(v), _) => fields.push(Finding::ok("interval", format!("interval {v}"))),
                    (None, Some(_)) => fields.push(Finding::warning(
                        "interval",
                        "the price's interval has no Cello word",
                        "Cello knows weekly … triennial",
                    )),
                    (None, None) => fields.push(Finding::warning(
                        "interval",
                        "no price on the invoice's lines",
                        "a one-off invoice: reported as one-time",
                    )),
                }
                (
                    i.paid_at,
                    "invoice.paid",
                    i.invoice_id.unwrap_or_default(),
                    user,
                )
            }
            "REFUND" => {
                let r: RefundView = row.view();
                let user = linked_user(&links, &customer, &mut fields);
                fields.push(match r.amount.or(r.amount_refunded_total) {
                    Some(a) => Finding::ok("amount", format!("refunded {a}")),
                    None => Finding::warning("amount", "no refunded amount", "check the charge"),
                });
                (
                    None,
                    "charge.refunded",
                    r.refund_key.unwrap_or_default(),
                    user,
                )
            }
            "CHECKOUT_SESSION" => {
                let c: CheckoutSessionView = row.view();
                let user = c.user_id.clone().or_else(|| links.get(&customer).cloned());
                fields.push(match &c.subscription_id {
                    Some(s) => Finding::ok("subscription", format!("subscription {s}")),
                    None => Finding::warning(
                        "subscription",
                        "no subscription on the session",
                        "a subscription-mode session creates one",
                    ),
                });
                fields.push(Finding::ok(
                    "discount",
                    match &c.coupon {
                        Some(k) => format!("started with coupon {k}"),
                        None => "no discount at creation".into(),
                    },
                ));
                (
                    c.completed_at.or(c.created),
                    "checkout.session.completed",
                    c.session_id.unwrap_or_default(),
                    user,
                )
            }
            _ => continue,
        };
        if at.is_some_and(|t| t < since) {
            continue;
        }
        events.push(EventEntry {
            at,
            kind,
            customer_id: customer,
            user_id,
            object_id,
            status: worst(&fields),
            fields,
        });
    }
    events.sort_by(|a, b| b.at.unwrap_or(i64::MIN).cmp(&a.at.unwrap_or(i64::MIN)));
    events.truncate(limit);
    EventsReport {
        since,
        status: worst(events.iter().flat_map(|e| e.fields.iter())),
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_newest_first_with_field_findings() {
        let rows = vec![
            Row::new("CUSTOMER#c1", "CUSTOMER", json!({"userId": "u1"})),
            Row::new(
                "CUSTOMER#c1",
                "STATE",
                json!({"userId": "u1", "ucc": "pNRB1aYqArN", "version": "000000000100:0:evt_1"}),
            ),
            Row::new(
                "CUSTOMER#c1",
                "INVOICE#in_1",
                json!({"invoiceId": "in_1", "amountPaid": 2900, "currency": "eur", "paidAt": 200, "priceId": "p", "celloInterval": "monthly"}),
            ),
            Row::new(
                "CUSTOMER#c2",
                "INVOICE#in_2",
                json!({"invoiceId": "in_2", "paidAt": 300}),
            ),
            Row::new(
                "CUSTOMER#c3",
                "STATE",
                json!({"version": "000000000050:0:evt_0"}),
            ),
        ];
        let r = feed(&rows, 0, 10);
        let kinds: Vec<_> = r
            .events
            .iter()
            .map(|e| (e.object_id.as_str(), e.status))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("in_2", Severity::Error),
                ("in_1", Severity::Ok),
                ("c1", Severity::Ok),
                ("c3", Severity::Error)
            ]
        );
        assert!(
            r.events[0]
                .fields
                .iter()
                .any(|f| f.code == "customer" && f.severity == Severity::Error)
        );
        let recent = feed(&rows, 150, 10);
        assert_eq!(recent.events.len(), 2);
        assert_eq!(feed(&rows, 0, 1).events.len(), 1);
    }
}
