//! What this function reads from the table, as it reads it: tolerant views of the items the
//! webhook and signup write (key layout in `shared::table`). Only the fields used here; every
//! field optional, so an item written by an older or newer version still reads.

use crate::stream::Change;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use shared::User;

/// `CUSTOMER#<cus>` / `INVOICE#<id>`: a paid invoice the webhook verified.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InvoiceFacts {
    pub invoice_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub amount_paid: Option<i64>,
    pub currency: Option<String>,
    pub paid_at: Option<i64>,
    pub price_id: Option<String>,
    pub product_id: Option<String>,
    pub plan_name: Option<String>,
    pub interval: Option<String>,
    pub interval_count: Option<i64>,
    pub livemode: Option<bool>,
}

/// `CUSTOMER#<cus>` / `REFUND#<key>`: a refund the webhook verified.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RefundFacts {
    pub refund_key: String,
    pub charge_id: String,
    pub customer_id: String,
    pub amount: Option<i64>,
    pub amount_refunded_total: Option<i64>,
    pub currency: Option<String>,
    pub invoice_id: Option<String>,
    pub refunded_at: Option<i64>,
    pub livemode: Option<bool>,
}

/// `CUSTOMER#<cus>` / `STATE`: the customer as Stripe last described it (its Cello metadata).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomerFacts {
    pub user_id: Option<String>,
    pub ucc: Option<String>,
    pub organization_id: Option<String>,
}

/// `CUSTOMER#<cus>` / `CUSTOMER`: the customer → user lookup.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomerLink {
    pub user_id: Option<String>,
}

/// `CUSTOMER#<cus>` / `SUBSCRIPTION#<id>`: the subscription's price, for the interval and the
/// plan when the invoice only references its price (Stripe API 2025-03-31 and later).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionFacts {
    pub product_id: Option<String>,
    pub plan_name: Option<String>,
    pub interval: Option<String>,
    pub interval_count: Option<i64>,
}

/// `CUSTOMER#<cus>` / `CHARGE#<id>`: the charge, which named its invoice before API 2025-03-31.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChargeFacts {
    pub invoice_id: Option<String>,
    pub amount: Option<i64>,
}

/// The sort keys this function reads in a customer's partition.
pub mod sk {
    pub const CUSTOMER_STATE: &str = "STATE";
    pub fn subscription(id: &str) -> String {
        format!("SUBSCRIPTION#{id}")
    }
    pub fn charge(id: &str) -> String {
        format!("CHARGE#{id}")
    }
    pub fn invoice(id: &str) -> String {
        format!("INVOICE#{id}")
    }
}

/// What a change in the table may be reported as.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    InvoicePaid(InvoiceFacts),
    Refund(RefundFacts),
    /// The user's item gained its Stripe customer id: signup is complete.
    Signup(Box<User>),
}

/// Reads a change as a [`Source`]; `Ok(None)` for every other item or change (removals, our
/// own report records, a user item that already had its customer). `Err` names an item of a
/// reportable kind that does not read: a poison record.
pub fn source_of(change: &Change) -> Result<Option<Source>, String> {
    if change.event_name == "REMOVE" {
        return Ok(None);
    }
    let customer_item = change.pk.starts_with("CUSTOMER#");
    if customer_item && change.sk.starts_with("INVOICE#") {
        return image(change).map(|i| Some(Source::InvoicePaid(i)));
    }
    if customer_item && change.sk.starts_with("REFUND#") {
        return image(change).map(|r| Some(Source::Refund(r)));
    }
    if change.pk.starts_with("USER#") && change.sk == "PROFILE" {
        let had_customer = change
            .old_image
            .as_ref()
            .is_some_and(|old| has_string(old, shared::table::attrs::STRIPE_CUSTOMER_ID));
        let has_customer = change
            .new_image
            .as_ref()
            .is_some_and(|new| has_string(new, shared::table::attrs::STRIPE_CUSTOMER_ID));
        if had_customer || !has_customer {
            return Ok(None);
        }
        return image::<User>(change).map(|u| Some(Source::Signup(Box::new(u))));
    }
    Ok(None)
}

fn has_string(item: &serde_dynamo::Item, name: &str) -> bool {
    matches!(item.get(name), Some(serde_dynamo::AttributeValue::S(s)) if !s.is_empty())
}

fn image<T: DeserializeOwned>(change: &Change) -> Result<T, String> {
    let item = change
        .new_image
        .clone()
        .ok_or_else(|| format!("{} {} has no NewImage", change.pk, change.sk))?;
    serde_dynamo::from_item(item)
        .map_err(|e| format!("{} {} does not read: {e}", change.pk, change.sk))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_dynamo::{AttributeValue as A, Item};
    use std::collections::HashMap;

    fn item(pairs: &[(&str, A)]) -> Item {
        HashMap::from_iter(pairs.iter().map(|(k, v)| (k.to_string(), v.clone()))).into()
    }

    fn change(name: &str, pk: &str, sk: &str, old: Option<Item>, new: Option<Item>) -> Change {
        Change {
            event_name: name.into(),
            pk: pk.into(),
            sk: sk.into(),
            new_image: new,
            old_image: old,
            sequence_number: "1".into(),
            at: None,
        }
    }

    fn profile(customer: Option<&str>) -> Item {
        let mut pairs = vec![
            ("pk", A::S("USER#u1".into())),
            ("sk", A::S("PROFILE".into())),
            ("userId", A::S("u1".into())),
            ("firstName", A::S("Ada".into())),
            ("lastName", A::S("Lovelace".into())),
            ("ucc", A::S("pNRB1aYqArN".into())),
            ("createdAt", A::N("10".into())),
        ];
        if let Some(c) = customer {
            pairs.push(("stripeCustomerId", A::S(c.into())));
        }
        item(&pairs)
    }

    #[test]
    fn a_user_gaining_its_customer_is_a_signup_and_only_then() {
        let gained = change(
            "MODIFY",
            "USER#u1",
            "PROFILE",
            Some(profile(None)),
            Some(profile(Some("cus_1"))),
        );
        let Some(Source::Signup(user)) = source_of(&gained).unwrap() else {
            panic!()
        };
        assert_eq!(user.ucc.as_deref(), Some("pNRB1aYqArN"));
        let inserted = change(
            "INSERT",
            "USER#u1",
            "PROFILE",
            None,
            Some(profile(Some("cus_1"))),
        );
        assert!(matches!(source_of(&inserted), Ok(Some(Source::Signup(_)))));
        let later = change(
            "MODIFY",
            "USER#u1",
            "PROFILE",
            Some(profile(Some("cus_1"))),
            Some(profile(Some("cus_1"))),
        );
        assert_eq!(source_of(&later), Ok(None));
        let without = change("INSERT", "USER#u1", "PROFILE", None, Some(profile(None)));
        assert_eq!(source_of(&without), Ok(None));
    }

    #[test]
    fn invoices_and_refunds_are_read_and_everything_else_ignored() {
        let inv = item(&[
            ("invoiceId", A::S("in_1".into())),
            ("customerId", A::S("cus_1".into())),
            ("amountPaid", A::N("2900".into())),
            ("unknownLaterField", A::Bool(true)),
        ]);
        let c = change(
            "INSERT",
            "CUSTOMER#cus_1",
            "INVOICE#in_1",
            None,
            Some(inv.clone()),
        );
        let Some(Source::InvoicePaid(i)) = source_of(&c).unwrap() else {
            panic!()
        };
        assert_eq!(i.amount_paid, Some(2900));
        let removed = change("REMOVE", "CUSTOMER#cus_1", "INVOICE#in_1", Some(inv), None);
        assert_eq!(source_of(&removed), Ok(None));
        for sk in [
            "CELLO_REPORT#invoice-paid#in_1",
            "STATE",
            "CHARGE#ch_1",
            "SUBSCRIPTION#s",
        ] {
            let other = change("INSERT", "CUSTOMER#cus_1", sk, None, Some(item(&[])));
            assert_eq!(source_of(&other), Ok(None), "{sk}");
        }
        let poison = change(
            "INSERT",
            "CUSTOMER#cus_1",
            "REFUND#re_1",
            None,
            Some(item(&[("amount", A::S("lots".into()))])),
        );
        assert!(source_of(&poison).unwrap_err().contains("REFUND#re_1"));
    }
}
