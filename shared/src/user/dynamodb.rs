//! The DynamoDB adapter of [`UserStore`].

use super::{CreateOutcome, User, UserStore};
use crate::table::{
    Item, StoreError, Table, Transacted, attrs, classify, from_item, key, keys, put, to_item,
};
use aws_sdk_dynamodb::types::{AttributeValue, Put};

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

        let put_new = |item: Item| {
            put(Put::builder()
                .table_name(&self.name)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build())
        };
        let mut items = vec![put_new(user_item)?];
        if let Some(item) = email_item {
            items.push(put_new(item)?);
        }
        match self.transact(items).await {
            Ok(Transacted::Written) => Ok(CreateOutcome::Created),
            // The user exists: a retry or a concurrent request. Report what is stored.
            Ok(Transacted::Refused(0)) => match self.get_user(&user.user_id).await? {
                Some(existing) => Ok(CreateOutcome::Existing(Box::new(existing))),
                None => Err(StoreError::Unavailable),
            },
            Ok(Transacted::Refused(_)) => Ok(CreateOutcome::EmailTaken),
            Err(e) => Err(e),
        }
    }
}
