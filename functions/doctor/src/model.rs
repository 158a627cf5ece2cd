//! The table's items as the doctor reads them. Each view is tolerant: every field optional,
//! unknown fields ignored, so an item written by an older or newer function (or one whose PII
//! erasure removed names) still reads. Attribute names are the writers' (`shared::table`, the
//! functions' records and the helpers' table contract).

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// One item: its keys and its attributes as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub pk: String,
    pub sk: String,
    pub value: serde_json::Value,
}

impl Row {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, value: serde_json::Value) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            value,
        }
    }

    /// The item as a view; an item of an unexpected shape reads as the view's default.
    pub fn view<T: DeserializeOwned + Default>(&self) -> T {
        serde_json::from_value(self.value.clone()).unwrap_or_default()
    }

    /// The sk's kind: `INVOICE` of `INVOICE#in_1`.
    pub fn kind(&self) -> &str {
        self.sk.split('#').next().unwrap_or(&self.sk)
    }
}

/// `USER#<id>` / `PROFILE`, written by signup; `erasedAt` by the erasure.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserView {
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub organization_id: Option<String>,
    pub ucc: Option<String>,
    /// `body` or `cookie`.
    pub ucc_source: Option<String>,
    pub ucc_standard: Option<bool>,
    pub created_at: Option<i64>,
    pub stripe_customer_id: Option<String>,
    pub erased_at: Option<i64>,
}

/// `CUSTOMER#<id>` / `STATE`: the customer as the latest verified event showed it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CustomerStateView {
    pub customer_id: Option<String>,
    pub user_id: Option<String>,
    pub ucc: Option<String>,
    pub organization_id: Option<String>,
    pub deleted: Option<bool>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionView {
    pub subscription_id: Option<String>,
    pub status: Option<String>,
    pub price_id: Option<String>,
    pub plan_name: Option<String>,
    pub interval: Option<String>,
    pub interval_count: Option<i64>,
    pub cello_interval: Option<String>,
    /// When the subscription started (Stripe's `start_date`).
    pub start_date: Option<i64>,
    /// The subscription's discount as the latest event showed it: its coupon and when it began.
    pub discount_coupon: Option<String>,
    pub discount_start: Option<i64>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InvoiceView {
    pub invoice_id: Option<String>,
    pub subscription_id: Option<String>,
    pub amount_paid: Option<i64>,
    pub currency: Option<String>,
    pub billing_reason: Option<String>,
    pub paid_at: Option<i64>,
    pub price_id: Option<String>,
    pub cello_interval: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RefundView {
    pub refund_key: Option<String>,
    pub charge_id: Option<String>,
    pub amount: Option<i64>,
    pub amount_refunded_total: Option<i64>,
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ChargeView {
    pub charge_id: Option<String>,
    pub invoice_id: Option<String>,
    pub version: Option<String>,
}

/// `CUSTOMER#<cus>` / `CHECKOUT_SESSION#<cs>`, written by the webhook for
/// `checkout.session.completed` (the checkout issue's contract).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CheckoutSessionView {
    pub session_id: Option<String>,
    pub subscription_id: Option<String>,
    pub user_id: Option<String>,
    pub coupon: Option<String>,
    pub completed_at: Option<i64>,
    pub livemode: Option<bool>,
    pub created: Option<i64>,
}

/// `CELLO_REPORT#...`, written by cello-events around each call to Cello's API.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CelloReportView {
    pub trigger: Option<String>,
    /// `sending`, `sent` or `refused`.
    pub status: Option<String>,
    pub user_id: Option<String>,
    pub invoice_id: Option<String>,
    pub sent_at: Option<i64>,
    pub error: Option<String>,
    pub updated_at: Option<i64>,
}

/// `USER#<id>` / `ERASURE`, written by the erasure command.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ErasureView {
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

/// `CUSTOMER#<cus>` / `MODE_MISMATCH`: the last event of the other Stripe mode the webhook
/// received (and ignored) for this customer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ModeMismatchView {
    pub event_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub livemode: Option<bool>,
    pub last_at: Option<i64>,
}

/// `HEALTH` / `<component>`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HealthView {
    pub last_at: Option<i64>,
    pub count: Option<i64>,
}

/// The time a versioned record's event was created: the version's leading seconds.
pub fn version_time(version: Option<&str>) -> Option<i64> {
    version?.split(':').next()?.parse().ok()
}

/// Everything under `USER#<id>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserRecords {
    pub profile: Option<UserView>,
    pub erasure: Option<ErasureView>,
    pub signup_report: Option<CelloReportView>,
}

impl UserRecords {
    pub fn from_rows(rows: &[Row]) -> Self {
        let mut r = Self::default();
        for row in rows {
            match row.sk.as_str() {
                "PROFILE" => r.profile = Some(row.view()),
                "ERASURE" => r.erasure = Some(row.view()),
                "CELLO_REPORT#new-signup" => r.signup_report = Some(row.view()),
                _ => {}
            }
        }
        r
    }
}

/// Everything under `CUSTOMER#<id>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerRecords {
    pub customer_id: String,
    /// The lookup item's `userId` (signup's link, or the webhook's from metadata).
    pub linked_user_id: Option<String>,
    pub state: Option<CustomerStateView>,
    pub subscriptions: Vec<SubscriptionView>,
    pub invoices: Vec<InvoiceView>,
    pub refunds: Vec<RefundView>,
    pub charges: Vec<ChargeView>,
    pub checkout_sessions: Vec<CheckoutSessionView>,
    pub reports: Vec<CelloReportView>,
    pub mode_mismatch: Option<ModeMismatchView>,
}

impl CustomerRecords {
    pub fn from_rows(customer_id: &str, rows: &[Row]) -> Self {
        let mut r = Self {
            customer_id: customer_id.to_owned(),
            ..Self::default()
        };
        for row in rows {
            match row.kind() {
                "CUSTOMER" => {
                    r.linked_user_id = row.value["userId"].as_str().map(str::to_owned);
                }
                "STATE" => r.state = Some(row.view()),
                "SUBSCRIPTION" => r.subscriptions.push(row.view()),
                "INVOICE" => r.invoices.push(row.view()),
                "REFUND" => r.refunds.push(row.view()),
                "CHARGE" => r.charges.push(row.view()),
                "CHECKOUT_SESSION" => r.checkout_sessions.push(row.view()),
                "CELLO_REPORT" => r.reports.push(row.view()),
                "MODE_MISMATCH" => r.mode_mismatch = Some(row.view()),
                _ => {}
            }
        }
        r.invoices.sort_by_key(|i| i.paid_at.unwrap_or(i64::MAX));
        r
    }

    pub fn first_paid_invoice(&self) -> Option<&InvoiceView> {
        self.invoices
            .iter()
            .min_by_key(|i| i.paid_at.unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn views_tolerate_missing_extra_and_mistyped_fields() {
        let row = Row::new(
            "USER#u",
            "PROFILE",
            json!({"userId": "u", "firstName": null, "extra": 1, "ucc": "abc", "createdAt": 5}),
        );
        let u: UserView = row.view();
        assert_eq!(u.ucc.as_deref(), Some("abc"));
        assert_eq!(u.created_at, Some(5));
        let bad = Row::new("USER#u", "PROFILE", json!({"createdAt": "yesterday"}));
        assert_eq!(bad.view::<UserView>(), UserView::default());
        assert_eq!(version_time(Some("000000000123:1:evt_1")), Some(123));
        assert_eq!(version_time(Some("junk")), None);
    }

    #[test]
    fn customer_rows_are_sorted_into_their_records() {
        let rows = vec![
            Row::new("CUSTOMER#c", "CUSTOMER", json!({"userId": "u"})),
            Row::new(
                "CUSTOMER#c",
                "INVOICE#in_2",
                json!({"invoiceId": "in_2", "paidAt": 20}),
            ),
            Row::new(
                "CUSTOMER#c",
                "INVOICE#in_1",
                json!({"invoiceId": "in_1", "paidAt": 10}),
            ),
            Row::new(
                "CUSTOMER#c",
                "CELLO_REPORT#invoice-paid#in_1",
                json!({"trigger": "invoice-paid", "status": "sent"}),
            ),
            Row::new("CUSTOMER#c", "SOMETHING_NEW", json!({})),
        ];
        let r = CustomerRecords::from_rows("c", &rows);
        assert_eq!(r.linked_user_id.as_deref(), Some("u"));
        assert_eq!(
            r.first_paid_invoice().unwrap().invoice_id.as_deref(),
            Some("in_1")
        );
        assert_eq!(r.reports[0].status.as_deref(), Some("sent"));
    }
}
