//! The DynamoDB adapters of [`RewardStore`] and [`ErasureStore`], on the shared table.

use super::{
    Begin, CreditsPage, ErasureRecord, ErasureStore, PERSONAL_ATTRIBUTES, RewardStore, StepRecord,
    scrub_json,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use shared::credits::dynamodb::{credit_items, pending_item, reward_event_item};
use shared::credits::{LedgerEntry, Reward, RewardOutcome, attrs as credit_attrs, keys as ckeys};
use shared::table::{
    Item, StoreError, Table, Transacted, attrs, classify, from_item, is_condition_failure, key,
    keys, n, put, s, update,
};
use std::collections::HashMap;
use std::time::Duration;

/// The erasure item's sort key, in the user's partition.
pub const ERASURE_SK: &str = "ERASURE";
const LEASE_OWNER: &str = "leaseOwner";
const LEASE_UNTIL: &str = "leaseUntil";
const ERASED_AT: &str = "erasedAt";
/// Attempts of one reward's transaction when concurrent deliveries of it conflict.
const RECORD_ATTEMPTS: u32 = 6;

fn build<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Internal(e.to_string()))
}

impl RewardStore for Table {
    async fn record_reward(&self, reward: &Reward, now: i64) -> Result<RewardOutcome, StoreError> {
        let (upk, usk) = keys::user(&reward.product_user_id);
        // Rewards go to referrers, who have signed up, and a repeat is a redelivery: the first
        // attempt guesses that the user exists instead of reading it, and the transaction's own
        // checks tell if that was wrong (the user check refuses: the other branch next) or the
        // reward is a duplicate. One call in both common cases; a wrong guess costs one refused
        // transaction.
        let mut guess = Some(true);
        for attempt in 1..=RECORD_ATTEMPTS {
            let known = match guess {
                Some(known) => known,
                None => self.exists(upk.clone(), usk).await?,
            };
            let outcome = if known {
                RewardOutcome::Credited
            } else {
                RewardOutcome::Pending
            };
            // The user's existence is part of the transaction: a signup landing in between
            // refuses it, and the next attempt takes the other branch.
            let check = build(
                ConditionCheck::builder()
                    .table_name(&self.name)
                    .set_key(Some(key(upk.clone(), usk)))
                    .condition_expression(if known {
                        "attribute_exists(pk)"
                    } else {
                        "attribute_not_exists(pk)"
                    })
                    .build(),
            )?;
            let mut items = vec![
                reward_event_item(self, reward, outcome, now)?,
                TransactWriteItem::builder().condition_check(check).build(),
            ];
            if known {
                items.extend(credit_items(self, reward, now)?);
            } else {
                items.push(put(Put::builder()
                    .table_name(&self.name)
                    .set_item(Some(pending_item(reward, now)?))
                    .condition_expression("attribute_not_exists(pk)")
                    .build())?);
            }
            match self.transact(items).await {
                Ok(Transacted::Written) => return Ok(outcome),
                Ok(Transacted::Refused(0)) => return Ok(RewardOutcome::Duplicate),
                // The user check: the user is not as assumed (a signup may have landed since).
                Ok(Transacted::Refused(1)) => guess = Some(!known),
                Ok(Transacted::Refused(_)) => guess = None,
                // Concurrent deliveries of this reward conflict; the winner's record will
                // make the next attempt a duplicate.
                Err(StoreError::Unavailable) if attempt < RECORD_ATTEMPTS => {
                    tokio::time::sleep(jitter(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable)
    }

    async fn credits(
        &self,
        user_id: &str,
        limit: u32,
        after: Option<&str>,
    ) -> Result<CreditsPage, StoreError> {
        let (bpk, bsk) = ckeys::balance(user_id);
        let balance = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(bpk.clone(), bsk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?
            .item
            .unwrap_or_default();
        let number = |item: &Item, name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
        };
        let start = after.map(|sk| key(bpk.clone(), sk));
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&bpk))
            .expression_attribute_values(":prefix", s(ckeys::LEDGER_PREFIX))
            .scan_index_forward(false)
            .limit(limit as i32)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let entries = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item::<LedgerEntry>)
            .collect::<Result<Vec<_>, _>>()?;
        let next = out
            .last_evaluated_key
            .and_then(|k| k.get(attrs::SK).and_then(|v| v.as_s().ok()).cloned());
        Ok(CreditsPage {
            balance: number(&balance, credit_attrs::BALANCE).unwrap_or(0),
            updated_at: number(&balance, credit_attrs::UPDATED_AT),
            entries,
            next,
        })
    }
}

/// 20–100 ms × attempt, spread so racing deliveries don't retry in lockstep.
fn jitter(attempt: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis((20 + u64::from(nanos % 80)) * u64::from(attempt))
}

impl ErasureStore for Table {
    async fn begin_erasure(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> Result<Begin, StoreError> {
        let (pk, _) = keys::user(user_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk.clone(), ERASURE_SK)))
            .update_expression(
                "SET #started = if_not_exists(#started, :now), \
                 #steps = if_not_exists(#steps, :empty), #owner = :owner, #until = :until",
            )
            .condition_expression(
                "attribute_not_exists(#completed) AND \
                 (attribute_not_exists(#until) OR #until < :now)",
            )
            .expression_attribute_names("#started", "startedAt")
            .expression_attribute_names("#steps", "steps")
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#completed", "completedAt")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(now + lease_seconds))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Begin::Started(record_from(
                out.attributes.unwrap_or_default(),
            )?)),
            Err(err) if is_condition_failure(&err) => {
                let item = self
                    .client
                    .get_item()
                    .table_name(&self.name)
                    .set_key(Some(key(pk, ERASURE_SK)))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(classify)?
                    .item;
                match item.map(record_from).transpose()? {
                    Some(record) if record.completed_at.is_some() => Ok(Begin::Done(record)),
                    _ => Ok(Begin::Busy),
                }
            }
            Err(err) => Err(classify(err)),
        }
    }

    async fn record_step(
        &self,
        user_id: &str,
        owner: &str,
        step: &str,
        record: &StepRecord,
    ) -> Result<(), StoreError> {
        let (pk, _) = keys::user(user_id);
        let value = AttributeValue::M(HashMap::from([
            ("at".to_owned(), n(record.at)),
            ("outcome".to_owned(), s(&record.outcome)),
        ]));
        self.client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, ERASURE_SK)))
            .update_expression("SET #steps.#step = :record")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#steps", "steps")
            .expression_attribute_names("#step", step)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_values(":record", value)
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn scrub_personal_data(&self, user_id: &str) -> Result<u32, StoreError> {
        let (upk, usk) = keys::user(user_id);
        let user = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(upk.clone(), usk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?
            .item;
        let mut changed = 0;
        let mut partitions = vec![upk.clone()];
        if let Some(user) = &user {
            let text = |name: &str| user.get(name).and_then(|v| v.as_s().ok()).cloned();
            if let Some(customer) = text(attrs::STRIPE_CUSTOMER_ID) {
                partitions.push(keys::customer_partition(&customer));
            }
            let scrub_user = scrub_update(self, &upk, usk, user)?;
            let email = text("email");
            if let Some(scrub_user) = scrub_user {
                let mut items = vec![TransactWriteItem::builder().update(scrub_user).build()];
                if let Some(email) = &email {
                    // Only this user's claim on the address goes; never another's.
                    let (epk, esk) = keys::email(email);
                    let delete = build(
                        Delete::builder()
                            .table_name(&self.name)
                            .set_key(Some(key(epk, esk)))
                            .condition_expression("attribute_not_exists(pk) OR #uid = :uid")
                            .expression_attribute_names("#uid", attrs::USER_ID)
                            .expression_attribute_values(":uid", s(user_id))
                            .build(),
                    )?;
                    items.push(TransactWriteItem::builder().delete(delete).build());
                }
                match self.transact(items).await? {
                    Transacted::Written => changed += 1 + u32::from(email.is_some()),
                    Transacted::Refused(1) => {
                        tracing::warn!("the email item names another user; left as it is");
                        if let Some(only_user) = scrub_update(self, &upk, usk, user)? {
                            self.transact(vec![
                                TransactWriteItem::builder().update(only_user).build(),
                            ])
                            .await?;
                        }
                        changed += 1;
                    }
                    // The user item vanished in between: nothing of it left to scrub.
                    Transacted::Refused(_) => {}
                }
            }
        }
        for pk in partitions {
            for item in partition(self, &pk).await? {
                let sk = item
                    .get(attrs::SK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                if pk == upk && sk == usk {
                    continue;
                }
                if let Some(scrub) = scrub_update(self, &pk, &sk, &item)? {
                    match self
                        .transact(vec![TransactWriteItem::builder().update(scrub).build()])
                        .await?
                    {
                        Transacted::Written => changed += 1,
                        Transacted::Refused(_) => {}
                    }
                }
            }
        }
        Ok(changed)
    }

    async fn finish_erasure(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
    ) -> Result<ErasureRecord, StoreError> {
        let (upk, usk) = keys::user(user_id);
        let erasure = update(
            Update::builder()
                .table_name(&self.name)
                .set_key(Some(key(upk.clone(), ERASURE_SK)))
                .update_expression("SET #completed = :now REMOVE #owner, #until")
                .condition_expression("#owner = :owner")
                .expression_attribute_names("#completed", "completedAt")
                .expression_attribute_names("#owner", LEASE_OWNER)
                .expression_attribute_names("#until", LEASE_UNTIL)
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":owner", s(owner))
                .build(),
        )?;
        let mark_user = update(
            Update::builder()
                .table_name(&self.name)
                .set_key(Some(key(upk.clone(), usk)))
                .update_expression("SET #erased = if_not_exists(#erased, :now)")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#erased", ERASED_AT)
                .expression_attribute_values(":now", n(now))
                .build(),
        )?;
        match self.transact(vec![erasure.clone(), mark_user]).await? {
            Transacted::Written => {}
            // No user item (a person we only held rewards for): the erasure alone.
            Transacted::Refused(1) => match self.transact(vec![erasure]).await? {
                Transacted::Written => {}
                Transacted::Refused(_) => return Err(StoreError::Unavailable),
            },
            // The lease was lost to another run.
            Transacted::Refused(_) => return Err(StoreError::Unavailable),
        }
        let item = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(upk, ERASURE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?
            .item
            .unwrap_or_default();
        record_from(item)
    }

    async fn release_erasure(&self, user_id: &str, owner: &str) -> Result<(), StoreError> {
        let (pk, _) = keys::user(user_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, ERASURE_SK)))
            .update_expression("REMOVE #owner, #until")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(classify(err)),
        }
    }
}

/// Every item of a partition (strongly consistent).
async fn partition(table: &Table, pk: &str) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = table
            .client
            .query()
            .table_name(&table.name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// The update that removes an item's personal attributes and scrubs its JSON documents;
/// `None` when it holds none. Conditional on the item still existing.
fn scrub_update(
    table: &Table,
    pk: &str,
    sk: &str,
    item: &Item,
) -> Result<Option<aws_sdk_dynamodb::types::Update>, StoreError> {
    let remove: Vec<&str> = PERSONAL_ATTRIBUTES
        .iter()
        .copied()
        .filter(|a| item.contains_key(*a))
        .collect();
    let rewrite: Vec<(&String, String)> = item
        .iter()
        .filter(|(name, _)| name.as_str() != attrs::PK && name.as_str() != attrs::SK)
        .filter_map(|(name, v)| Some((name, scrub_json(v.as_s().ok()?)?)))
        .collect();
    if remove.is_empty() && rewrite.is_empty() {
        return Ok(None);
    }
    let mut builder = Update::builder()
        .table_name(&table.name)
        .set_key(Some(key(pk.to_owned(), sk)))
        .condition_expression("attribute_exists(pk)");
    let mut parts = Vec::new();
    if !rewrite.is_empty() {
        let sets: Vec<String> = rewrite
            .iter()
            .enumerate()
            .map(|(i, (name, value))| {
                builder = std::mem::take(&mut builder)
                    .expression_attribute_names(format!("#s{i}"), name.as_str())
                    .expression_attribute_values(format!(":s{i}"), s(value));
                format!("#s{i} = :s{i}")
            })
            .collect();
        parts.push(format!("SET {}", sets.join(", ")));
    }
    if !remove.is_empty() {
        let names: Vec<String> = remove
            .iter()
            .enumerate()
            .map(|(i, name)| {
                builder = std::mem::take(&mut builder)
                    .expression_attribute_names(format!("#r{i}"), *name);
                format!("#r{i}")
            })
            .collect();
        parts.push(format!("REMOVE {}", names.join(", ")));
    }
    build(builder.update_expression(parts.join(" ")).build()).map(Some)
}

fn record_from(mut item: Item) -> Result<ErasureRecord, StoreError> {
    item.remove(LEASE_OWNER);
    item.remove(LEASE_UNTIL);
    from_item(item)
}
