//! The rules of purchase reporting, pure: amounts in the currency's major units, Stripe's
//! recurrence in Cello's words, the product key, timestamps, and the events themselves
//! (`../shared/CELLO.md` §5 and §8).

use crate::facts::{InvoiceFacts, RefundFacts, SubscriptionFacts};
use shared::User;
use shared::cello_api::{
    Event, EventContext, EventMeta, EventPayload, Interval, NewUser, SubscriptionContext, Trigger,
};

/// Currencies whose smallest unit is the unit itself (Stripe's list).
const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
/// Currencies with three decimals.
const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];

/// Stripe's amount (smallest unit) in the currency's major units, with the currency as Cello
/// writes it (upper case): JPY 5000 → 5000, EUR 2900 → 29.00, KWD 1500 → 1.5.
pub fn major_units(amount: i64, currency: &str) -> (f64, String) {
    let code = currency.trim().to_ascii_uppercase();
    let divisor = if ZERO_DECIMAL.contains(&code.as_str()) {
        1.0
    } else if THREE_DECIMAL.contains(&code.as_str()) {
        1000.0
    } else {
        100.0
    };
    (amount as f64 / divisor, code)
}

/// Why a change can't be reported (yet, or at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreportable {
    /// The facts may still arrive (Stripe does not keep order): retry later.
    NotYet(String),
    /// Retrying the same facts will not help; an operator must look.
    Never(String),
}

/// The interval of a paid invoice: the line's own price when the invoice carried it, else the
/// subscription's recorded price, else (no subscription at all) a one-time purchase.
pub fn invoice_interval(
    invoice: &InvoiceFacts,
    subscription: Option<&SubscriptionFacts>,
) -> Result<Interval, Unreportable> {
    let (interval, count, from) = if invoice.interval.is_some() {
        (
            invoice.interval.as_deref(),
            invoice.interval_count,
            "invoice line",
        )
    } else if let Some(s) = subscription.filter(|s| s.interval.is_some()) {
        (s.interval.as_deref(), s.interval_count, "subscription")
    } else if let Some(sub) = &invoice.subscription_id {
        return Err(Unreportable::NotYet(format!(
            "the price's interval is unknown until subscription {sub} is recorded"
        )));
    } else {
        return Ok(Interval::OneTime);
    };
    Interval::from_stripe(interval, count).ok_or_else(|| {
        Unreportable::Never(format!(
            "Cello has no interval for Stripe's {}×{} ({from})",
            interval.unwrap_or("?"),
            count.unwrap_or(1)
        ))
    })
}

/// Cello's `productKey`: the plan's name as the product knows it (the price's nickname or
/// lookup key), else the Stripe product id.
pub fn product_key(
    invoice: &InvoiceFacts,
    subscription: Option<&SubscriptionFacts>,
) -> Option<String> {
    invoice
        .plan_name
        .clone()
        .or_else(|| subscription.and_then(|s| s.plan_name.clone()))
        .or_else(|| invoice.product_id.clone())
        .or_else(|| subscription.and_then(|s| s.product_id.clone()))
}

pub use shared::clock::rfc3339;

/// Who was referred, and by which code: what every event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub user_id: String,
    pub ucc: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub organization_id: Option<String>,
}

impl Referral {
    /// The user's own record: its ucc first, else the one on the customer's metadata.
    pub fn of_user(
        user: &User,
        customer_ucc: Option<&str>,
        customer_org: Option<&str>,
    ) -> Option<Self> {
        let ucc = user
            .ucc
            .as_deref()
            .or(customer_ucc)
            .filter(|u| !u.trim().is_empty())?;
        let name = user.full_name();
        Some(Self {
            user_id: user.user_id.clone(),
            ucc: ucc.to_owned(),
            email: user.email.clone(),
            name: (!name.is_empty()).then_some(name),
            organization_id: user
                .organization_id
                .clone()
                .or_else(|| customer_org.map(str::to_owned)),
        })
    }

    fn new_user(&self) -> NewUser {
        NewUser {
            id: self.user_id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            organization_id: self.organization_id.clone(),
        }
    }

    fn event(
        &self,
        trigger: Trigger,
        at: i64,
        amount: Option<(f64, String)>,
        subscription: Option<SubscriptionContext>,
    ) -> Event {
        let (price, currency) = amount.unzip();
        Event::referral_updated(
            EventPayload {
                ucc: self.ucc.clone(),
                new_user_id: self.user_id.clone(),
                price,
                currency,
            },
            EventContext {
                new_user: self.new_user(),
                event: EventMeta {
                    trigger,
                    timestamp: rfc3339(at),
                },
                subscription,
            },
        )
    }
}

/// `new-signup`: no price and no currency (Cello's example sends `0` and `""`, but a currency
/// present must be a 3-letter code, so both are left out).
pub fn new_signup(referral: &Referral, at: i64) -> Event {
    referral.event(Trigger::NewSignup, at, None, None)
}

/// `invoice-paid` for a verified paid invoice.
pub fn invoice_paid(
    referral: &Referral,
    invoice: &InvoiceFacts,
    subscription: Option<&SubscriptionFacts>,
    now: i64,
) -> Result<Event, Unreportable> {
    let interval = invoice_interval(invoice, subscription)?;
    let amount = amount(invoice.amount_paid, invoice.currency.as_deref())?;
    Ok(referral.event(
        Trigger::InvoicePaid,
        invoice.paid_at.unwrap_or(now),
        Some(amount),
        Some(SubscriptionContext {
            id: invoice.subscription_id.clone(),
            invoice_id: invoice.invoice_id.clone(),
            interval,
            product_key: product_key(invoice, subscription),
        }),
    ))
}

/// `charge-refunded` for a verified refund of `invoice` (the invoice's record, for its interval
/// and product): the price is the refunded amount.
pub fn charge_refunded(
    referral: &Referral,
    refund: &RefundFacts,
    invoice: &InvoiceFacts,
    subscription: Option<&SubscriptionFacts>,
    now: i64,
) -> Result<Event, Unreportable> {
    let interval = invoice_interval(invoice, subscription)?;
    let refunded = refund.amount.or(refund.amount_refunded_total);
    let currency = refund.currency.as_deref().or(invoice.currency.as_deref());
    let amount = amount(refunded, currency)?;
    Ok(referral.event(
        Trigger::ChargeRefunded,
        refund.refunded_at.unwrap_or(now),
        Some(amount),
        Some(SubscriptionContext {
            id: invoice.subscription_id.clone(),
            invoice_id: invoice.invoice_id.clone(),
            interval,
            product_key: product_key(invoice, subscription),
        }),
    ))
}

fn amount(amount: Option<i64>, currency: Option<&str>) -> Result<(f64, String), Unreportable> {
    match (amount, currency.filter(|c| !c.trim().is_empty())) {
        (Some(a), Some(c)) => Ok(major_units(a, c)),
        _ => Err(Unreportable::Never(
            "the record has no amount or no currency".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_major_units_per_currency() {
        assert_eq!(major_units(5000, "jpy"), (5000.0, "JPY".into()));
        assert_eq!(major_units(2900, "eur"), (29.0, "EUR".into()));
        assert_eq!(major_units(1999, "usd"), (19.99, "USD".into()));
        assert_eq!(major_units(1500, "kwd"), (1.5, "KWD".into()));
        assert_eq!(major_units(12345, "BHD"), (12.345, "BHD".into()));
        assert_eq!(major_units(990, "krw"), (990.0, "KRW".into()));
        assert_eq!(
            serde_json::to_string(&major_units(2900, "eur").0).unwrap(),
            "29.0"
        );
    }

    fn invoice(interval: Option<(&str, i64)>, subscription: Option<&str>) -> InvoiceFacts {
        InvoiceFacts {
            invoice_id: "in_1".into(),
            customer_id: "cus_1".into(),
            subscription_id: subscription.map(str::to_owned),
            amount_paid: Some(2900),
            currency: Some("eur".into()),
            paid_at: Some(1_763_800_065),
            interval: interval.map(|(i, _)| i.to_owned()),
            interval_count: interval.map(|(_, c)| c),
            ..Default::default()
        }
    }

    #[test]
    fn the_interval_comes_from_the_line_then_the_subscription() {
        assert_eq!(
            invoice_interval(&invoice(Some(("month", 3)), Some("sub_1")), None),
            Ok(Interval::Quarterly)
        );
        let yearly = SubscriptionFacts {
            interval: Some("year".into()),
            interval_count: Some(1),
            ..Default::default()
        };
        assert_eq!(
            invoice_interval(&invoice(None, Some("sub_1")), Some(&yearly)),
            Ok(Interval::Yearly)
        );
        assert_eq!(
            invoice_interval(&invoice(None, None), None),
            Ok(Interval::OneTime)
        );
        assert!(matches!(
            invoice_interval(&invoice(None, Some("sub_1")), None),
            Err(Unreportable::NotYet(m)) if m.contains("sub_1")
        ));
        assert!(matches!(
            invoice_interval(&invoice(Some(("day", 1)), Some("sub_1")), None),
            Err(Unreportable::Never(m)) if m.contains("day×1")
        ));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_763_800_065), "2025-11-22T08:27:45Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    fn referral() -> Referral {
        Referral {
            user_id: "u1".into(),
            ucc: "pNRB1aYqArN".into(),
            email: Some("ada@example.com".into()),
            name: Some("Ada Lovelace".into()),
            organization_id: None,
        }
    }

    #[test]
    fn an_invoice_paid_event_has_the_documented_fields() {
        let mut inv = invoice(Some(("month", 1)), Some("sub_1"));
        inv.plan_name = Some("Pro".into());
        let event = invoice_paid(&referral(), &inv, None, 0).unwrap();
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "eventName": "ReferralUpdated",
                "payload": {"ucc": "pNRB1aYqArN", "newUserId": "u1", "price": 29.0, "currency": "EUR"},
                "context": {
                    "newUser": {"id": "u1", "email": "ada@example.com", "name": "Ada Lovelace"},
                    "event": {"trigger": "invoice-paid", "timestamp": "2025-11-22T08:27:45Z"},
                    "subscription": {"id": "sub_1", "invoiceId": "in_1", "interval": "monthly", "productKey": "Pro"}
                }
            })
        );
    }

    #[test]
    fn a_refund_is_reported_against_its_invoice_with_the_refunded_amount() {
        let inv = invoice(Some(("year", 1)), Some("sub_1"));
        let refund = RefundFacts {
            refund_key: "ch_1:900".into(),
            charge_id: "ch_1".into(),
            customer_id: "cus_1".into(),
            amount_refunded_total: Some(900),
            currency: Some("eur".into()),
            refunded_at: Some(0),
            ..Default::default()
        };
        let event = charge_refunded(&referral(), &refund, &inv, None, 5).unwrap();
        let v = serde_json::to_value(&event).unwrap();
        assert_eq!(v["payload"]["price"], 9.0);
        assert_eq!(v["context"]["event"]["trigger"], "charge-refunded");
        assert_eq!(v["context"]["subscription"]["invoiceId"], "in_1");
        assert_eq!(v["context"]["subscription"]["interval"], "yearly");
    }

    #[test]
    fn a_signup_event_names_the_code_and_the_user() {
        let v = serde_json::to_value(new_signup(&referral(), 0)).unwrap();
        assert_eq!(v["context"]["event"]["trigger"], "new-signup");
        assert_eq!(v["payload"]["newUserId"], "u1");
        assert!(v["payload"].get("price").is_none() && v["payload"].get("currency").is_none());
        assert!(v["context"].get("subscription").is_none());
    }

    #[test]
    fn the_product_key_prefers_the_plans_name() {
        let mut inv = invoice(None, Some("s"));
        let sub = SubscriptionFacts {
            plan_name: Some("pro".into()),
            product_id: Some("prod_2".into()),
            ..Default::default()
        };
        inv.product_id = Some("prod_1".into());
        assert_eq!(product_key(&inv, Some(&sub)).as_deref(), Some("pro"));
        assert_eq!(product_key(&inv, None).as_deref(), Some("prod_1"));
    }

    #[test]
    fn a_referral_needs_a_code() {
        let mut user = shared::User {
            user_id: "u1".into(),
            email: None,
            unverified_email: None,
            email_pending_stripe: None,
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            organization_id: None,
            language: None,
            ucc: None,
            ucc_source: None,
            ucc_standard: None,
            created_at: 0,
            stripe_customer_id: None,
            erased_at: None,
        };
        assert_eq!(Referral::of_user(&user, None, None), None);
        assert_eq!(Referral::of_user(&user, Some(" "), None), None);
        let from_metadata = Referral::of_user(&user, Some("meta"), Some("org")).unwrap();
        assert_eq!(
            (
                from_metadata.ucc.as_str(),
                from_metadata.organization_id.as_deref()
            ),
            ("meta", Some("org"))
        );
        user.ucc = Some("own".into());
        assert_eq!(
            Referral::of_user(&user, Some("meta"), None).unwrap().ucc,
            "own"
        );
    }
}
