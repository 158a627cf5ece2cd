//! The DynamoDB adapter of [`CustomerLinks`], on the shared table: a conditional update of
//! the user item for the claim, one transaction for the link and the lookup item.

use super::{Claim, CustomerLinks, EmailClaim, EmailClaims, Link, attrs};
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, Update};
use shared::table::{
    StoreError, Table, Transacted, attrs::STRIPE_CUSTOMER_ID, attrs::USER_ID, classify,
    is_condition_failure, key, keys, n, s, update,
};
use shared::user::UserStore;

impl CustomerLinks for Table {
    async fn claim_customer_creation(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> Result<Claim, StoreError> {
        let (pk, sk) = keys::user(user_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #owner = :owner, #until = :until ADD #attempts :one")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(#customer) \
                 AND (attribute_not_exists(#until) OR #until < :now)",
            )
            .expression_attribute_names("#owner", attrs::OWNER)
            .expression_attribute_names("#until", attrs::UNTIL)
            .expression_attribute_names("#attempts", attrs::ATTEMPTS)
            .expression_attribute_names("#customer", STRIPE_CUSTOMER_ID)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(now + lease_seconds))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let earlier_attempts = out
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(attrs::ATTEMPTS))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                Ok(Claim::Granted { earlier_attempts })
            }
            Err(err) if is_condition_failure(&err) => Ok(match self.get_user(user_id).await? {
                None => Claim::NoUser,
                Some(user) => match user.stripe_customer_id {
                    Some(customer) => Claim::Linked(customer),
                    None => Claim::Busy,
                },
            }),
            Err(err) => Err(classify(err)),
        }
    }

    async fn link_customer(
        &self,
        user_id: &str,
        owner: &str,
        customer_id: &str,
    ) -> Result<Link, StoreError> {
        let (pk, sk) = keys::user(user_id);
        let user_update = update(
            Update::builder()
                .table_name(&self.name)
                .set_key(Some(key(pk, sk)))
                .update_expression("SET #customer = :customer REMOVE #owner, #until")
                .condition_expression("#owner = :owner AND attribute_not_exists(#customer)")
                .expression_attribute_names("#customer", STRIPE_CUSTOMER_ID)
                .expression_attribute_names("#owner", attrs::OWNER)
                .expression_attribute_names("#until", attrs::UNTIL)
                .expression_attribute_values(":customer", s(customer_id))
                .expression_attribute_values(":owner", s(owner))
                .build(),
        )?;
        // An update, not a put: the webhook may already have recorded more on this item.
        let (cpk, csk) = keys::customer(customer_id);
        let lookup = update(names_user(&self.name, cpk, csk, user_id).build())?;
        match self.transact(vec![user_update, lookup]).await? {
            Transacted::Written => Ok(Link::Linked),
            Transacted::Refused(0) => Ok(Link::LostClaim),
            Transacted::Refused(_) => Err(StoreError::Internal(format!(
                "customer {customer_id} is linked to another user"
            ))),
        }
    }

    async fn release_claim(&self, user_id: &str, owner: &str) -> Result<(), StoreError> {
        let (pk, sk) = keys::user(user_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .update_expression("REMOVE #owner, #until")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", attrs::OWNER)
            .expression_attribute_names("#until", attrs::UNTIL)
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else holds it now: nothing of ours to release.
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(classify(err)),
        }
    }
}

impl EmailClaims for Table {
    async fn claim_email(&self, user_id: &str, email: &str) -> Result<EmailClaim, StoreError> {
        let (epk, esk) = keys::email(email);
        // Absent, or already this user's (a retry): either way the item ends up naming them.
        let email_item = update(names_user(&self.name, epk, esk, user_id).build())?;
        let (pk, sk) = keys::user(user_id);
        let user_update = update(
            Update::builder()
                .table_name(&self.name)
                .set_key(Some(key(pk, sk)))
                .update_expression("SET #email = :email, #pending = :true REMOVE #unverified")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#email", attrs::EMAIL)
                .expression_attribute_names("#pending", attrs::EMAIL_PENDING_STRIPE)
                .expression_attribute_names("#unverified", attrs::UNVERIFIED_EMAIL)
                .expression_attribute_values(":email", s(email))
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .build(),
        )?;
        match self.transact(vec![email_item, user_update]).await? {
            Transacted::Written => Ok(EmailClaim::Claimed),
            Transacted::Refused(0) => Ok(EmailClaim::Taken),
            Transacted::Refused(_) => Err(StoreError::Internal(format!(
                "user {user_id} vanished while claiming its email"
            ))),
        }
    }

    async fn email_reached_stripe(&self, user_id: &str) -> Result<(), StoreError> {
        let (pk, sk) = keys::user(user_id);
        self.client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .update_expression("REMOVE #pending")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#pending", attrs::EMAIL_PENDING_STRIPE)
            .send()
            .await
            .map(|_| ())
            .or_else(|err| {
                if is_condition_failure(&err) {
                    Ok(())
                } else {
                    Err(classify(err))
                }
            })
    }
}

/// The update that makes a lookup item (`CUSTOMER#…` or `EMAIL#…`) name `user_id`: set when
/// absent, accepted when it already does, refused when it names another user.
fn names_user(table: &str, pk: String, sk: &str, user_id: &str) -> UpdateBuilder {
    Update::builder()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .update_expression("SET #user = :user")
        .condition_expression("attribute_not_exists(pk) OR #user = :user")
        .expression_attribute_names("#user", USER_ID)
        .expression_attribute_values(":user", s(user_id))
}
