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
//!   ([`crate::store::outbound::withdraw_ended_codes`]).
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
use crate::store::verifications::{NewVerification, ResendBlocked, ResendPolicy, VerificationRow};
use crate::store::{new_id, now_ms, Store, StoreError};
use ratelimit::Limits;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};
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

    /// The status as seen at `now`: a pending row past its expiry is expired.
    pub fn at(self, expires_at: i64, now: i64) -> OtpStatus {
        if self == OtpStatus::Pending && now >= expires_at {
            OtpStatus::Expired
        } else {
            self
        }
    }
}

impl std::str::FromStr for OtpStatus {
    type Err = crate::states::UnknownState;

    /// Strict: an unknown word is an error, never a default.
    fn from_str(s: &str) -> Result<OtpStatus, Self::Err> {
        [
            OtpStatus::Pending,
            OtpStatus::Verified,
            OtpStatus::Expired,
            OtpStatus::Locked,
            OtpStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| crate::states::UnknownState::new("verification status", s))
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
    /// Countries of the configured SIM numbers plus the default country, worked out on first
    /// use (from `sim_numbers`), so that start-up does not build libphonenumber's metadata.
    home_countries: OnceLock<HashSet<String>>,
    /// The SIM numbers of `[[modem]]`s, as configured.
    sim_numbers: Vec<String>,
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
        // libphonenumber's metadata (some 4 MiB of heap) is built by the first number read,
        // not here: an idle daemon does not carry it (BENCHMARKS.md, "Process"). The first
        // number pays a few milliseconds once.
        let allowed_countries = config
            .otp
            .allowed_countries
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect();
        let sim_numbers = config
            .modems
            .iter()
            .filter_map(|m| m.number.clone())
            .collect();
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
                home_countries: OnceLock::new(),
                sim_numbers,
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
            let expired = self.inner.store.expire_verifications().await;
            match expired {
                Ok(0) => {}
                Ok(n) => {
                    tracing::debug!(verifications = n, "OTPs expired");
                    self.inner.events_appended.notify_waiters();
                }
                Err(e) => tracing::warn!(error = %e, "cannot expire OTPs"),
            }
            let result = self.inner.store.withdraw_and_redact_codes().await;
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
        let new = NewVerification {
            id: otp_id.clone(),
            recipient: to.clone(),
            country,
            code_hmac: digest.to_vec(),
            max_attempts: settings.max_attempts,
            ttl_ms: settings.ttl_secs as i64 * 1000,
            language,
            app_name: name,
            key_label: code::key_label(inner.pepper.bytes(), &req.api_key),
            client_ip: req.client_ip.map(ratelimit::ip_scope),
            code_type: settings.code_type,
            code_length: settings.code_length,
            line: options.line.clone(),
            callback_url: settings.callback_url.clone(),
            service: settings.service.clone(),
        };
        let (message_id, expires_at) = inner
            .store
            .create_verification(new, message, inner.limits)
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
        let id = otp_id.to_string();
        let code = code.to_string();
        let pepper = self.inner.pepper.clone();
        let result = self
            .inner
            .store
            .check_code(id, move |row| {
                let typed = row.code_type.normalize_input(&code);
                code::matches(pepper.bytes(), &row.id, &typed, &row.code_hmac)
            })
            .await?
            .ok_or(VerifyError::NotFound)?;
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
        let policy = ResendPolicy {
            max_resends: inner.otp.max_resends,
            cooldown_ms: inner.otp.resend_cooldown_secs as i64 * 1000,
            limits: inner.limits,
        };
        let resent = self
            .inner
            .store
            .resend_code(id, policy, move |row, body| {
                messaging::prepare_for(
                    &inner.pool,
                    &SendText {
                        to: row.recipient.clone(),
                        body,
                        line: row.line.clone(),
                        report: true,
                        purpose: "otp".into(),
                        purpose_id: Some(row.id.clone()),
                    },
                )
                .map(|(message, _)| message)
            })
            .await?
            .map_err(|blocked| match blocked {
                ResendBlocked::NotFound => VerifyError::NotFound,
                ResendBlocked::RateLimited(limited) => rate_limited(limited),
                ResendBlocked::Prepare(e) => VerifyError::Send(e),
            })?;
        if resent.resent {
            self.inner.pool.wake();
        }
        Ok(resent)
    }

    /// Cancels a pending verification; any other verification is returned as it is.
    /// Its code SMS, if still queued, is withdrawn.
    pub async fn cancel(&self, otp_id: &str) -> Result<OtpView, VerifyError> {
        let id = otp_id.to_string();
        let (row, withdrawn) = self.inner.store.cancel_verification(id).await?;
        let view = row.map(|row| row.view(now_ms()));
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
            .verification(id)
            .await?
            .map(|row| row.view(now_ms()))
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
            inner
                .home_countries
                .get_or_init(|| {
                    let mut home: HashSet<String> = inner
                        .sim_numbers
                        .iter()
                        .filter_map(|n| phone::country_of(n))
                        .collect();
                    home.insert(inner.otp.default_country.to_ascii_uppercase());
                    home
                })
                .contains(country)
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

impl VerificationRow {
    /// The verification as the API shows it at `now`.
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

pub use crate::store::verifications::{redact_finished_codes, REDACTED_BODY};

#[cfg(test)]
mod tests;
