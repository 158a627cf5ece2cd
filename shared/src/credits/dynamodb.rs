//! The DynamoDB side of the credit items: the transaction elements that credit a reward (shared
//! by the rewards function's callback and the kept-reward application) and the
//! [`PendingRewards`] adapter on the table.

use super::{LedgerEntry, PendingRewards, Reward, RewardOutcome, attrs, keys};
use crate::table::{
    Item, StoreError, Table, Transacted, classify, from_item, key, n, put, s, to_item, update,
};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

/// The ledger entry (new) and the balance raise: the part of every credit transaction that
/// changes the user's credits.
pub fn credit_items(
    table: &Table,
    reward: &Reward,
    now: i64,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let (pk, sk) = keys::ledger_entry(&reward.product_user_id, now, &reward.event_id);
    let entry = to_item(&LedgerEntry::of(reward, now), pk, &sk)?;
    let (bpk, bsk) = keys::balance(&reward.product_user_id);
    Ok(vec![
        put(Put::builder()
            .table_name(&table.name)
            .set_item(Some(entry))
            .condition_expression("attribute_not_exists(pk)")
            .build())?,
        update(
            Update::builder()
                .table_name(&table.name)
                .set_key(Some(key(bpk, bsk)))
                .update_expression("ADD #balance :amount SET #updated = :now")
                .expression_attribute_names("#balance", attrs::BALANCE)
                .expression_attribute_names("#updated", attrs::UPDATED_AT)
                .expression_attribute_values(":amount", n(reward.amount))
                .expression_attribute_values(":now", n(now))
                .build(),
        )?,
    ])
}

/// The dedupe record of a reward, new: refused when the eventId was seen before.
pub fn reward_event_item(
    table: &Table,
    reward: &Reward,
    outcome: RewardOutcome,
    now: i64,
) -> Result<TransactWriteItem, StoreError> {
    let (pk, sk) = keys::reward_event(&reward.event_id);
    let mut item = to_item(reward, pk, sk)?;
    item.insert(attrs::OUTCOME.into(), s(outcome.as_str()));
    item.insert("receivedAt".into(), n(now));
    if outcome == RewardOutcome::Credited {
        item.insert(attrs::CREDITED_AT.into(), n(now));
    }
    put(Put::builder()
        .table_name(&table.name)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build())
}

/// A kept reward's item.
pub fn pending_item(reward: &Reward, now: i64) -> Result<Item, StoreError> {
    let (pk, sk) = keys::pending(&reward.product_user_id, &reward.event_id);
    let mut item = to_item(reward, pk, &sk)?;
    item.insert("receivedAt".into(), n(now));
    Ok(item)
}

/// Every reward kept for `product_user_id` (strongly consistent).
pub async fn pending_rewards(
    table: &Table,
    product_user_id: &str,
) -> Result<Vec<Reward>, StoreError> {
    let mut rewards = Vec::new();
    let mut start = None;
    loop {
        let out = table
            .client
            .query()
            .table_name(&table.name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&keys::pending_partition(product_user_id)))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        for mut item in out.items.unwrap_or_default() {
            item.remove("receivedAt");
            rewards.push(from_item::<Reward>(item)?);
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(rewards);
        }
    }
}

impl PendingRewards for Table {
    async fn apply_pending_rewards(&self, user_id: &str, now: i64) -> Result<u32, StoreError> {
        let mut applied = 0;
        for reward in pending_rewards(self, user_id).await? {
            let (ppk, psk) = keys::pending(user_id, &reward.event_id);
            let (epk, esk) = keys::reward_event(&reward.event_id);
            let mut items = vec![
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.name)
                            .set_key(Some(key(ppk, &psk)))
                            .condition_expression("attribute_exists(pk)")
                            .build()
                            .map_err(|e| StoreError::Internal(e.to_string()))?,
                    )
                    .build(),
                update(
                    Update::builder()
                        .table_name(&self.name)
                        .set_key(Some(key(epk, esk)))
                        .update_expression("SET #outcome = :credited, #at = :now")
                        .condition_expression("attribute_exists(pk)")
                        .expression_attribute_names("#outcome", attrs::OUTCOME)
                        .expression_attribute_names("#at", attrs::CREDITED_AT)
                        .expression_attribute_values(":credited", s("credited"))
                        .expression_attribute_values(":now", n(now))
                        .build(),
                )?,
            ];
            items.extend(credit_items(self, &reward, now)?);
            match self.transact(items).await? {
                Transacted::Written => {
                    applied += 1;
                    tracing::info!(event_id = %reward.event_id, "kept reward credited");
                }
                // Another caller applied it first.
                Transacted::Refused(_) => {}
            }
        }
        Ok(applied)
    }
}
