//! The DynamoDB adapter of [`UserStore`].

use super::{CreateOutcome, User, UserStore};
use crate::table::{
    Item, StoreError, Table, Transacted, attrs, classify, from_item, key, keys, put, to_item,
};
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure};

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
            Put::builder()
                .table_name(&self.name)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
        };
        // A user already stored (a retry, a repeat signup) comes back with the refusal.
        let mut items = vec![put(put_new(user_item)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build())?];
        if let Some(item) = email_item {
            items.push(put(put_new(item).build())?);
        }
        match self.transact_returning(items).await? {
            (Transacted::Written, _) => Ok(CreateOutcome::Created),
            // The user exists: a retry or a concurrent request. Report what is stored (the
            // refusal carries it: the put asked for ALL_OLD, and only an existing item refuses).
            (Transacted::Refused(0), Some(stored)) => {
                Ok(CreateOutcome::Existing(Box::new(from_item(stored)?)))
            }
            (Transacted::Refused(0), None) => Err(StoreError::Unavailable),
            (Transacted::Refused(_), _) => Ok(CreateOutcome::EmailTaken),
        }
    }
}
