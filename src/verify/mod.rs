//! Phone verification: standard OTP (we text a code, the person types it back) and reverse OTP
//! (the person texts us a factor from their phone), as a service the HTTP API calls.
//!
//! - Codes come from a CSPRNG with uniform digits ([`code`]), are stored only as an HMAC keyed
//!   by the server pepper and bound to the verification id, and are compared in constant time.
//!   They never reach a log.
//! - A verification and its SMS are committed in one transaction (the SMS through the outbound
//!   queue, `purpose = "otp"`), so an accepted verification always has its message queued.
//! - Attempts are counted before the comparison, in the same transaction, so parallel guesses
//!   cannot exceed `otp.max_attempts`.
//! - Rate limits per number, per API key and per end-user IP, and a country allow-list
//!   ([`ratelimit`]).
//! - Reverse OTP sessions are matched against inbound SMS inside the inbound transaction by
//!   [`ReverseMatcher`] (see [`reverse`]), from numeric senders only and with the SMSC-country
//!   check ([`sender`]).
//! - A code SMS still queued when its verification ends is withdrawn unsent
//!   ([`outbound::withdraw_ended_codes`]).
//!
//! Times are Unix milliseconds throughout; the API formats them.

pub mod code;
pub(crate) mod factor;
pub(crate) mod proof;
pub(crate) mod ratelimit;
pub(crate) mod reverse;
pub mod sender;
pub(crate) mod template;

pub use code::CodeType;
pub use proof::ProofKeys;
pub use reverse::{ReverseInit, ReverseMatcher, ReverseView};

use crate::config::{Config, Otp};
use crate::messaging::{self, SendError, SendText};
use crate::phone;
use crate::pool::Pool;
use crate::secret::Secret;
use crate::store::{events, new_id, now_ms, outbound, Store, StoreError};
use ratelimit::{Limits, Subject};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

/// Where a verification stands. Stored rows move from `pending` to one of the others once;
/// `expired` is also reported for a `pending` row whose time is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtpStatus {
    Pending,
    Verified,
    Expired,
    /// Too many wrong attempts.
    Locked,
    Cancelled,
}

impl OtpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OtpStatus::Pending => "pending",
            OtpStatus::Verified => "verified",
            OtpStatus::Expired => "expired",
            OtpStatus::Locked => "locked",
            OtpStatus::Cancelled => "cancelled",
        }
    }

    fn from_db(s: &str) -> OtpStatus {
        match s {
            "verified" => OtpStatus::Verified,
            "expired" => OtpStatus::Expired,
            "locked" => OtpStatus::Locked,
            "cancelled" => OtpStatus::Cancelled,
            _ => OtpStatus::Pending,
        }
    }

    /// The status as seen at `now`: a pending row past its expiry is expired.
    fn at(self, expires_at: i64, now: i64) -> OtpStatus {
        if self == OtpStatus::Pending && now >= expires_at {
            OtpStatus::Expired
        } else {
            self
        }
    }
}

/// A request for a standard OTP.
#[derive(Debug, Clone, Default)]
pub struct CreateOtp {
    /// The person's number as given; national formats are read with `otp.default_country`.
    pub to: String,
    /// Language tag (`en`, `pt-BR`…); unknown or absent: English.
    pub language: Option<String>,
    /// App name for the message.
    pub name: Option<String>,
    /// The caller's API key (or its id): rate limits are kept per key. Never stored as is.
    pub api_key: String,
    /// The end user's IP, when the caller passes it along.
    pub client_ip: Option<IpAddr>,
}

/// Bounds of the per-request settings ([`OtpOptions`]).
pub const MIN_CODE_LENGTH: u32 = 4;
pub const MAX_CODE_LENGTH: u32 = 10;
pub const MIN_TTL_SECS: u64 = 30;
pub const MAX_TTL_SECS: u64 = 3600;
pub const MAX_ATTEMPTS_LIMIT: u32 = 10;

/// Per-request settings of a standard OTP; each absent one takes its `[otp]` value.
#[derive(Debug, Clone, Default)]
pub struct OtpOptions {
    /// 4..=10 symbols.
    pub code_length: Option<u32>,
    pub code_type: Option<CodeType>,
    /// 30..=3600 seconds.
    pub ttl_secs: Option<u64>,
    /// 1..=10.
    pub max_attempts: Option<u32>,
    /// The code SMS for any language the request has no `templates` entry for.
    pub template: Option<String>,
    /// Code SMS per language tag (`{"fr": "…"}`), picked by the request's `language`.
    pub templates: BTreeMap<String, String>,
    /// Send from this line (a modem name, already resolved from a name or number).
    pub line: Option<String>,
    /// Receives `otp.verified`, `otp.failed` and `otp.expired`, signed like every webhook.
    pub callback_url: Option<String>,
    /// The app or service the verification is for: the proof's `aud`.
    pub service: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtpCreated {
    /// `otp_…`
    pub otp_id: String,
    /// The number in E.164.
    pub to: String,
    pub expires_at: i64,
    /// The queued SMS (`msg_…`).
    pub message_id: String,
    /// SMS parts of the message.
    pub parts: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub verified: bool,
    pub status: OtpStatus,
    pub attempts_left: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Resent {
    pub resent: bool,
    /// When `resent` is false because of the cooldown: seconds until a resend is allowed.
    pub retry_after_secs: Option<u64>,
}

/// A verification as the API shows it: never the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtpView {
    pub otp_id: String,
    pub to: String,
    /// `+1***-***-7890`: where the code went, for a front end to show.
    pub to_masked: String,
    pub code_type: CodeType,
    pub code_length: Option<u32>,
    /// The line the code SMS is sent from, when the request chose one.
    pub line: Option<String>,
    pub callback_url: Option<String>,
    pub service: Option<String>,
    /// Once verified: a signed JWT saying so (see [`proof`]).
    pub proof: Option<String>,
    pub country: Option<String>,
    pub status: OtpStatus,
    pub verified: bool,
    pub attempts: u32,
    pub attempts_left: u32,
    pub max_attempts: u32,
    pub resends: u32,
    pub language: String,
    pub name: Option<String>,
    pub message_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub verified_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("invalid phone number {0:?}: expected E.164 like +14155550100 or a national number")]
    InvalidNumber(String),
    #[error("verifications to {0} are not allowed (see otp.allowed_countries)")]
    CountryNotAllowed(String),
    #[error("invalid factor: {0}")]
    InvalidFactor(String),
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("too many verification requests for this {scope}; retry in {retry_after_secs} s")]
    RateLimited {
        retry_after_secs: u64,
        scope: &'static str,
    },
    #[error("no such verification")]
    NotFound,
    #[error("no ready line with a known number to receive the reverse-OTP text")]
    NoLineAvailable,
    #[error("{0:?} is not the number of one of this gateway's lines")]
    NotOurNumber(String),
    /// A per-request setting out of bounds; `field` names it as the request did.
    #[error("{detail}")]
    InvalidSetting { field: String, detail: String },
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for VerifyError {
    fn from(e: rusqlite::Error) -> Self {
        VerifyError::Store(StoreError::Sqlite(e))
    }
}

impl VerifyError {
    /// Is this the caller's mistake (4xx) rather than ours (5xx)?
    pub fn is_client_error(&self) -> bool {
        !matches!(self, VerifyError::Store(_))
            && !matches!(self, VerifyError::Send(SendError::Store(_)))
    }
}

/// The verification service. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    pepper: Secret,
    otp: Otp,
    pool: Pool,
    events_appended: Arc<Notify>,
    limits: Limits,
    /// `otp.allowed_countries`, upper case; empty: see [`Verifier::country_allowed`].
    allowed_countries: HashSet<String>,
    /// Countries of the configured SIM numbers plus the default country.
    home_countries: HashSet<String>,
    /// Round-robin position for picking a reverse-OTP line.
    next_line: AtomicUsize,
    proof_keys: ProofKeys,
    proofs: crate::config::Proofs,
    templates: template::Templates,
}

impl Verifier {
    /// Builds the service from the daemon's parts; `config` gives `[otp]`, `[proofs]` and the
    /// SIM numbers; `proof_keys` sign proofs (see [`ProofKeys::load_or_create`]).
    pub fn new(
        config: &Config,
        store: Store,
        pool: Pool,
        secret: Secret,
        proof_keys: ProofKeys,
        events_appended: Arc<Notify>,
    ) -> Verifier {
        // libphonenumber's metadata loads on first use; do it now, off the async workers, so
        // that the first request (or inbound match, inside a transaction) does not pay for it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(|| phone::country_of("+14155550100"));
        }
        let allowed_countries = config
            .otp
            .allowed_countries
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect();
        let mut home_countries: HashSet<String> = config
            .modems
            .iter()
            .filter_map(|m| m.number.as_deref().and_then(phone::country_of))
            .collect();
        home_countries.insert(config.otp.default_country.to_ascii_uppercase());
        Verifier {
            inner: Arc::new(Inner {
                proof_keys,
                proofs: config.proofs.clone(),
                templates: template::Templates::new(
                    &config.otp.templates,
                    &config.otp.reverse_templates,
                ),
                store,
                pepper: secret,
                otp: config.otp.clone(),
                pool,
                events_appended,
                limits: Limits::from_config(&config.otp),
                allowed_countries,
                home_countries,
                next_line: AtomicUsize::new(0),
            }),
        }
    }

    /// Withdraws queued code SMS of ended verifications and removes codes from the outbound
    /// queue once they cannot be used any more, every `every`, until shutdown. The verification keeps only its HMAC; the SMS text and PDUs had to
    /// carry the code while it could still be (re)sent.
    pub async fn run_janitor(
        self,
        every: std::time::Duration,
        mut shutdown: crate::shutdown::Shutdown,
    ) {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.recv() => return,
            }
            let expired = self
                .inner
                .store
                .call(|c| Ok(expire_due(c, crate::store::now_ms())?))
                .await;
            match expired {
                Ok(0) => {}
                Ok(n) => {
                    tracing::debug!(verifications = n, "OTPs expired");
                    self.inner.events_appended.notify_waiters();
                }
                Err(e) => tracing::warn!(error = %e, "cannot expire OTPs"),
            }
            let result = self
                .inner
                .store
                .call(|c| {
                    let now = crate::store::now_ms();
                    // Expired verifications end by time alone: their queued SMS go first.
                    let tx = c.transaction()?;
                    let withdrawn = outbound::withdraw_ended_codes(&tx, now)?.len();
                    tx.commit()?;
                    Ok((withdrawn, redact_finished_codes(c, now)?))
                })
                .await;
            match result {
                Ok((withdrawn, redacted)) => {
                    if withdrawn > 0 {
                        tracing::info!(
                            messages = withdrawn,
                            "code SMS withdrawn: their verification ended"
                        );
                        self.inner.events_appended.notify_waiters();
                    }
                    if redacted > 0 {
                        tracing::debug!(
                            messages = redacted,
                            "codes removed from finished OTP messages"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot redact finished OTP messages"),
            }
        }
    }

    /// The inbound hook that matches texts to reverse-OTP sessions.
    pub fn reverse_matcher(&self) -> ReverseMatcher {
        ReverseMatcher::new(&self.inner.otp.default_country)
            .with_smsc_check(self.inner.otp.reverse_smsc_country_check)
    }

    /// Starts a verification with the `[otp]` settings.
    pub async fn create(&self, req: CreateOtp) -> Result<OtpCreated, VerifyError> {
        self.create_with(req, OtpOptions::default()).await
    }

    /// Starts a verification: a code is generated and its SMS queued, both in one transaction.
    /// `options` override the `[otp]` settings for this verification (bounds checked first).
    pub async fn create_with(
        &self,
        req: CreateOtp,
        options: OtpOptions,
    ) -> Result<OtpCreated, VerifyError> {
        let inner = &self.inner;
        let settings = Settings::check(&inner.otp, &options)?;
        let to = self.normalize(&req.to)?;
        let country = phone::country_of(&to);
        self.check_country(&to, country.as_deref())?;
        let name = template::clean_name(req.name.as_deref());
        let request_template = template::pick(&options.templates, req.language.as_deref())
            .map(|(key, t)| {
                (
                    format!("templates.{key}"),
                    t.clone(),
                    Some(template::normalize_tag(key)),
                )
            })
            .or_else(|| {
                options
                    .template
                    .clone()
                    .map(|t| ("template".to_string(), t, None))
            });
        let language = match &request_template {
            Some((_, _, Some(key))) => key.clone(),
            _ => inner.templates.language(req.language.as_deref()),
        };
        let otp_id = new_id("otp");
        let digest;
        let message = {
            // The code lives only in this block and in the queued SMS.
            let code = code::generate_typed(settings.code_type, settings.code_length as usize);
            digest = code::digest(inner.pepper.bytes(), &otp_id, &code);
            let body = match &request_template {
                Some((field, t, _)) => {
                    let body = template::render(
                        t,
                        name.as_deref(),
                        &code,
                        template::minutes(settings.ttl_secs),
                    );
                    template::one_part(&body).map_err(|detail| VerifyError::InvalidSetting {
                        field: field.clone(),
                        detail: format!("{field} {detail}"),
                    })?;
                    body
                }
                None => inner.templates.render_code(
                    &language,
                    name.as_deref(),
                    &code,
                    settings.ttl_secs,
                ),
            };
            let (message, _) = messaging::prepare_for(
                &inner.pool,
                &SendText {
                    to: to.clone(),
                    body,
                    line: options.line.clone(),
                    report: true,
                    purpose: "otp".into(),
                    purpose_id: Some(otp_id.clone()),
                },
            )?;
            message
        };
        let parts = message.parts.len();
        let key_label = code::key_label(inner.pepper.bytes(), &req.api_key);
        let client_ip = req.client_ip.map(ratelimit::ip_scope);
        let limits = inner.limits;
        let max_attempts = settings.max_attempts;
        let ttl_ms = settings.ttl_secs as i64 * 1000;
        let extra = (
            settings.code_type.as_str(),
            settings.code_length,
            options.line.clone(),
            settings.callback_url.clone(),
            settings.service.clone(),
        );
        let (id, recipient) = (otp_id.clone(), to.clone());
        let (message_id, expires_at) = inner
            .store
            .call(move |c| {
                let tx = c.transaction()?;
                let now = now_ms();
                let subject = Subject {
                    number: &recipient,
                    key_label: &key_label,
                    ip: client_ip.as_deref(),
                };
                if let Err(limited) =
                    ratelimit::check_and_record(&tx, &limits, &subject, "otp", now)?
                {
                    return Ok(Err(limited));
                }
                let message_id = outbound::enqueue_in(&tx, &message)?;
                let expires_at = now + ttl_ms;
                tx.execute(
                    "INSERT INTO verifications (id, recipient, country, code_hmac, status, max_attempts,
                         last_sent_at, language, app_name, message_id, key_label, client_ip,
                         created_at, expires_at, updated_at,
                         code_type, code_length, line, callback_url, service)
                     VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?6, ?12, ?6,
                         ?13, ?14, ?15, ?16, ?17)",
                    params![
                        id,
                        recipient,
                        country,
                        digest.as_slice(),
                        max_attempts,
                        now,
                        language,
                        name,
                        message_id,
                        key_label,
                        client_ip,
                        expires_at,
                        extra.0,
                        extra.1,
                        extra.2,
                        extra.3,
                        extra.4
                    ],
                )?;
                tx.commit()?;
                Ok(Ok((message_id, expires_at)))
            })
            .await?
            .map_err(rate_limited)?;
        inner.pool.wake();
        Ok(OtpCreated {
            otp_id,
            to,
            expires_at,
            message_id,
            parts,
        })
    }

    /// Checks a code. A wrong code is `Ok` with `verified: false`; the attempt is counted before
    /// the comparison, and the verification locks when the attempts are used up.
    pub async fn check(&self, otp_id: &str, code: &str) -> Result<CheckResult, VerifyError> {
        let inner = self.inner.clone();
        let id = otp_id.to_string();
        let code = code.to_string();
        let result = self
            .inner
            .store
            .call(move |c| {
                let tx = c.transaction()?;
                let Some(row) = VerificationRow::load(&tx, &id)? else {
                    return Ok(Err(VerifyError::NotFound));
                };
                let now = now_ms();
                let status = row.status.at(row.expires_at, now);
                if status != OtpStatus::Pending {
                    if status == OtpStatus::Expired && row.status == OtpStatus::Pending {
                        finish(&tx, &row, OtpStatus::Expired, now)?;
                    }
                    let withdrawn = outbound::withdraw_ended_codes(&tx, now)?.len();
                    tx.commit()?;
                    return Ok(Ok((
                        CheckResult {
                            verified: false,
                            status,
                            attempts_left: row.attempts_left(),
                        },
                        withdrawn,
                    )));
                }
                let counted = tx.execute(
                    "UPDATE verifications SET attempts = attempts + 1, updated_at = ?2
                     WHERE id = ?1 AND status = 'pending' AND attempts < max_attempts",
                    params![id, now],
                )?;
                if counted == 0 {
                    finish(&tx, &row, OtpStatus::Locked, now)?;
                    let withdrawn = outbound::withdraw_ended_codes(&tx, now)?.len();
                    tx.commit()?;
                    return Ok(Ok((
                        CheckResult {
                            verified: false,
                            status: OtpStatus::Locked,
                            attempts_left: 0,
                        },
                        withdrawn,
                    )));
                }
                let attempts = row.attempts + 1;
                let attempts_left = row.max_attempts.saturating_sub(attempts);
                let typed = row.code_type.normalize_input(&code);
                let result = if code::matches(inner.pepper.bytes(), &id, &typed, &row.code_hmac) {
                    tx.execute(
                        "UPDATE verifications SET status = 'verified', verified_at = ?2, updated_at = ?2
                         WHERE id = ?1 AND status = 'pending'",
                        params![id, now],
                    )?;
                    events::append_with_target(
                        &tx,
                        "otp.verified",
                        &serde_json::json!({
                            "otp_id": id,
                            "to": row.recipient,
                            "status": "verified",
                            "verified_at": now,
                        }),
                        row.callback_url.as_deref(),
                    )?;
                    CheckResult {
                        verified: true,
                        status: OtpStatus::Verified,
                        attempts_left,
                    }
                } else if attempts >= row.max_attempts {
                    finish(&tx, &row, OtpStatus::Locked, now)?;
                    CheckResult {
                        verified: false,
                        status: OtpStatus::Locked,
                        attempts_left: 0,
                    }
                } else {
                    CheckResult {
                        verified: false,
                        status: OtpStatus::Pending,
                        attempts_left,
                    }
                };
                // A code SMS still queued (a resend) is of no use any more.
                let withdrawn = if result.status == OtpStatus::Pending {
                    0
                } else {
                    outbound::withdraw_ended_codes(&tx, now)?.len()
                };
                tx.commit()?;
                Ok(Ok((result, withdrawn)))
            })
            .await??;
        let (result, withdrawn) = result;
        if result.status != OtpStatus::Pending || withdrawn > 0 {
            self.inner.events_appended.notify_waiters();
        }
        Ok(result)
    }

    /// Sends the same code again, without extending the expiry. Refused (`resent: false`) when
    /// the verification is no longer pending, the resends are used up, or within the cooldown
    /// (then `retry_after_secs` says how long).
    pub async fn resend(&self, otp_id: &str) -> Result<Resent, VerifyError> {
        let inner = self.inner.clone();
        let id = otp_id.to_string();
        let resent = self
            .inner
            .store
            .call(move |c| {
                let tx = c.transaction()?;
                let Some(row) = VerificationRow::load(&tx, &id)? else {
                    return Ok(Err(VerifyError::NotFound));
                };
                let now = now_ms();
                let refused = |retry_after_secs| {
                    Ok(Ok(Resent {
                        resent: false,
                        retry_after_secs,
                    }))
                };
                if row.status.at(row.expires_at, now) != OtpStatus::Pending
                    || row.resends >= inner.otp.max_resends
                {
                    return refused(None);
                }
                let cooldown_ends = row.last_sent_at + inner.otp.resend_cooldown_secs as i64 * 1000;
                if now < cooldown_ends {
                    return refused(Some(ratelimit::retry_secs(cooldown_ends - now)));
                }
                let subject = Subject {
                    number: &row.recipient,
                    key_label: &row.key_label,
                    ip: row.client_ip.as_deref(),
                };
                if let Err(limited) =
                    ratelimit::check_and_record(&tx, &inner.limits, &subject, "resend", now)?
                {
                    return Ok(Err(rate_limited(limited)));
                }
                // The first SMS holds the code; the code itself is not kept anywhere else.
                let body: Option<String> = tx
                    .query_row(
                        "SELECT body FROM outbound_messages WHERE id = ?1",
                        [&row.message_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(body) = body else {
                    return refused(None);
                };
                let prepared = messaging::prepare_for(
                    &inner.pool,
                    &SendText {
                        to: row.recipient.clone(),
                        body,
                        line: row.line.clone(),
                        report: true,
                        purpose: "otp".into(),
                        purpose_id: Some(id.clone()),
                    },
                );
                let message = match prepared {
                    Ok((message, _)) => message,
                    Err(e) => return Ok(Err(VerifyError::Send(e))),
                };
                outbound::enqueue_in(&tx, &message)?;
                tx.execute(
                    "UPDATE verifications SET resends = resends + 1, last_sent_at = ?2, updated_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
                tx.commit()?;
                Ok(Ok(Resent {
                    resent: true,
                    retry_after_secs: None,
                }))
            })
            .await??;
        if resent.resent {
            self.inner.pool.wake();
        }
        Ok(resent)
    }

    /// Cancels a pending verification; any other verification is returned as it is.
    /// Its code SMS, if still queued, is withdrawn.
    pub async fn cancel(&self, otp_id: &str) -> Result<OtpView, VerifyError> {
        let id = otp_id.to_string();
        let (view, withdrawn) = self
            .inner
            .store
            .call(move |c| {
                let now = now_ms();
                let tx = c.transaction()?;
                tx.execute(
                    "UPDATE verifications SET status = 'cancelled', updated_at = ?2
                     WHERE id = ?1 AND status = 'pending' AND expires_at > ?2",
                    params![id, now],
                )?;
                let withdrawn = outbound::withdraw_ended_codes(&tx, now)?.len();
                let view = VerificationRow::load(&tx, &id)?.map(|row| row.view(now));
                tx.commit()?;
                Ok((view, withdrawn))
            })
            .await?;
        if withdrawn > 0 {
            self.inner.events_appended.notify_waiters();
        }
        Ok(self.with_proof(view.ok_or(VerifyError::NotFound)?))
    }

    /// A verification, never with its code; once verified, with its proof.
    pub async fn get(&self, otp_id: &str) -> Result<OtpView, VerifyError> {
        let id = otp_id.to_string();
        let view = self
            .inner
            .store
            .call(move |c| Ok(VerificationRow::load(c, &id)?.map(|row| row.view(now_ms()))))
            .await?
            .ok_or(VerifyError::NotFound)?;
        Ok(self.with_proof(view))
    }

    fn with_proof(&self, mut view: OtpView) -> OtpView {
        if let (OtpStatus::Verified, Some(at)) = (view.status, view.verified_at) {
            view.proof = Some(self.sign_proof(
                &view.to,
                &view.otp_id,
                proof::METHOD_SMS_OTP,
                view.service.as_deref(),
                at,
            ));
        }
        view
    }

    /// A proof that `number` was verified at `verified_at_ms` by `method`.
    fn sign_proof(
        &self,
        number: &str,
        verification_id: &str,
        method: &str,
        service: Option<&str>,
        verified_at_ms: i64,
    ) -> String {
        let proofs = &self.inner.proofs;
        let iat = verified_at_ms / 1000;
        self.inner.proof_keys.sign(&proof::Claims {
            iss: proofs.issuer.clone(),
            sub: number.to_string(),
            aud: service.unwrap_or(&proofs.audience).to_string(),
            iat,
            exp: iat + i64::try_from(proofs.lifetime_secs).unwrap_or(i64::MAX / 2),
            verification_id: verification_id.to_string(),
            method: method.to_string(),
        })
    }

    /// Checks a proof as an app would (signature by one of our keys, issuer, `audience`,
    /// expiry); returns its claims.
    pub fn verify_proof(&self, token: &str, audience: &str) -> Option<proof::Claims> {
        self.inner
            .proof_keys
            .verify(token, &self.inner.proofs.issuer, audience, now_ms() / 1000)
    }

    /// The public keys of proofs, as a JWK Set.
    pub fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.inner.proof_keys.jwks()
    }

    /// The reverse-OTP instruction in `language`, from the operator's templates or built in.
    pub(crate) fn reverse_text(&self, language: &str, factor: &str, to_display: &str) -> String {
        self.inner
            .templates
            .render_reverse(language, factor, to_display)
    }

    /// The language a reverse session is recorded in.
    pub(crate) fn language_of(&self, tag: Option<&str>) -> String {
        self.inner.templates.language(tag)
    }

    fn normalize(&self, number: &str) -> Result<String, VerifyError> {
        phone::normalize(number, &self.inner.otp.default_country)
            .map_err(|_| VerifyError::InvalidNumber(number.to_string()))
    }

    /// The country policy applied to plain texts too ([`crate::messaging::send_text_checked`]):
    /// one allow-list for every SMS sent to a number a caller chose.
    pub fn check_destination(&self, number: &str) -> Result<(), VerifyError> {
        self.check_country(number, phone::country_of(number).as_deref())
    }

    /// Refuses numbers outside the allowed countries: `otp.allowed_countries` when set, else
    /// the countries of our SIM numbers (configured, or learned from the modems) and the
    /// default country. Numbers of no country (`+800…`) are refused.
    pub fn check_country(&self, number: &str, country: Option<&str>) -> Result<(), VerifyError> {
        let refuse = || {
            VerifyError::CountryNotAllowed(country.map_or_else(|| number.to_string(), String::from))
        };
        let country = country.ok_or_else(refuse)?;
        let inner = &self.inner;
        let allowed = if !inner.allowed_countries.is_empty() {
            inner.allowed_countries.contains(country)
        } else {
            inner.home_countries.contains(country)
                || inner.pool.statuses().iter().any(|s| {
                    s.number
                        .as_deref()
                        .and_then(phone::country_of)
                        .is_some_and(|c| c == country)
                })
        };
        if allowed {
            Ok(())
        } else {
            Err(refuse())
        }
    }
}

fn rate_limited(limited: ratelimit::Limited) -> VerifyError {
    VerifyError::RateLimited {
        retry_after_secs: limited.retry_after_secs,
        scope: limited.scope,
    }
}

/// Ends a pending verification as `status` (locked or expired); when that changed the row and
/// the verification has a `callback_url`, appends `otp.failed` / `otp.expired` for it.
fn finish(
    conn: &Connection,
    row: &VerificationRow,
    status: OtpStatus,
    now: i64,
) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE verifications SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'pending'",
        params![row.id, status.as_str(), now],
    )? == 1;
    if changed {
        if let Some(url) = row.callback_url.as_deref() {
            let (kind, word) = match status {
                OtpStatus::Locked => ("otp.failed", "failed"),
                _ => ("otp.expired", "expired"),
            };
            events::append_with_target(
                conn,
                kind,
                &serde_json::json!({
                    "otp_id": row.id,
                    "to": row.recipient,
                    "status": word,
                    "at": now,
                }),
                Some(url),
            )?;
        }
    }
    Ok(changed)
}

/// Marks pending verifications past their expiry as expired, with `otp.expired` for those
/// with a `callback_url`. Returns how many expired.
pub fn expire_due(conn: &mut Connection, now_ms: i64) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    let ids: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT id FROM verifications WHERE status = 'pending' AND expires_at <= ?1 LIMIT 500",
        )?;
        let rows = stmt.query_map([now_ms], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut expired = 0;
    for id in &ids {
        if let Some(row) = VerificationRow::load(&tx, id)? {
            expired += usize::from(finish(&tx, &row, OtpStatus::Expired, now_ms)?);
        }
    }
    tx.commit()?;
    Ok(expired)
}

/// Per-request settings, checked, with the `[otp]` defaults filled in.
struct Settings {
    code_length: u32,
    code_type: CodeType,
    ttl_secs: u64,
    max_attempts: u32,
    callback_url: Option<String>,
    service: Option<String>,
}

impl Settings {
    fn check(otp: &Otp, o: &OtpOptions) -> Result<Settings, VerifyError> {
        let bad = |field: &str, detail: String| VerifyError::InvalidSetting {
            field: field.to_string(),
            detail,
        };
        let code_length = o.code_length.unwrap_or(otp.code_length);
        if !(MIN_CODE_LENGTH..=MAX_CODE_LENGTH).contains(&code_length) {
            return Err(bad(
                "code_length",
                format!("code_length must be between {MIN_CODE_LENGTH} and {MAX_CODE_LENGTH}, not {code_length}"),
            ));
        }
        let ttl_secs = match o.ttl_secs {
            Some(t) if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&t) => {
                return Err(bad(
                    "ttl_secs",
                    format!(
                    "ttl_secs must be between {MIN_TTL_SECS} and {MAX_TTL_SECS} seconds, not {t}"
                ),
                ))
            }
            Some(t) => t,
            None => otp.ttl_secs,
        };
        let max_attempts = match o.max_attempts {
            Some(m) if !(1..=MAX_ATTEMPTS_LIMIT).contains(&m) => {
                return Err(bad(
                    "max_attempts",
                    format!("max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}, not {m}"),
                ))
            }
            Some(m) => m,
            None => otp.max_attempts,
        };
        if let Some(t) = &o.template {
            template::check_code_template(t)
                .map_err(|e| bad("template", format!("template {e}")))?;
        }
        for (lang, t) in &o.templates {
            let field = format!("templates.{lang}");
            if !crate::config::is_language_tag(lang) {
                return Err(bad(
                    &field,
                    format!("{field}: {lang:?} is not a language tag like \"fr\" or \"pt-BR\""),
                ));
            }
            template::check_code_template(t).map_err(|e| bad(&field, format!("{field} {e}")))?;
        }
        let callback_url = o
            .callback_url
            .as_deref()
            .map(reverse::validate_url)
            .transpose()
            .map_err(|e| bad("callback_url", format!("callback_url: {e}")))?;
        let service = o
            .service
            .as_deref()
            .map(|s| {
                s.trim()
                    .chars()
                    .take(reverse::MAX_SERVICE_CHARS)
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty());
        Ok(Settings {
            code_length,
            code_type: o.code_type.unwrap_or_default(),
            ttl_secs,
            max_attempts,
            callback_url,
            service,
        })
    }
}

struct VerificationRow {
    id: String,
    recipient: String,
    country: Option<String>,
    code_hmac: Vec<u8>,
    status: OtpStatus,
    attempts: u32,
    max_attempts: u32,
    resends: u32,
    last_sent_at: i64,
    language: String,
    app_name: Option<String>,
    message_id: String,
    key_label: String,
    client_ip: Option<String>,
    created_at: i64,
    expires_at: i64,
    verified_at: Option<i64>,
    code_type: CodeType,
    code_length: Option<u32>,
    line: Option<String>,
    callback_url: Option<String>,
    service: Option<String>,
}

impl VerificationRow {
    fn load(conn: &Connection, id: &str) -> rusqlite::Result<Option<VerificationRow>> {
        conn.query_row(
            "SELECT id, recipient, country, code_hmac, status, attempts, max_attempts, resends,
                    last_sent_at, language, app_name, message_id, key_label, client_ip,
                    created_at, expires_at, verified_at,
                    code_type, code_length, line, callback_url, service
             FROM verifications WHERE id = ?1",
            [id],
            |r| {
                Ok(VerificationRow {
                    id: r.get(0)?,
                    recipient: r.get(1)?,
                    country: r.get(2)?,
                    code_hmac: r.get(3)?,
                    status: OtpStatus::from_db(&r.get::<_, String>(4)?),
                    attempts: r.get(5)?,
                    max_attempts: r.get(6)?,
                    resends: r.get(7)?,
                    last_sent_at: r.get(8)?,
                    language: r.get(9)?,
                    app_name: r.get(10)?,
                    message_id: r.get(11)?,
                    key_label: r.get(12)?,
                    client_ip: r.get(13)?,
                    created_at: r.get(14)?,
                    expires_at: r.get(15)?,
                    verified_at: r.get(16)?,
                    code_type: CodeType::from_db(r.get::<_, Option<String>>(17)?.as_deref()),
                    code_length: r.get(18)?,
                    line: r.get(19)?,
                    callback_url: r.get(20)?,
                    service: r.get(21)?,
                })
            },
        )
        .optional()
    }

    fn attempts_left(&self) -> u32 {
        if self.status == OtpStatus::Locked {
            0
        } else {
            self.max_attempts.saturating_sub(self.attempts)
        }
    }

    fn view(self, now: i64) -> OtpView {
        let status = self.status.at(self.expires_at, now);
        OtpView {
            attempts_left: self.attempts_left(),
            otp_id: self.id,
            to_masked: phone::mask(&self.recipient),
            to: self.recipient,
            code_type: self.code_type,
            code_length: self.code_length,
            line: self.line,
            callback_url: self.callback_url,
            service: self.service,
            proof: None,
            country: self.country,
            status,
            verified: status == OtpStatus::Verified,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            resends: self.resends,
            language: self.language,
            name: self.app_name,
            message_id: self.message_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            verified_at: self.verified_at,
        }
    }
}

/// What replaces a code-bearing SMS text once the code is dead.
pub const REDACTED_BODY: &str = "[code removed after the verification ended]";

/// Replaces the text and PDUs of OTP messages whose verification is over (verified, locked,
/// cancelled, or past its expiry) and whose SMS is no longer waiting to be sent. Returns how
/// many messages were redacted.
pub fn redact_finished_codes(
    conn: &mut rusqlite::Connection,
    now_ms: i64,
) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    let finished =
        "SELECT m.id FROM outbound_messages m JOIN verifications v ON v.id = m.purpose_id
         WHERE m.purpose = 'otp' AND m.body != ?1 AND m.status NOT IN ('queued', 'sending')
           AND (v.status != 'pending' OR v.expires_at <= ?2)";
    let ids: Vec<String> = {
        let mut stmt = tx.prepare(finished)?;
        let rows = stmt.query_map(rusqlite::params![REDACTED_BODY, now_ms], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in &ids {
        tx.execute(
            "UPDATE outbound_messages SET body = ?2 WHERE id = ?1",
            rusqlite::params![id, REDACTED_BODY],
        )?;
        tx.execute(
            "UPDATE outbound_parts SET pdu = '' WHERE message_id = ?1",
            [id],
        )?;
    }
    tx.commit()?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_lower_case_words() {
        for status in [
            OtpStatus::Pending,
            OtpStatus::Verified,
            OtpStatus::Expired,
            OtpStatus::Locked,
            OtpStatus::Cancelled,
        ] {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(OtpStatus::from_db(status.as_str()), status);
        }
    }

    #[test]
    fn pending_rows_expire_by_time() {
        assert_eq!(OtpStatus::Pending.at(100, 99), OtpStatus::Pending);
        assert_eq!(OtpStatus::Pending.at(100, 100), OtpStatus::Expired);
        assert_eq!(OtpStatus::Verified.at(100, 200), OtpStatus::Verified);
        assert_eq!(OtpStatus::Cancelled.at(100, 200), OtpStatus::Cancelled);
    }

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        conn
    }

    fn insert(conn: &Connection, id: &str, expires_at: i64, callback: Option<&str>) {
        conn.execute(
            "INSERT INTO verifications (id, recipient, code_hmac, status, max_attempts, last_sent_at,
                 language, message_id, key_label, created_at, expires_at, updated_at, callback_url)
             VALUES (?1, '+14155550100', x'00', 'pending', 3, 0, 'en', 'msg_x', 'k', 0, ?2, 0, ?3)",
            params![id, expires_at, callback],
        )
        .unwrap();
    }

    /// The sweep ends pending verifications past their expiry, once, and tells the callback
    /// URL of those that have one.
    #[test]
    fn expiry_sweep_marks_expired_and_notifies_callbacks() {
        let mut conn = db();
        insert(&conn, "otp_a", 100, Some("https://app.example/otp"));
        insert(&conn, "otp_b", 100, None);
        insert(&conn, "otp_c", 500, Some("https://app.example/otp"));
        assert_eq!(expire_due(&mut conn, 99).unwrap(), 0);
        assert_eq!(expire_due(&mut conn, 100).unwrap(), 2);
        assert_eq!(expire_due(&mut conn, 101).unwrap(), 0, "only once");
        let status = |id: &str| -> String {
            conn.query_row(
                "SELECT status FROM verifications WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(status("otp_a"), "expired");
        assert_eq!(status("otp_b"), "expired");
        assert_eq!(status("otp_c"), "pending");
        let events = events::since(&conn, 0, 10).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].kind, "otp.expired");
        assert_eq!(events[0].data["otp_id"], "otp_a");
        assert_eq!(events[0].data["status"], "expired");
        assert_eq!(
            events[0].target_url.as_deref(),
            Some("https://app.example/otp")
        );
    }

    #[test]
    fn settings_bounds_name_their_field() {
        let otp = Otp::default();
        let field = |o: OtpOptions| match Settings::check(&otp, &o) {
            Err(VerifyError::InvalidSetting { field, .. }) => field,
            Err(other) => panic!("{other}"),
            Ok(_) => "ok".into(),
        };
        assert_eq!(field(OtpOptions::default()), "ok");
        assert_eq!(
            field(OtpOptions {
                code_length: Some(10),
                ttl_secs: Some(3600),
                max_attempts: Some(10),
                ..Default::default()
            }),
            "ok"
        );
        assert_eq!(
            field(OtpOptions {
                code_length: Some(3),
                ..Default::default()
            }),
            "code_length"
        );
        assert_eq!(
            field(OtpOptions {
                ttl_secs: Some(29),
                ..Default::default()
            }),
            "ttl_secs"
        );
        assert_eq!(
            field(OtpOptions {
                max_attempts: Some(0),
                ..Default::default()
            }),
            "max_attempts"
        );
        assert_eq!(
            field(OtpOptions {
                template: Some("no code".into()),
                ..Default::default()
            }),
            "template"
        );
        let templates = [("de".to_string(), "{{code}} {{x}}".to_string())].into();
        assert_eq!(
            field(OtpOptions {
                templates,
                ..Default::default()
            }),
            "templates.de"
        );
        assert_eq!(
            field(OtpOptions {
                callback_url: Some("nope".into()),
                ..Default::default()
            }),
            "callback_url"
        );
    }

    #[test]
    fn client_and_server_errors() {
        assert!(VerifyError::NotFound.is_client_error());
        assert!(VerifyError::RateLimited {
            retry_after_secs: 1,
            scope: "number"
        }
        .is_client_error());
        assert!(!VerifyError::Store(StoreError::Task("x".into())).is_client_error());
        assert!(
            !VerifyError::Send(SendError::Store(StoreError::Task("x".into()))).is_client_error()
        );
    }
}
