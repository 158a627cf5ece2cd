//! The DynamoDB adapter of [`BillingStore`], on the shared table.

use super::*;
use shared::table::{
    Item, Table, attrs, classify, from_item, is_condition_failure, key, keys, n, s, to_item,
};

impl Decode for Item {
    fn decode<T: DeserializeOwned>(self) -> Result<T, StoreError> {
        from_item(self)
    }
    fn user_id(&self) -> Option<String> {
        self.get(attrs::USER_ID)
            .and_then(|v| v.as_s().ok())
            .map(String::from)
    }
}

fn record_item(effect: &Effect, pk: String, sk: &str) -> Result<Item, StoreError> {
    match effect {
        Effect::Link { .. } => Ok(key(pk, sk)),
        Effect::Customer(r) => to_item(r, pk, sk),
        Effect::Subscription(r) => to_item(r, pk, sk),
        Effect::Charge(r) => to_item(r, pk, sk),
        Effect::Invoice(r) => to_item(r, pk, sk),
        Effect::Refund(r) => to_item(r, pk, sk),
        Effect::Checkout(r) => to_item(r, pk, sk),
    }
}

impl BillingStore for Table {
    async fn is_processed(&self, event_id: &str) -> Result<bool, StoreError> {
        let (pk, sk) = keys::stripe_event(event_id);
        self.exists(pk, sk).await
    }

    async fn apply(&self, effect: &Effect) -> Result<Applied, StoreError> {
        let (pk, sk, rule) = placement(effect);
        let result = match rule {
            Rule::Link(user_id) => self
                .client
                .update_item()
                .table_name(&self.name)
                .set_key(Some(key(pk, &sk)))
                .update_expression("SET #user = :user")
                .condition_expression("attribute_not_exists(#user) OR #user = :user")
                .expression_attribute_names("#user", attrs::USER_ID)
                .expression_attribute_values(":user", s(user_id))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (is_condition_failure(&e), classify(e))),
            Rule::Versioned(version) => self
                .client
                .put_item()
                .table_name(&self.name)
                .set_item(Some(record_item(effect, pk, &sk)?))
                .condition_expression("attribute_not_exists(#v) OR #v < :v")
                .expression_attribute_names("#v", attrs::VERSION)
                .expression_attribute_values(":v", s(version))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (is_condition_failure(&e), classify(e))),
            Rule::Once => self
                .client
                .put_item()
                .table_name(&self.name)
                .set_item(Some(record_item(effect, pk, &sk)?))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (is_condition_failure(&e), classify(e))),
        };
        match (result, rule) {
            (Ok(()), _) => Ok(Applied::Written),
            (Err((true, _)), Rule::Link(_)) => Ok(Applied::Conflict),
            (Err((true, _)), _) => Ok(Applied::Unchanged),
            (Err((false, e)), _) => Err(e),
        }
    }

    async fn mark_processed(
        &self,
        event_id: &str,
        event_type: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::stripe_event(event_id);
        let mut item = key(pk, sk);
        item.insert("type".into(), s(event_type));
        item.insert(attrs::TTL.into(), n(expires_at));
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn note_mode_mismatch(&self, note: &ModeMismatch) -> Result<(), StoreError> {
        let item = to_item(
            note,
            keys::customer_partition(&note.customer_id),
            MODE_MISMATCH_SK,
        )?;
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn customer_billing(&self, customer_id: &str) -> Result<CustomerBilling, StoreError> {
        let (pk, _) = keys::customer(customer_id);
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                let sk = item
                    .get(attrs::SK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                items.push((sk, item));
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        assemble(items)
    }
}
