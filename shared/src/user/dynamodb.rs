//! The DynamoDB adapter of [`UserStore`].

use super::{CreateOutcome, User, UserStore};
use crate::table::{
    Item, StoreError, Table, attrs, cancellation_reasons, classify, from_item, key, keys, to_item,
};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

impl UserStore for Table {
    async fn get_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let (pk, sk) = keys::user(user_id);
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map(from_item).transpose()
    }

    async fn create_user(&self, user: &User) -> Result<CreateOutcome, StoreError> {
        let (pk, sk) = keys::user(&user.user_id);
        let user_item = to_item(user, pk, sk)?;
        // Only a proven email is claimed: its uniqueness item goes in the same transaction.
        let email_item = user.email.as_deref().map(|email| {
            let (epk, esk) = keys::email(email);
            let mut item = key(epk, esk);
            item.insert(
                attrs::USER_ID.into(),
                AttributeValue::S(user.user_id.clone()),
            );
            item
        });

        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.name)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(put(user_item)?);
        if let Some(item) = email_item {
            transaction = transaction.transact_items(put(item)?);
        }
        let result = transaction.send().await;
        match result {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(err) => {
                let reasons = cancellation_reasons(&err);
                match reasons.as_deref() {
                    // The user exists: a retry or a concurrent request. Report what is stored.
                    Some([first, ..]) if first == "ConditionalCheckFailed" => {
                        match self.get_user(&user.user_id).await? {
                            Some(existing) => Ok(CreateOutcome::Existing(Box::new(existing))),
                            None => Err(StoreError::Unavailable),
                        }
                    }
                    Some([_, second, ..]) if second == "ConditionalCheckFailed" => {
                        Ok(CreateOutcome::EmailTaken)
                    }
                    // Another transaction on the same items is in flight: retry later.
                    Some(rs) if rs.iter().any(|r| r == "TransactionConflict") => {
                        Err(StoreError::Unavailable)
                    }
                    _ => Err(classify(err)),
                }
            }
        }
    }
}
