//! The DynamoDB adapter of [`ReportStore`], on the shared table: GetItem for the facts,
//! conditional UpdateItem for the report records (an UpdateItem creates the item when absent,
//! and keeps the attempt count across claims).

use super::*;
use shared::table::{Item, Table, classify, from_item, is_condition_failure, key, n, s};

impl ReportStore for Table {
    async fn get<T: DeserializeOwned + Send>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk.to_owned(), sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map(from_item).transpose()
    }

    async fn claim(&self, key_: &ReportKey, claim: &Claim) -> Result<Claimed, StoreError> {
        let invoice = if claim.invoice_id.is_some() {
            ", invoiceId = :invoice"
        } else {
            ""
        };
        let update = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(key_.pk.clone(), &key_.sk)))
            .update_expression(format!(
                "SET #status = :sending, #trigger = :trigger, userId = :user, #event = :event, \
                 #source = :source, claimToken = :token, updatedAt = :now, \
                 createdAt = if_not_exists(createdAt, :now){invoice} ADD attempts :one"
            ))
            .condition_expression(
                "attribute_not_exists(pk) OR #status = :failed \
                 OR (#status = :sending AND updatedAt < :stale)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#trigger", "trigger")
            .expression_attribute_names("#event", "event")
            .expression_attribute_names("#source", "source")
            .expression_attribute_values(":sending", s(status::SENDING))
            .expression_attribute_values(":failed", s(status::FAILED))
            .expression_attribute_values(":trigger", s(claim.trigger.as_str()))
            .expression_attribute_values(":user", s(&claim.user_id))
            .expression_attribute_values(":event", s(&claim.event))
            .expression_attribute_values(":source", s(&claim.source))
            .expression_attribute_values(":token", s(&claim.token))
            .expression_attribute_values(":now", n(claim.now))
            .expression_attribute_values(":stale", n(claim.stale_before))
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let update = match &claim.invoice_id {
            Some(id) => update.expression_attribute_values(":invoice", s(id)),
            None => update,
        };
        match update.send().await {
            Ok(out) => {
                let attempt = out
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("attempts"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Ok(Claimed::Mine { attempt })
            }
            Err(e) if is_condition_failure(&e) => {
                let current = get_raw(self, key_).await?;
                Ok(held(current.as_ref()))
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn finish(
        &self,
        key_: &ReportKey,
        token: &str,
        finish: &Finish,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(key_.pk.clone(), &key_.sk)))
            .condition_expression("claimToken = :token AND #status = :sending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":sending", s(status::SENDING))
            .expression_attribute_values(":to", s(finish.status()))
            .expression_attribute_values(":now", n(now));
        update = match finish {
            Finish::Sent => update
                .update_expression(
                    "SET #status = :to, updatedAt = :now, sentAt = :now REMOVE #error",
                )
                .expression_attribute_names("#error", "error"),
            Finish::Refused(why) | Finish::Failed(why) => update
                .update_expression("SET #status = :to, updatedAt = :now, #error = :why")
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":why", s(why)),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(classify(e)),
        }
    }
}

async fn get_raw(table: &Table, key_: &ReportKey) -> Result<Option<Item>, StoreError> {
    let out = table
        .client
        .get_item()
        .table_name(&table.name)
        .set_key(Some(key(key_.pk.clone(), &key_.sk)))
        .consistent_read(true)
        .send()
        .await
        .map_err(classify)?;
    Ok(out.item)
}

/// What a record we could not claim says.
fn held(item: Option<&Item>) -> Claimed {
    let text = |name: &str| {
        item.and_then(|i| i.get(name))
            .and_then(|v| v.as_s().ok())
            .cloned()
    };
    match text("status").as_deref() {
        Some(status::SENT) => Claimed::Sent,
        Some(status::REFUSED) => Claimed::Refused(text("error").unwrap_or_default()),
        // A live claim, or one that changed between our write and our read.
        _ => Claimed::InFlight,
    }
}
