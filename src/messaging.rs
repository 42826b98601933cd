//! Accepting outbound text: validate, encode, commit to the queue, wake the pool.

use crate::codec::{self, SubmitOptions};
use crate::daemon::AppState;
use crate::pool::Pool;
use crate::store::outbound::NewMessage;
use crate::store::texts::TextRefused;
use crate::verify::ratelimit;

/// A text to send.
#[derive(Debug, Clone)]
pub struct SendText {
    /// Recipient in E.164 (`+15551234567`).
    pub to: String,
    pub body: String,
    /// Pin the message to this modem (line) by name.
    pub line: Option<String>,
    /// Ask the network for a delivery report.
    pub report: bool,
    /// What the message is for (`text`, `otp`…) and the id of that thing.
    pub purpose: String,
    pub purpose_id: Option<String>,
}

/// The message was committed to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: String,
    pub parts: usize,
    pub encoding: codec::Encoding,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("invalid recipient {0:?}: expected E.164 like +15551234567")]
    InvalidNumber(String),
    #[error("unknown line {0:?}")]
    UnknownLine(String),
    #[error("message too long: {0} parts (at most {max})", max = MAX_PARTS)]
    TooLong(usize),
    #[error("cannot encode message: {0}")]
    Encode(String),
    #[error("texts to {0} are not allowed (see otp.allowed_countries)")]
    CountryNotAllowed(String),
    #[error("too many texts for this {scope}; retry in {retry_after_secs} s")]
    RateLimited {
        retry_after_secs: u64,
        scope: &'static str,
    },
    #[error(
        "the outbound queue is full ({queued} messages waiting); retry in {retry_after_secs} s"
    )]
    QueueFull { queued: u64, retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What a refused text is told to wait when the queue is full: long enough for a modem to
/// send a few messages, short enough not to strand a burst.
pub const QUEUE_FULL_RETRY_SECS: u64 = 30;

/// More parts than this is abuse or a mistake; 10 parts is ~1500 GSM-7 characters.
pub const MAX_PARTS: usize = 10;

/// Encodes `text` and builds the queue row, without writing it (callers that must commit other
/// rows in the same transaction use this with [`crate::store::outbound::enqueue_in`]).
pub fn prepare(state: &AppState, text: &SendText) -> Result<(NewMessage, Accepted), SendError> {
    prepare_for(&state.pool, text)
}

/// [`prepare`] for callers that hold the pool but not the whole [`AppState`] (the verification
/// service, which is itself part of the state).
pub fn prepare_for(pool: &Pool, text: &SendText) -> Result<(NewMessage, Accepted), SendError> {
    if !crate::config::is_e164(&text.to) {
        return Err(SendError::InvalidNumber(text.to.clone()));
    }
    if let Some(line) = &text.line {
        if pool.handle(line).is_none() {
            return Err(SendError::UnknownLine(line.clone()));
        }
    }
    let plan = codec::plan(&text.body);
    if plan.parts.len() > MAX_PARTS {
        return Err(SendError::TooLong(plan.parts.len()));
    }
    let options = SubmitOptions {
        status_report: text.report,
        // A random concatenation reference so that two long messages to the same phone never mix.
        concat_ref: rand::random::<u8>() as u16,
        ..Default::default()
    };
    let parts = codec::encode_submit(&text.to, &text.body, &options)
        .map_err(|e| SendError::Encode(e.to_string()))?;
    let message = NewMessage {
        recipient: text.to.clone(),
        body: text.body.clone(),
        line: text.line.clone(),
        report: text.report,
        encoding: plan.encoding.as_str().to_string(),
        parts: parts.into_iter().map(|p| (p.tpdu_len, p.hex)).collect(),
        purpose: text.purpose.clone(),
        purpose_id: text.purpose_id.clone(),
    };
    let accepted = Accepted {
        id: String::new(),
        parts: message.parts.len(),
        encoding: plan.encoding,
    };
    Ok((message, accepted))
}

/// A plain text from an API caller: [`send_text`] under the abuse policy that OTPs have too.
///
/// The destination must be in an allowed country (`otp.allowed_countries`, one list for every
/// SMS), the caller (`key_id`) and the number must be within `[messages]` limits, and the queue
/// must hold fewer than `outbound.max_queued` messages. Limits, queue bound and enqueue are
/// decided in one transaction, so concurrent requests cannot slip past them together.
pub async fn send_text_checked(
    state: &AppState,
    text: SendText,
    key_id: &str,
) -> Result<Accepted, SendError> {
    if !crate::config::is_e164(&text.to) {
        return Err(SendError::InvalidNumber(text.to.clone()));
    }
    if let Err(e) = state.verifier.check_destination(&text.to) {
        return Err(match e {
            crate::verify::VerifyError::CountryNotAllowed(country) => {
                SendError::CountryNotAllowed(country)
            }
            _ => SendError::InvalidNumber(text.to.clone()),
        });
    }
    let (message, mut accepted) = prepare(state, &text)?;
    let limits = ratelimit::Limits::for_texts(&state.config.messages);
    let max_queued = u64::from(state.config.outbound.max_queued);
    accepted.id = state
        .store
        .enqueue_text(message, limits, key_id.to_string(), max_queued)
        .await?
        .map_err(|refused| match refused {
            TextRefused::QueueFull { queued } => SendError::QueueFull {
                queued,
                retry_after_secs: QUEUE_FULL_RETRY_SECS,
            },
            TextRefused::RateLimited(limited) => SendError::RateLimited {
                retry_after_secs: limited.retry_after_secs,
                scope: limited.scope,
            },
        })?;
    state.pool.wake();
    Ok(accepted)
}

/// Validates, encodes and commits a text; the pool is woken to send it. No abuse limits: for
/// the gateway's own messages and tests; API callers go through [`send_text_checked`].
pub async fn send_text(state: &AppState, text: SendText) -> Result<Accepted, SendError> {
    let (message, mut accepted) = prepare(state, &text)?;
    accepted.id = state.store.enqueue(message).await?;
    state.pool.wake();
    Ok(accepted)
}
