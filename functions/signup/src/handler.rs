//! `POST /signup`. The order loses nothing: the user and its referral code are stored first
//! (one transaction with the email's uniqueness item), then, under a claim on the user item,
//! the Stripe customer is found or created and its id written back with the customer → user
//! lookup. A failure anywhere leaves a state that the next call completes.

use crate::customers::{NewCustomer, StripeCustomers};
use crate::request::{SignupBody, UCC_COOKIE, ValidSignup, validate};
use crate::settings::{SignupSettings, UnverifiedEmail};
use crate::store::{Claim, CustomerLinks, EmailClaim, EmailClaims, Link};
use lambda_http::http::StatusCode;
use shared::clock::Clock;
use shared::credits::PendingRewards;
use shared::field::FieldError;
use shared::http::{Incoming, Reply};
use shared::stripe::StripeFailure;
use shared::user::CreateOutcome;
use shared::{ApiError, Authenticator, Identity, StoreError, User, UserStore};
use std::collections::HashMap;
use std::time::Duration;

/// After this long the Stripe idempotency key (kept at least 24 h) may be gone: look the
/// customer up before creating one.
const IDEMPOTENCY_KEY_SAFE_AGE: i64 = 23 * 60 * 60;
/// How long a concurrent request waits for the claim holder to finish before answering 503.
const WAIT_STEPS: u32 = 20;
const WAIT_STEP: Duration = Duration::from_millis(150);

pub struct SignupHandler<S, P, C> {
    pub store: S,
    pub stripe: P,
    pub auth: Authenticator,
    pub settings: SignupSettings,
    pub clock: C,
}

/// Why a signup did not complete. Mapped to HTTP once, by `From<SignupError> for ApiError`.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The environment refuses signups without a proven email, and this one has none.
    #[error("a verified email is needed")]
    EmailNotVerified,
    #[error("this email belongs to another account")]
    EmailTaken,
    /// Another request holds the claim on creating this user's customer.
    #[error("another request is completing this signup")]
    InProgress,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stripe(#[from] StripeFailure),
    /// The person was erased (`DELETE /account` or the erase command): signing up again
    /// would put their data back.
    #[error("this account was erased")]
    Erased,
    /// The user vanished between its write and the claim: nothing a retry can mend.
    #[error("the user vanished between create and claim")]
    Vanished,
}

impl From<SignupError> for ApiError {
    fn from(e: SignupError) -> Self {
        match e {
            SignupError::Invalid(e) => e.into(),
            SignupError::EmailNotVerified => ApiError::new(
                StatusCode::FORBIDDEN,
                "email_not_verified",
                "signing up needs an email your sign-in has verified (email_verified); \
                 verify your email with your identity provider, then sign in again",
            ),
            SignupError::EmailTaken => {
                ApiError::conflict("email_taken", "this email belongs to another account")
            }
            SignupError::InProgress => ApiError {
                code: "signup_in_progress",
                ..ApiError::unavailable(
                    "another request is completing this signup; retry shortly",
                    2,
                )
            },
            SignupError::Store(e) => e.into(),
            SignupError::Stripe(StripeFailure::Unavailable) => ApiError::unavailable(
                "the payment provider is unavailable; your signup is saved, retry shortly",
                5,
            ),
            SignupError::Stripe(StripeFailure::Refused(detail)) => {
                tracing::error!(%detail, "Stripe refused the request");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "payment_provider_error",
                    "the payment provider refused the request",
                )
            }
            SignupError::Erased => ApiError::new(
                StatusCode::GONE,
                "account_erased",
                "this account was erased at its owner's request and cannot be signed up again",
            ),
            SignupError::Vanished => {
                tracing::error!("user vanished between create and claim");
                ApiError::internal()
            }
        }
    }
}

/// What a signup ended in: the stored user, and whether this request completed it.
#[derive(Debug)]
pub struct Signed {
    pub user: User,
    pub created: bool,
}

/// The Stripe idempotency key for a user's customer: the same for every attempt.
pub fn idempotency_key(user_id: &str) -> String {
    format!("cello-signup-customer-{user_id}")
}

/// The customer Cello attributes the signup by. Keys without a value are left out.
/// The Stripe idempotency key for giving the customer a later-proven email.
pub fn email_update_key(user_id: &str, email: &str) -> String {
    format!("cello-signup-email-{user_id}-{}", email.to_lowercase())
}

pub fn new_customer(user: &User) -> NewCustomer {
    let mut metadata = HashMap::from([("new_user_id".to_owned(), user.user_id.clone())]);
    if let Some(ucc) = &user.ucc {
        metadata.insert("cello_ucc".into(), ucc.clone());
    }
    if let Some(org) = &user.organization_id {
        metadata.insert("new_user_organization_id".into(), org.clone());
    }
    NewCustomer {
        email: user.email.clone(),
        name: user.full_name(),
        metadata,
        preferred_locale: None,
    }
}

fn user_from(signup: ValidSignup, user_id: String, now: i64) -> User {
    let (ucc, ucc_source, ucc_standard) = match signup.ucc {
        Some(u) => (Some(u.code), Some(u.source), Some(u.standard)),
        None => (None, None, None),
    };
    let (email, unverified_email) = match signup.email {
        Some(e) if e.proven => (Some(e.address), None),
        Some(e) => (None, Some(e.address)),
        None => (None, None),
    };
    User {
        user_id,
        email,
        unverified_email,
        email_pending_stripe: None,
        first_name: signup.first_name,
        last_name: signup.last_name,
        organization_id: signup.organization_id,
        language: signup.language,
        ucc,
        ucc_source,
        ucc_standard,
        created_at: now,
        stripe_customer_id: None,
        erased_at: None,
    }
}

impl<S, P, C> SignupHandler<S, P, C>
where
    S: UserStore + CustomerLinks + EmailClaims + PendingRewards,
    P: StripeCustomers,
    C: Clock,
{
    /// The edge: identity, body, cookie and request id read once; the outcome rendered once.
    pub async fn handle(&self, req: Incoming) -> Result<Reply, ApiError> {
        let identity = self.auth.identify(&req)?;
        let body: SignupBody = req.json()?;
        let signed = self
            .sign_up(&identity, body, req.cookie(UCC_COOKIE), &req.request_id)
            .await?;
        let status = if signed.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(Reply::json(status, &signed.user))
    }

    /// The use case: the user stored with its referral code, then its one Stripe customer.
    pub async fn sign_up(
        &self,
        identity: &Identity,
        body: SignupBody,
        ucc_cookie: Option<&str>,
        request_id: &str,
    ) -> Result<Signed, SignupError> {
        let signup = validate(
            body,
            identity,
            ucc_cookie,
            self.settings.trust_identity_provider_emails,
        )?;
        let proven = signup
            .email
            .as_ref()
            .filter(|e| e.proven)
            .map(|e| e.address.clone());
        if proven.is_none() {
            match self.settings.unverified_email {
                UnverifiedEmail::Refuse => return Err(SignupError::EmailNotVerified),
                UnverifiedEmail::StoreUnproven if signup.email.is_none() => {
                    return Err(FieldError::new(
                        "email",
                        "missing_email",
                        "email is required (your sign-in carries none)",
                    )
                    .into());
                }
                UnverifiedEmail::StoreUnproven => {
                    tracing::info!("storing an unproven email: not claimed, not sent to Stripe")
                }
            }
        }
        let now = self.clock.now();
        let user = user_from(signup, identity.user_id.clone(), now);
        if user.ucc_standard == Some(false) {
            tracing::warn!("storing a referral code that is not in Cello's standard form");
        }

        let mut stored = self.store_user(user).await?;
        if stored.erased_at.is_some() {
            return Err(SignupError::Erased);
        }
        self.apply_kept_rewards(&stored.user_id).await;
        if let Some(email) = proven
            && stored.email.is_none()
        {
            // Proven now, after an earlier unproven signup: claim it, then Stripe gets it.
            match self.store.claim_email(&stored.user_id, &email).await? {
                EmailClaim::Taken => return Err(SignupError::EmailTaken),
                EmailClaim::Claimed => {
                    tracing::info!("a later-proven email claimed");
                    stored.email = Some(email);
                    stored.unverified_email = None;
                    stored.email_pending_stripe = Some(true);
                }
            }
        }
        let created = match &stored.stripe_customer_id {
            Some(_) => false,
            None => {
                let owner = claim_owner(request_id);
                let (customer_id, linked_here) = self.ensure_customer(&stored, &owner).await?;
                stored.stripe_customer_id = Some(customer_id);
                linked_here
            }
        };
        if stored.email_pending_stripe == Some(true) {
            self.give_customer_its_email(&stored).await?;
            stored.email_pending_stripe = None;
        }
        tracing::info!(created, has_ucc = stored.ucc.is_some(), "signup complete");
        Ok(Signed {
            user: stored,
            created,
        })
    }

    /// The customer gets the user's proven email (one idempotent update), then the mark goes.
    async fn give_customer_its_email(&self, user: &User) -> Result<(), SignupError> {
        if let (Some(customer_id), Some(email)) = (&user.stripe_customer_id, &user.email) {
            self.stripe
                .update_email(customer_id, email, &email_update_key(&user.user_id, email))
                .await?;
        }
        self.store.email_reached_stripe(&user.user_id).await?;
        Ok(())
    }

    /// Credits the rewards Cello sent before this user existed (each once, however often this
    /// runs). Best effort: the signup does not fail for it, and the rewards function applies
    /// what is left on the user's next `GET /credits`. One strongly consistent query when
    /// nothing is kept, which is nearly always.
    async fn apply_kept_rewards(&self, user_id: &str) {
        match self
            .store
            .apply_pending_rewards(user_id, self.clock.now())
            .await
        {
            Ok(0) => {}
            Ok(applied) => tracing::info!(applied, "rewards kept before signup credited"),
            Err(e) => {
                tracing::warn!(error = %e, "kept rewards not applied now; credits applies them later")
            }
        }
    }

    /// Registers the user, or returns the one a retry or a concurrent request stored first.
    async fn store_user(&self, user: User) -> Result<User, SignupError> {
        match self.store.create_user(&user).await {
            Ok(CreateOutcome::Created) => Ok(user),
            Ok(CreateOutcome::Existing(stored)) => Ok(*stored),
            Ok(CreateOutcome::EmailTaken) => Err(SignupError::EmailTaken),
            // A concurrent request's transaction on the same items: theirs may have landed.
            Err(StoreError::Unavailable) => match self.store.get_user(&user.user_id).await? {
                Some(stored) => Ok(stored),
                None => Err(StoreError::Unavailable.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The user's one Stripe customer, and whether this request linked it.
    async fn ensure_customer(
        &self,
        user: &User,
        owner: &str,
    ) -> Result<(String, bool), SignupError> {
        for _ in 0..WAIT_STEPS {
            let now = self.clock.now();
            let claim = self
                .store
                .claim_customer_creation(
                    &user.user_id,
                    owner,
                    now,
                    self.settings.claim_lease_seconds,
                )
                .await?;
            match claim {
                Claim::Linked(customer_id) => return Ok((customer_id, false)),
                Claim::Granted { earlier_attempts } => {
                    let result = self
                        .create_and_link(user, owner, earlier_attempts, now)
                        .await;
                    if result.is_err() {
                        // Best effort: an unreleased lease only delays the retry until it ends.
                        let _ = self.store.release_claim(&user.user_id, owner).await;
                    }
                    return result;
                }
                Claim::Busy => tokio::time::sleep(WAIT_STEP).await,
                Claim::NoUser => return Err(SignupError::Vanished),
            }
        }
        Err(SignupError::InProgress)
    }

    async fn create_and_link(
        &self,
        user: &User,
        owner: &str,
        earlier_attempts: u32,
        now: i64,
    ) -> Result<(String, bool), SignupError> {
        // An earlier attempt may have created the customer and crashed before recording it,
        // and an old key may have expired: then look before creating. Stripe's idempotency key
        // is the second line of defence, for the window between lookup and create.
        let may_exist = earlier_attempts > 0 || now - user.created_at > IDEMPOTENCY_KEY_SAFE_AGE;
        let found = if may_exist {
            self.find_customer(user).await?
        } else {
            None
        };
        let customer_id = match found {
            Some(id) => {
                tracing::info!(
                    earlier_attempts,
                    "reusing the customer an earlier attempt created"
                );
                id
            }
            None => {
                self.stripe
                    .create_customer(&new_customer(user), &idempotency_key(&user.user_id))
                    .await?
            }
        };
        match self
            .store
            .link_customer(&user.user_id, owner, &customer_id)
            .await?
        {
            Link::Linked => Ok((customer_id, true)),
            Link::LostClaim => match self.store.get_user(&user.user_id).await? {
                Some(User {
                    stripe_customer_id: Some(id),
                    ..
                }) => Ok((id, false)),
                _ => Err(SignupError::InProgress),
            },
        }
    }

    async fn find_customer(&self, user: &User) -> Result<Option<String>, SignupError> {
        // Without a proven email there is nothing to look up by (the customer was created
        // without one); the idempotency key is then the only guard, and it is kept 24 h.
        let Some(email) = &user.email else {
            return Ok(None);
        };
        let candidates = self.stripe.customers_by_email(email).await?;
        // Stripe lists newest first; the oldest match is the one Cello saw first.
        Ok(candidates
            .into_iter()
            .rev()
            .find(|c| c.metadata.get("new_user_id") == Some(&user.user_id))
            .map(|c| c.id))
    }
}

/// A token unique to this attempt: the invocation's request id plus the clock, so two
/// attempts never mistake each other's claim.
fn claim_owner(request_id: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{request_id}:{nanos:x}")
}
