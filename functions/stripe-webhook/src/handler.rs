//! POST /stripe/webhook, generic over the secret source, the billing store and the clock.
//!
//! Order: signature on the exact bytes (one secrets refresh when nothing matches, for a
//! rotation not yet seen by this container) → tolerant parse → livemode and type filters →
//! dedupe on the event id → each effect, idempotent in itself → the event marked processed.
//! Marking comes last, so a crash in between only causes a redelivery that changes nothing.
//! Any storage failure answers 5xx so Stripe retries: never 2xx for an unrecorded event.

use crate::billing::{Applied, BillingStore, ModeMismatch, PROCESSED_EVENT_TTL_SECONDS};
use crate::effects::{self, Effect, Ignored};
use crate::event::Event;
use crate::signature::{self, SignatureError};
use lambda_http::http::StatusCode;
use serde::Serialize;
use shared::clock::Clock;
use shared::config::StripeMode;
use shared::http::{Incoming, Reply};
use shared::secrets::SecretError;
use shared::{ApiError, SecretSource, StoreError};
use tracing::Instrument;

pub struct Webhook<S, B, C> {
    pub secrets: S,
    pub store: B,
    pub clock: C,
    /// Events of the other mode are acknowledged and ignored.
    pub mode: StripeMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The effects are recorded (or were already, from an earlier partial delivery).
    Applied,
    /// This event id was processed before; nothing was done.
    Duplicate,
    /// Acknowledged without effect; `reason` says why.
    Ignored,
}

/// The 200 body. Stripe ignores it; it is for logs, replays and people.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub received: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Why a delivery was not recorded. The edge ([`to_response`]) picks the status: Stripe
/// retries anything but a 2xx, so only what a retry can fix answers 5xx.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Missing, malformed or not matching: one answer for all, what failed is logged.
    #[error("invalid signature")]
    InvalidSignature,
    #[error("the verified body is not a Stripe event")]
    InvalidEvent,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// The one mapping of the webhook's outcomes to HTTP.
pub fn to_response(result: Result<Receipt, WebhookError>) -> Result<Reply, ApiError> {
    match result {
        Ok(receipt) => Ok(Reply::json(StatusCode::OK, &receipt)),
        Err(WebhookError::InvalidSignature) => Err(ApiError::bad_request(
            "invalid_signature",
            "the Stripe-Signature header is missing, malformed or does not match",
        )),
        Err(WebhookError::InvalidEvent) => Err(ApiError::bad_request(
            "invalid_event",
            "the body is not a Stripe event",
        )),
        Err(WebhookError::Store(e)) => Err(e.into()),
        Err(WebhookError::Secret(e)) => Err(e.into()),
    }
}

impl<S: SecretSource, B: BillingStore, C: Clock> Webhook<S, B, C> {
    /// The edge: reads the signature header and the raw body once, renders the outcome once.
    pub async fn handle(&self, req: Incoming) -> Result<Reply, ApiError> {
        to_response(
            self.receive(req.header("stripe-signature"), &req.body)
                .await,
        )
    }

    /// The use case: verify, read, dedupe, apply, mark.
    pub async fn receive(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
    ) -> Result<Receipt, WebhookError> {
        self.verify(signature_header, body).await?;
        let event = Event::parse(body).map_err(|e| {
            tracing::warn!(error = %e, "verified body is not a JSON object");
            WebhookError::InvalidEvent
        })?;
        let (Some(id), Some(kind)) = (event.id.get(), event.kind.get()) else {
            tracing::warn!("verified event without id or type; ignored");
            return Ok(receipt(None, None, Outcome::Ignored, Some("not_an_event")));
        };
        let span = tracing::info_span!("event", event_id = id, event_type = kind);
        self.process(&event, id, kind).instrument(span).await
    }

    async fn process(
        &self,
        event: &Event<'_>,
        id: &str,
        kind: &str,
    ) -> Result<Receipt, WebhookError> {
        let livemode = event.livemode.get();
        if livemode != Some(self.mode.is_live()) {
            tracing::warn!(
                ?livemode,
                expected_live = self.mode.is_live(),
                "event from the other Stripe mode; ignored"
            );
            if let Some(customer_id) = effects::customer_of(event, kind) {
                let note = ModeMismatch {
                    customer_id,
                    event_id: id.to_owned(),
                    kind: kind.to_owned(),
                    livemode,
                    last_at: self.clock.now(),
                };
                // Best effort: the event is ignored either way; the note only helps the doctor.
                if let Err(e) = self.store.note_mode_mismatch(&note).await {
                    tracing::warn!(error = %e, "mode mismatch not noted");
                }
            }
            let reason = Ignored::LivemodeMismatch.as_str();
            return Ok(receipt(
                Some(id),
                Some(kind),
                Outcome::Ignored,
                Some(reason),
            ));
        }
        let created = event.created.get().unwrap_or_else(|| self.clock.now());
        let effects = match effects::plan(event, id, kind, created) {
            Ok(effects) => effects,
            Err(why) => {
                tracing::info!(reason = why.as_str(), "ignored");
                return Ok(receipt(
                    Some(id),
                    Some(kind),
                    Outcome::Ignored,
                    Some(why.as_str()),
                ));
            }
        };
        if self.store.is_processed(id).await? {
            tracing::info!("duplicate delivery");
            return Ok(receipt(Some(id), Some(kind), Outcome::Duplicate, None));
        }
        for effect in &effects {
            let applied = self.store.apply(effect).await?;
            if applied == Applied::Conflict
                && let Effect::Link { customer_id, .. } = effect
            {
                // A customer's metadata names another user than the one it is linked to:
                // someone edited it by hand. Never relink; a person must look.
                tracing::error!(customer_id, "customer is linked to another user; kept");
            }
        }
        self.store
            .mark_processed(id, kind, self.clock.now() + PROCESSED_EVENT_TTL_SECONDS)
            .await?;
        tracing::info!(effects = effects.len(), "applied");
        Ok(receipt(Some(id), Some(kind), Outcome::Applied, None))
    }

    async fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), WebhookError> {
        let secrets = self.secrets.current().await?;
        let now = self.clock.now();
        let first = signature::verify(header, body, secrets.stripe_webhook_secrets()?, now);
        let outcome = match first {
            Err(SignatureError::NoMatch) => {
                // Perhaps the secret was rotated since this container read it. The source
                // refreshes at most every 30 s, so a flood of bad signatures stays cheap.
                match self.secrets.refresh().await {
                    Ok(fresh) if fresh.version != secrets.version => {
                        signature::verify(header, body, fresh.stripe_webhook_secrets()?, now)
                    }
                    _ => first,
                }
            }
            other => other,
        };
        match outcome {
            Ok(_) => Ok(()),
            Err(why) => {
                tracing::warn!(reason = why.as_str(), "webhook signature refused");
                Err(WebhookError::InvalidSignature)
            }
        }
    }
}

fn receipt(
    id: Option<&str>,
    kind: Option<&str>,
    outcome: Outcome,
    reason: Option<&'static str>,
) -> Receipt {
    Receipt {
        received: true,
        event_id: id.map(str::to_owned),
        kind: kind.map(str::to_owned),
        outcome,
        reason,
    }
}
