//! What a verified Stripe event changes, as plain data: the webhook's domain. `plan` is pure;
//! the billing store applies each effect idempotently (versioned state never moves backwards,
//! records are written once), so a redelivery or a crash between effects is harmless.

use crate::event::{Event, Object, Price};
use serde::{Deserialize, Serialize};

/// The event types the webhook records, named as Stripe names them: the ten Cello's Stripe
/// integration selects ([`EventType::CELLO`]) and `checkout.session.completed` (which
/// subscription started with which discount, for checkout and the doctor). Everything else is
/// acknowledged and ignored. The webhook dispatches on this, never on string prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    ChargeRefunded,
    ChargeSucceeded,
    ChargeUpdated,
    CustomerCreated,
    CustomerDeleted,
    CustomerUpdated,
    SubscriptionCreated,
    SubscriptionDeleted,
    SubscriptionUpdated,
    InvoicePaid,
    CheckoutSessionCompleted,
}

impl EventType {
    /// The ten events Cello's own Stripe endpoint selects.
    pub const CELLO: [EventType; 10] = [
        Self::ChargeRefunded,
        Self::ChargeSucceeded,
        Self::ChargeUpdated,
        Self::CustomerCreated,
        Self::CustomerDeleted,
        Self::CustomerUpdated,
        Self::SubscriptionCreated,
        Self::SubscriptionDeleted,
        Self::SubscriptionUpdated,
        Self::InvoicePaid,
    ];

    /// Every event this endpoint records: Cello's ten and `checkout.session.completed`.
    pub const ALL: [EventType; 11] = [
        Self::ChargeRefunded,
        Self::ChargeSucceeded,
        Self::ChargeUpdated,
        Self::CustomerCreated,
        Self::CustomerDeleted,
        Self::CustomerUpdated,
        Self::SubscriptionCreated,
        Self::SubscriptionDeleted,
        Self::SubscriptionUpdated,
        Self::InvoicePaid,
        Self::CheckoutSessionCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChargeRefunded => "charge.refunded",
            Self::ChargeSucceeded => "charge.succeeded",
            Self::ChargeUpdated => "charge.updated",
            Self::CustomerCreated => "customer.created",
            Self::CustomerDeleted => "customer.deleted",
            Self::CustomerUpdated => "customer.updated",
            Self::SubscriptionCreated => "customer.subscription.created",
            Self::SubscriptionDeleted => "customer.subscription.deleted",
            Self::SubscriptionUpdated => "customer.subscription.updated",
            Self::InvoicePaid => "invoice.paid",
            Self::CheckoutSessionCompleted => "checkout.session.completed",
        }
    }

    /// The handled type Stripe calls `kind`, if any.
    pub fn parse(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == kind)
    }

    /// Within one second, a deletion outranks an update, and an update a creation.
    fn rank(self) -> u8 {
        match self {
            Self::CustomerCreated | Self::SubscriptionCreated | Self::ChargeSucceeded => 0,
            Self::CustomerDeleted | Self::SubscriptionDeleted => 2,
            _ => 1,
        }
    }
}

/// Orders the events that change one object. Stripe does not keep delivery order, so each
/// versioned item stores the version that wrote it and accepts only a greater one. Sorting
/// as text: the event's `created` (seconds, zero-padded), then the type's rank (a deletion
/// outranks an update of the same second, an update outranks a creation), then the event id
/// (an arbitrary but fixed tie-break, so every delivery order ends in the same state).
pub fn version(created: i64, kind: EventType, event_id: &str) -> String {
    let rank = kind.rank();
    format!(
        "{:012}:{rank}:{event_id}",
        created.clamp(0, 999_999_999_999)
    )
}

/// The customer as the latest event showed it, with what Cello's tracking put in its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerState {
    pub customer_id: String,
    /// `metadata.new_user_id`: the productUserId of the user this customer belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `metadata.cello_ucc`: the referral code seen on the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    pub deleted: bool,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionState {
    pub subscription_id: String,
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// The price's nickname, else its lookup key: the plan's name as the product knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_name: Option<String>,
    /// Stripe's billing interval (`day`, `week`, `month`, `year`) and its count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_count: Option<i64>,
    /// The same as Cello names it (`monthly`, `quarterly`, `yearly`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cello_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_at_period_end: Option<bool>,
    /// When the subscription started (`start_date`), and its discount as this event shows it
    /// (the coupon, when it began): the doctor checks the discount was there from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_coupon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_start: Option<i64>,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeState {
    pub charge_id: String,
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_refunded: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    pub version: String,
}

/// A paid invoice: what Cello rewards. Written once; later deliveries change nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaidInvoice {
    pub invoice_id: String,
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_paid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cello_interval: Option<String>,
    /// The price's product (`price.product`, or `pricing.price_details.product` since
    /// API 2025-03-31), for Cello's `productKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// The price's nickname, else its lookup key, when the line carries the price object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_name: Option<String>,
    /// Stripe's recurrence of the line's price (`day|week|month|year` and its count), when the
    /// line carries the price object (API versions before 2025-03-31, or expanded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_count: Option<i64>,
    /// The event's `livemode`: which Stripe mode verified this payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livemode: Option<bool>,
}

/// A completed Checkout Session: the subscription it started and the discount it started
/// with. Written once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutCompletion {
    pub session_id: String,
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// `client_reference_id`: the user id checkout put there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The coupon of the session's discount; `None` without one.
    pub coupon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_discount: Option<i64>,
    /// `metadata.cello_ucc` as the session carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucc: Option<String>,
    /// When Stripe completed it (the event's `created`).
    pub completed_at: i64,
    pub livemode: bool,
    /// The event's `created`.
    pub created: i64,
}

/// A refund, written once. Keyed by the refund's id when the charge lists its refunds (API
/// versions before 2022-11-15, or expanded); otherwise by the charge and its new refunded total,
/// which each refund raises, so each refund still gets exactly one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRecord {
    pub refund_key: String,
    pub charge_id: String,
    pub customer_id: String,
    /// This refund's amount, when the refund itself was listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// The charge's refunded total after this refund, when only the charge was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_refunded_total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The invoice the refunded charge paid (`charge.invoice`, sent by API versions before
    /// 2025-03-31), so the refund can be reported against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    /// The refunded charge's `payment_intent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    /// The event's `created`: when Stripe recorded the refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_at: Option<i64>,
    /// The event's `livemode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livemode: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The customer → user lookup (the item signup writes), from `metadata.new_user_id`.
    Link {
        customer_id: String,
        user_id: String,
    },
    Customer(CustomerState),
    Subscription(SubscriptionState),
    Charge(ChargeState),
    Invoice(PaidInvoice),
    Refund(RefundRecord),
    Checkout(CheckoutCompletion),
}

/// Why an event changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Not one of the [`EventType`]s.
    UnhandledType,
    /// Test-mode event on a live environment, or the reverse.
    LivemodeMismatch,
    /// No `data.object` with an id (a shape no API version sends for these types).
    NoObject,
    /// A charge or invoice without a customer (a guest payment): nobody to attribute it to.
    NoCustomer,
}

impl Ignored {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnhandledType => "unhandled_type",
            Self::LivemodeMismatch => "livemode_mismatch",
            Self::NoObject => "no_object",
            Self::NoCustomer => "no_customer",
        }
    }
}

/// The customer a handled event is about: the object itself for customer events, the
/// object's `customer` otherwise.
pub fn customer_of(event: &Event, kind: &str) -> Option<String> {
    let kind = EventType::parse(kind)?;
    let object = event.object()?;
    let id = match kind {
        EventType::CustomerCreated | EventType::CustomerUpdated | EventType::CustomerDeleted => {
            object.id.get()
        }
        _ => object.customer.get(),
    };
    id.map(str::to_owned)
}

/// The effects of a handled event of type `kind`, created at `created`, with id `event_id`.
pub fn plan(
    event: &Event,
    event_id: &str,
    kind: &str,
    created: i64,
) -> Result<Vec<Effect>, Ignored> {
    let kind = EventType::parse(kind).ok_or(Ignored::UnhandledType)?;
    let object = event.object().ok_or(Ignored::NoObject)?;
    let id = object.id.get().ok_or(Ignored::NoObject)?.to_owned();
    let version = version(created, kind, event_id);
    let text = |t: &crate::event::Text<'_>| t.get().map(str::to_owned);

    use EventType as T;
    if kind == T::CheckoutSessionCompleted {
        let customer_id = object.customer.get().ok_or(Ignored::NoCustomer)?.to_owned();
        let discount = object.discounts.first();
        return Ok(vec![Effect::Checkout(CheckoutCompletion {
            session_id: id,
            customer_id,
            subscription_id: object.subscription.get().map(str::to_owned),
            user_id: text(&object.client_reference_id),
            coupon: discount.and_then(|d| d.coupon.get().map(str::to_owned)),
            amount_discount: object
                .total_details
                .get()
                .and_then(|t| t.amount_discount.get()),
            ucc: object.metadata.get().and_then(|m| text(&m.cello_ucc)),
            completed_at: created,
            livemode: object
                .livemode
                .get()
                .or(event.livemode.get())
                .unwrap_or(false),
            created,
        })]);
    }
    if let T::SubscriptionCreated | T::SubscriptionUpdated | T::SubscriptionDeleted = kind {
        let customer_id = object.customer.get().ok_or(Ignored::NoCustomer)?.to_owned();
        let item = object.items.get().and_then(|l| l.first());
        let price = item
            .and_then(|i| i.price.get().or(i.plan.get()))
            .or(object.plan.get());
        let (interval, interval_count) = price.map(price_interval).unwrap_or((None, None));
        let discount = object.discounts.first().or(object.discount.get());
        return Ok(vec![Effect::Subscription(SubscriptionState {
            subscription_id: id,
            customer_id,
            status: text(&object.status),
            price_id: price.and_then(|p| text(&p.id)),
            product_id: price.and_then(|p| p.product.get().map(str::to_owned)),
            plan_name: price.and_then(|p| text(&p.nickname).or_else(|| text(&p.lookup_key))),
            cello_interval: cello_interval(interval.as_deref(), interval_count),
            interval,
            interval_count,
            current_period_end: object
                .current_period_end
                .get()
                .or_else(|| item.and_then(|i| i.current_period_end.get())),
            cancel_at_period_end: object.cancel_at_period_end.get(),
            start_date: object.start_date.get(),
            discount_coupon: discount.and_then(|d| {
                d.coupon
                    .get()
                    .or_else(|| d.source.get().and_then(|s| s.coupon.get()))
                    .map(str::to_owned)
            }),
            discount_start: discount.and_then(|d| d.start.get()),
            version,
        })]);
    }

    if let T::CustomerCreated | T::CustomerUpdated | T::CustomerDeleted = kind {
        let metadata = object.metadata.get();
        let user_id = metadata.and_then(|m| text(&m.new_user_id));
        let mut effects = Vec::with_capacity(2);
        if let Some(user_id) = &user_id {
            effects.push(Effect::Link {
                customer_id: id.clone(),
                user_id: user_id.clone(),
            });
        }
        effects.push(Effect::Customer(CustomerState {
            customer_id: id,
            user_id,
            ucc: metadata.and_then(|m| text(&m.cello_ucc)),
            organization_id: metadata.and_then(|m| text(&m.new_user_organization_id)),
            deleted: kind == T::CustomerDeleted || object.deleted.get() == Some(true),
            version,
        }));
        return Ok(effects);
    }

    let customer_id = object.customer.get().ok_or(Ignored::NoCustomer)?.to_owned();
    if kind == T::InvoicePaid {
        let line_price = object.lines.get().and_then(|l| l.first());
        let price = line_price.and_then(|l| l.price.get().or(l.plan.get()));
        let price_id = price.and_then(|p| text(&p.id)).or_else(|| {
            line_price
                .and_then(|l| l.pricing.get())
                .and_then(|p| p.price_details.get())
                .and_then(|d| d.price.get().map(str::to_owned))
        });
        let (interval, count) = price.map(price_interval).unwrap_or((None, None));
        let product_id = price
            .and_then(|p| p.product.get().map(str::to_owned))
            .or_else(|| {
                line_price
                    .and_then(|l| l.pricing.get())
                    .and_then(|p| p.price_details.get())
                    .and_then(|d| d.product.get().map(str::to_owned))
            });
        let plan_name = price.and_then(|p| text(&p.nickname).or_else(|| text(&p.lookup_key)));
        let subscription_id = object.subscription.get().map(str::to_owned).or_else(|| {
            object
                .parent
                .get()
                .and_then(|p| p.subscription_details.get())
                .and_then(|d| d.subscription.get().map(str::to_owned))
        });
        return Ok(vec![Effect::Invoice(PaidInvoice {
            invoice_id: id,
            customer_id,
            subscription_id,
            amount_paid: object.amount_paid.get(),
            currency: text(&object.currency),
            billing_reason: text(&object.billing_reason),
            number: text(&object.number),
            paid_at: object
                .status_transitions
                .get()
                .and_then(|s| s.paid_at.get())
                .or(Some(created)),
            price_id,
            cello_interval: cello_interval(interval.as_deref(), count),
            product_id,
            plan_name,
            interval,
            interval_count: count,
            livemode: event.livemode.get(),
        })]);
    }

    // charge.succeeded, charge.updated, charge.refunded
    let refund = RefundContext {
        invoice_id: object.invoice.get().map(str::to_owned),
        payment_intent: object.payment_intent.get().map(str::to_owned),
        refunded_at: Some(created),
        livemode: event.livemode.get(),
    };
    Ok(charge_effects(
        object,
        id,
        customer_id,
        kind,
        version,
        refund,
    ))
}

/// What every refund record of one charge event shares.
struct RefundContext {
    invoice_id: Option<String>,
    payment_intent: Option<String>,
    refunded_at: Option<i64>,
    livemode: Option<bool>,
}

fn charge_effects(
    object: &Object,
    charge_id: String,
    customer_id: String,
    kind: EventType,
    version: String,
    context: RefundContext,
) -> Vec<Effect> {
    let currency = object.currency.get().map(str::to_owned);
    let mut effects = Vec::new();
    let listed = object.refunds.get().map(|l| l.0.as_slice()).unwrap_or(&[]);
    for refund in listed {
        if let Some(refund_id) = refund.id.get() {
            effects.push(Effect::Refund(RefundRecord {
                refund_key: refund_id.to_owned(),
                charge_id: charge_id.clone(),
                customer_id: customer_id.clone(),
                amount: refund.amount.get(),
                amount_refunded_total: None,
                currency: refund
                    .currency
                    .get()
                    .map(str::to_owned)
                    .or(currency.clone()),
                invoice_id: context.invoice_id.clone(),
                payment_intent: context.payment_intent.clone(),
                refunded_at: refund.created.get().or(context.refunded_at),
                livemode: context.livemode,
            }));
        }
    }
    let refunded_total = object.amount_refunded.get().filter(|a| *a > 0);
    if kind == EventType::ChargeRefunded
        && effects.is_empty()
        && let Some(total) = refunded_total
    {
        effects.push(Effect::Refund(RefundRecord {
            refund_key: format!("{charge_id}:{total}"),
            charge_id: charge_id.clone(),
            customer_id: customer_id.clone(),
            amount: None,
            amount_refunded_total: Some(total),
            currency: currency.clone(),
            invoice_id: context.invoice_id.clone(),
            payment_intent: context.payment_intent.clone(),
            refunded_at: context.refunded_at,
            livemode: context.livemode,
        }));
    }
    effects.insert(
        0,
        Effect::Charge(ChargeState {
            charge_id,
            customer_id,
            amount: object.amount.get(),
            amount_refunded: object.amount_refunded.get(),
            currency,
            status: object.status.get().map(str::to_owned),
            refunded: object.refunded.get(),
            invoice_id: object.invoice.get().map(str::to_owned),
            version,
        }),
    );
    effects
}

/// A price's interval: `recurring.interval` on prices, `interval` on legacy plans.
fn price_interval(price: &Price) -> (Option<String>, Option<i64>) {
    match price.recurring.get() {
        Some(r) => (
            r.interval.get().map(str::to_owned),
            r.interval_count.get().or(Some(1)),
        ),
        None => (
            price.interval.get().map(str::to_owned),
            price
                .interval
                .get()
                .map(|_| price.interval_count.get().unwrap_or(1)),
        ),
    }
}

/// Stripe's interval in Cello's vocabulary (its REST API's `interval`); `None` when Cello has no
/// word for it (daily plans, unusual counts).
pub fn cello_interval(interval: Option<&str>, count: Option<i64>) -> Option<String> {
    let word = match (interval?, count.unwrap_or(1)) {
        ("week", 1) => "weekly",
        ("week", 2) => "bi-weekly",
        ("month", 1) => "monthly",
        ("month", 3) => "quarterly",
        ("month", 6) => "semi-annual",
        ("month", 12) | ("year", 1) => "yearly",
        ("year", 2) => "biennial",
        ("year", 3) => "triennial",
        _ => return None,
    };
    Some(word.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_time_then_kind_then_id() {
        use EventType as T;
        let a = version(100, T::CustomerUpdated, "evt_b");
        assert!(version(99, T::CustomerDeleted, "evt_z") < a);
        assert!(version(100, T::CustomerCreated, "evt_z") < a);
        assert!(a < version(100, T::CustomerDeleted, "evt_a"));
        assert!(a < version(100, T::CustomerUpdated, "evt_c"));
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert!(!EventType::CELLO.contains(&T::CheckoutSessionCompleted));
        assert!(EventType::CELLO.iter().all(|t| EventType::ALL.contains(t)));
        assert_eq!(EventType::parse("customer.subscription.paused"), None);
        assert!(version(9, T::ChargeUpdated, "e") < version(10, T::ChargeSucceeded, "e"));
    }

    #[test]
    fn cello_intervals() {
        assert_eq!(
            cello_interval(Some("month"), Some(1)).as_deref(),
            Some("monthly")
        );
        assert_eq!(
            cello_interval(Some("year"), None).as_deref(),
            Some("yearly")
        );
        assert_eq!(cello_interval(Some("day"), Some(1)), None);
        assert_eq!(cello_interval(None, Some(1)), None);
    }

    fn plan_of(body: &str) -> Result<Vec<Effect>, Ignored> {
        let event = Event::parse(body.as_bytes()).unwrap();
        plan(
            &event,
            event.id.get().unwrap(),
            event.kind.get().unwrap(),
            event.created.get().unwrap(),
        )
    }

    #[test]
    fn a_customer_with_cello_metadata_links_and_records_the_code() {
        let effects = plan_of(
            r#"{"id":"evt_1","type":"customer.created","created":10,"data":{"object":{
                "id":"cus_1","object":"customer","metadata":{"new_user_id":"u1","cello_ucc":"pNRB1aYqArN"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            effects[0],
            Effect::Link {
                customer_id: "cus_1".into(),
                user_id: "u1".into()
            }
        );
        let Effect::Customer(state) = &effects[1] else {
            panic!("{effects:?}")
        };
        assert_eq!(state.ucc.as_deref(), Some("pNRB1aYqArN"));
        assert!(!state.deleted);
    }

    #[test]
    fn shapes_of_other_api_versions_are_read() {
        // 2025-03-31 and later: period on the item, subscription under the invoice's parent,
        // price referenced from line pricing; an expanded customer object.
        let effects = plan_of(
            r#"{"id":"evt_2","type":"customer.subscription.updated","created":10,"data":{"object":{
                "id":"sub_1","customer":{"id":"cus_1","object":"customer"},"status":"active",
                "items":{"object":"list","data":[{"current_period_end":99,
                  "price":{"id":"price_1","product":"prod_1","nickname":null,"lookup_key":"pro",
                           "recurring":{"interval":"month","interval_count":3}}}]}}}}"#,
        )
        .unwrap();
        let Effect::Subscription(s) = &effects[0] else {
            panic!()
        };
        assert_eq!(s.customer_id, "cus_1");
        assert_eq!(s.plan_name.as_deref(), Some("pro"));
        assert_eq!(s.cello_interval.as_deref(), Some("quarterly"));
        assert_eq!(s.current_period_end, Some(99));
        assert_eq!((s.start_date, s.discount_coupon.as_deref()), (None, None));

        let effects = plan_of(
            r#"{"id":"evt_d","type":"customer.subscription.updated","created":10,"data":{"object":{
                "id":"sub_1","customer":"cus_1","start_date":5,
                "discount":{"coupon":{"id":"LEGACY","percent_off":50},"start":9},
                "discounts":["di_unexpanded",{"id":"di_1","source":{"coupon":"CELLO50"},"start":7}]}}}"#,
        )
        .unwrap();
        let Effect::Subscription(s) = &effects[0] else {
            panic!()
        };
        assert_eq!(s.start_date, Some(5));
        assert_eq!(
            (s.discount_coupon.as_deref(), s.discount_start),
            (Some("CELLO50"), Some(7))
        );

        let effects = plan_of(
            r#"{"id":"evt_3","type":"invoice.paid","created":10,"data":{"object":{
                "id":"in_1","customer":"cus_1","amount_paid":1200,"currency":"eur",
                "parent":{"subscription_details":{"subscription":"sub_1"}},
                "lines":{"data":[{"pricing":{"price_details":{"price":"price_1"}}}]}}}}"#,
        )
        .unwrap();
        let Effect::Invoice(i) = &effects[0] else {
            panic!()
        };
        assert_eq!(i.subscription_id.as_deref(), Some("sub_1"));
        assert_eq!(i.price_id.as_deref(), Some("price_1"));
        assert_eq!(i.paid_at, Some(10), "falls back to the event's time");
    }

    #[test]
    fn invoices_and_refunds_keep_what_purchase_reporting_needs() {
        // An older API version: the line carries the price object.
        let effects = plan_of(
            r#"{"id":"evt_6","type":"invoice.paid","created":10,"livemode":true,"data":{"object":{
                "id":"in_6","customer":"cus_6","amount_paid":5000,"currency":"jpy",
                "lines":{"data":[{"price":{"id":"price_6","product":"prod_6","nickname":"Team",
                  "recurring":{"interval":"month","interval_count":3}}}]}}}}"#,
        )
        .unwrap();
        let Effect::Invoice(i) = &effects[0] else {
            panic!("{effects:?}")
        };
        assert_eq!(i.livemode, Some(true));
        assert_eq!(i.product_id.as_deref(), Some("prod_6"));
        assert_eq!(i.plan_name.as_deref(), Some("Team"));
        assert_eq!(
            (i.interval.as_deref(), i.interval_count),
            (Some("month"), Some(3))
        );
        // Since 2025-03-31 the line only references the price and product.
        let effects = plan_of(
            r#"{"id":"evt_7","type":"invoice.paid","created":10,"livemode":false,"data":{"object":{
                "id":"in_7","customer":"cus_7","lines":{"data":[{"pricing":{"price_details":
                  {"price":"price_7","product":"prod_7"}}}]}}}}"#,
        )
        .unwrap();
        let Effect::Invoice(i) = &effects[0] else {
            panic!("{effects:?}")
        };
        assert_eq!(i.product_id.as_deref(), Some("prod_7"));
        assert_eq!(
            (i.interval.as_deref(), i.plan_name.as_deref()),
            (None, None)
        );
        assert_eq!(i.livemode, Some(false));
        // A refund names the invoice its charge paid, when the charge says so.
        let effects = plan_of(
            r#"{"id":"evt_8","type":"charge.refunded","created":20,"livemode":false,"data":{"object":{
                "id":"ch_8","customer":"cus_8","invoice":"in_8","payment_intent":"pi_8",
                "amount":1000,"amount_refunded":1000}}}"#,
        )
        .unwrap();
        let Effect::Refund(r) = &effects[1] else {
            panic!("{effects:?}")
        };
        assert_eq!(r.invoice_id.as_deref(), Some("in_8"));
        assert_eq!(r.payment_intent.as_deref(), Some("pi_8"));
        assert_eq!((r.refunded_at, r.livemode), (Some(20), Some(false)));
    }

    #[test]
    fn wrong_types_read_as_absent_instead_of_failing() {
        let event = Event::parse(br#"{"id":"evt_4","type":"charge.refunded","created":"soon","data":{"object":{"id":"ch_1","customer":"cus_1","amount":[1],"amount_refunded":500,"refunds":{"data":[null,3,{"id":"re_1","amount":500}]}}}}"#).unwrap();
        assert_eq!(event.created.get(), None);
        let effects = plan(&event, "evt_4", "charge.refunded", 5).unwrap();
        let Effect::Charge(c) = &effects[0] else {
            panic!()
        };
        assert_eq!(c.amount, None);
        assert_eq!(c.amount_refunded, Some(500));
        assert_eq!(
            effects[1],
            Effect::Refund(RefundRecord {
                refund_key: "re_1".into(),
                charge_id: "ch_1".into(),
                customer_id: "cus_1".into(),
                amount: Some(500),
                amount_refunded_total: None,
                currency: None,
                invoice_id: None,
                payment_intent: None,
                refunded_at: Some(5),
                livemode: None,
            })
        );
    }

    #[test]
    fn a_refund_without_listed_refunds_is_keyed_by_the_new_total() {
        let effects = plan_of(
            r#"{"id":"evt_5","type":"charge.refunded","created":10,"data":{"object":{
                "id":"ch_1","customer":"cus_1","amount":1000,"amount_refunded":300,"refunded":false}}}"#,
        )
        .unwrap();
        let Effect::Refund(r) = &effects[1] else {
            panic!()
        };
        assert_eq!(r.refund_key, "ch_1:300");
        assert_eq!(r.amount_refunded_total, Some(300));
    }

    #[test]
    fn a_completed_checkout_records_its_subscription_and_coupon() {
        let effects = plan_of(
            r#"{"id":"evt_6","type":"checkout.session.completed","created":20,"livemode":false,
                "data":{"object":{"id":"cs_1","object":"checkout.session","customer":"cus_1",
                "subscription":"sub_1","client_reference_id":"u1","mode":"subscription",
                "metadata":{"cello_ucc":"pNRB1aYqArN","new_user_id":"u1"},
                "discounts":[{"coupon":"c50","promotion_code":null}],
                "total_details":{"amount_discount":1450}}}}"#,
        )
        .unwrap();
        assert_eq!(
            effects,
            vec![Effect::Checkout(CheckoutCompletion {
                session_id: "cs_1".into(),
                customer_id: "cus_1".into(),
                subscription_id: Some("sub_1".into()),
                user_id: Some("u1".into()),
                coupon: Some("c50".into()),
                amount_discount: Some(1450),
                ucc: Some("pNRB1aYqArN".into()),
                completed_at: 20,
                livemode: false,
                created: 20,
            })]
        );
        // An expanded coupon, and a session without a discount.
        let effects = plan_of(
            r#"{"id":"evt_7","type":"checkout.session.completed","created":20,"data":{"object":{
                "id":"cs_2","customer":{"id":"cus_1"},"subscription":{"id":"sub_2"},
                "discounts":[{"coupon":{"id":"c25","percent_off":25}}]}}}"#,
        )
        .unwrap();
        let Effect::Checkout(c) = &effects[0] else {
            panic!("{effects:?}")
        };
        assert_eq!(
            (c.coupon.as_deref(), c.subscription_id.as_deref()),
            (Some("c25"), Some("sub_2"))
        );
        let effects = plan_of(
            r#"{"id":"evt_8","type":"checkout.session.completed","created":20,"data":{"object":{
                "id":"cs_3","customer":"cus_1","subscription":"sub_3","discounts":[]}}}"#,
        )
        .unwrap();
        let Effect::Checkout(c) = &effects[0] else {
            panic!()
        };
        assert_eq!(c.coupon, None);
    }

    #[test]
    fn ignored_events_say_why() {
        assert_eq!(
            plan_of(
                r#"{"id":"e","type":"payout.paid","created":1,"data":{"object":{"id":"po_1"}}}"#
            ),
            Err(Ignored::UnhandledType)
        );
        assert_eq!(
            plan_of(
                r#"{"id":"e","type":"charge.succeeded","created":1,"data":{"object":{"id":"ch_1","customer":null}}}"#
            ),
            Err(Ignored::NoCustomer)
        );
        assert_eq!(
            plan_of(r#"{"id":"e","type":"invoice.paid","created":1,"data":{}}"#),
            Err(Ignored::NoObject)
        );
    }
}
