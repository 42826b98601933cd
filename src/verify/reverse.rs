//! Reverse OTP: the person texts a factor from their phone to one of our numbers; the mobile
//! network vouches for the sender. Sessions are matched to inbound SMS inside the inbound
//! transaction ([`ReverseMatcher`]), so a match, its `otp.reverse.verified` event and the stored
//! message commit together, and a re-delivered PDU (recognised before hooks run) can never
//! match twice.

use super::sender::SmscCountryCheck;
use super::{code, factor, proof, rate_limited, ratelimit, OtpStatus, Verifier, VerifyError};
use crate::modem::ModemState;
use crate::phone;
use crate::store::inbound::{InboundHook, InboundMessage, InboundTx};
use crate::store::reverse::{NewReverse, ReverseRow};
use crate::store::{new_id, now_ms, Result as StoreResult};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

/// Digits of a generated factor.
pub const DEFAULT_FACTOR_DIGITS: usize = 6;
/// Longest `success_url` accepted.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest `service` label kept.
pub const MAX_SERVICE_CHARS: usize = 100;

/// A request for a reverse verification.
#[derive(Debug, Clone, Default)]
pub struct ReverseInit {
    /// The person's number; national formats are read with `otp.default_country`.
    pub number: String,
    /// What the person must text; default: 6 random digits.
    pub factor: Option<String>,
    /// Which of our numbers the person texts; default: a ready line, preferring one in the
    /// person's country, taken in turn.
    pub to: Option<String>,
    pub language: Option<String>,
    /// Also gets the `otp.reverse.verified` webhook.
    pub success_url: Option<String>,
    /// A label of the caller's, returned as is.
    pub service: Option<String>,
    pub api_key: String,
    pub client_ip: Option<IpAddr>,
}

/// A reverse verification as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReverseView {
    /// `r_otp_…`
    pub otp_id: String,
    pub number: String,
    /// `+1***-***-7890`.
    pub number_masked: String,
    pub factor: String,
    /// Our number the person texts.
    pub to: String,
    pub status: OtpStatus,
    pub verified: bool,
    pub attempts_left: u32,
    pub language: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub verified_at: Option<i64>,
    /// `"Text 482913 to (555) 000-0001"`, in the session's language, `to` formatted for the
    /// person's country.
    pub ui_text: String,
    /// `sms:+15550000001?body=482913`
    pub qr_code: String,
    pub success_url: Option<String>,
    pub service: Option<String>,
    /// Once verified: a signed JWT (EdDSA, verifiable with the JWKS) saying so (see [`proof`]).
    pub proof: Option<String>,
}

impl Verifier {
    /// Starts a reverse verification.
    pub async fn reverse_initiate(&self, req: ReverseInit) -> Result<ReverseView, VerifyError> {
        let number = self.normalize(&req.number)?;
        let country = phone::country_of(&number);
        self.check_country(&number, country.as_deref())?;
        let factor = match req.factor.as_deref() {
            Some(f) => {
                factor::validate(f).map_err(|p| VerifyError::InvalidFactor(p.to_string()))?
            }
            None => code::generate(DEFAULT_FACTOR_DIGITS),
        };
        let success_url = req.success_url.as_deref().map(validate_url).transpose()?;
        let service = req
            .service
            .as_deref()
            .map(|s| s.trim().chars().take(MAX_SERVICE_CHARS).collect::<String>())
            .filter(|s| !s.is_empty());
        let language = self.language_of(req.language.as_deref());
        let (to, line) = self.pick_line(req.to.as_deref(), country.as_deref())?;

        let inner = &self.inner;
        let new = NewReverse {
            id: new_id("r_otp"),
            factor_key: factor::key(&factor),
            number,
            country,
            factor,
            recipient: to,
            line,
            max_attempts: inner.otp.max_attempts,
            language,
            success_url,
            service,
            key_label: code::key_label(inner.pepper.bytes(), &req.api_key),
            client_ip: req.client_ip.map(ratelimit::ip_scope),
            ttl_ms: inner.otp.reverse_ttl_secs as i64 * 1000,
        };
        let row = inner
            .store
            .create_reverse(new, inner.limits)
            .await?
            .map_err(rate_limited)?
            .ok_or(VerifyError::NotFound)?;
        Ok(self.reverse_view(row, now_ms()))
    }

    pub async fn reverse_get(&self, id: &str) -> Result<ReverseView, VerifyError> {
        let id = id.to_string();
        let row = self
            .inner
            .store
            .reverse_session(id)
            .await?
            .ok_or(VerifyError::NotFound)?;
        Ok(self.reverse_view(row, now_ms()))
    }

    /// Cancels a pending reverse verification; any other is returned as it is.
    pub async fn reverse_cancel(&self, id: &str) -> Result<ReverseView, VerifyError> {
        let id = id.to_string();
        let row = self
            .inner
            .store
            .cancel_reverse(id)
            .await?
            .ok_or(VerifyError::NotFound)?;
        Ok(self.reverse_view(row, now_ms()))
    }

    /// The `sms:` link as an SVG QR code, for a page to show on a computer screen.
    pub fn reverse_qr_svg(&self, view: &ReverseView) -> String {
        qr_svg(&view.qr_code)
    }

    /// Our number for the session, and the line (modem) that has it.
    fn pick_line(
        &self,
        wanted: Option<&str>,
        person_country: Option<&str>,
    ) -> Result<(String, Option<String>), VerifyError> {
        let statuses = self.inner.pool.statuses();
        // Hosts sharing the database: their modems' numbers are ours too (last heartbeat).
        let elsewhere = self.inner.pool.elsewhere();
        if let Some(wanted) = wanted {
            let number = self
                .normalize(wanted)
                .map_err(|_| VerifyError::NotOurNumber(wanted.to_string()))?;
            let here = statuses
                .iter()
                .find(|s| s.number.as_deref() == Some(number.as_str()))
                .map(|s| s.name.clone());
            let there = || {
                elsewhere
                    .iter()
                    .find(|m| m.number.as_deref() == Some(number.as_str()))
                    .map(|m| m.name.clone())
            };
            return here
                .or_else(there)
                .map(|name| (number.clone(), Some(name)))
                .ok_or_else(|| VerifyError::NotOurNumber(wanted.to_string()));
        }
        let mut ready: Vec<(String, String)> = statuses
            .into_iter()
            .filter(|s| s.state == ModemState::Ready)
            .filter_map(|s| s.number.map(|n| (s.name, n)))
            .chain(
                elsewhere
                    .into_iter()
                    .filter(|m| m.ready)
                    .filter_map(|m| m.number.map(|n| (m.name, n))),
            )
            .collect();
        ready.sort();
        // A number in the person's own country is a cheaper, more familiar text for them.
        let domestic: Vec<&(String, String)> = ready
            .iter()
            .filter(|(_, n)| phone::country_of(n).as_deref() == person_country)
            .collect();
        let candidates: Vec<&(String, String)> = if domestic.is_empty() {
            ready.iter().collect()
        } else {
            domestic
        };
        if candidates.is_empty() {
            return Err(VerifyError::NoLineAvailable);
        }
        let turn = self.inner.next_line.fetch_add(1, Ordering::Relaxed) % candidates.len();
        let (name, number) = candidates[turn];
        Ok((number.clone(), Some(name.clone())))
    }

    fn reverse_view(&self, row: ReverseRow, now: i64) -> ReverseView {
        let status = row.status.at(row.expires_at, now);
        let person_country = row
            .country
            .clone()
            .or_else(|| phone::country_of(&row.number));
        let ui_text = self.reverse_text(
            &row.language,
            &row.factor,
            &phone::format_for(&row.recipient, person_country.as_deref()),
        );
        let proof = match (status, row.verified_at) {
            (OtpStatus::Verified, Some(at)) => Some(self.sign_proof(
                &row.number,
                &row.id,
                proof::METHOD_REVERSE_SMS,
                row.service.as_deref(),
                at,
            )),
            _ => None,
        };
        ReverseView {
            qr_code: factor::sms_uri(&row.recipient, &row.factor),
            attempts_left: if status == OtpStatus::Locked {
                0
            } else {
                row.max_attempts.saturating_sub(row.attempts)
            },
            otp_id: row.id,
            number_masked: phone::mask(&row.number),
            number: row.number,
            factor: row.factor,
            to: row.recipient,
            status,
            verified: status == OtpStatus::Verified,
            language: row.language,
            created_at: row.created_at,
            expires_at: row.expires_at,
            verified_at: row.verified_at,
            ui_text,
            success_url: row.success_url,
            service: row.service,
            proof,
        }
    }
}

/// An `http(s)` URL with a host, at most [`MAX_URL_CHARS`].
pub(crate) fn validate_url(raw: &str) -> Result<String, VerifyError> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_CHARS {
        return Err(VerifyError::InvalidUrl(
            "longer than 2048 characters".into(),
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| VerifyError::InvalidUrl(format!("{raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(VerifyError::InvalidUrl(format!(
            "{raw:?}: expected an http:// or https:// URL"
        )));
    }
    Ok(url.to_string())
}

/// An SVG QR code of `data` (medium error correction, quiet zone included).
pub fn qr_svg(data: &str) -> String {
    use qrcode::render::svg;
    match qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M) {
        Ok(qr) => qr
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        // Only for data beyond a QR code's capacity, which an sms: link with a 16-character
        // factor never reaches.
        Err(_) => String::from(r#"<svg xmlns="http://www.w3.org/2000/svg"/>"#),
    }
}

/// Matches complete inbound messages to pending reverse verifications (an
/// [`InboundHook`]: it runs inside the transaction that stores the message).
#[derive(Debug, Clone)]
pub struct ReverseMatcher {
    pub(crate) default_country: String,
    pub(crate) smsc_check: SmscCountryCheck,
}

/// What one inbound message did to reverse verifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchOutcome {
    /// Sessions verified by this message.
    pub verified: Vec<String>,
    /// Sessions that counted a failed attempt (the right sender, no factor of theirs).
    pub failed: Vec<String>,
    /// Of those, sessions now locked.
    pub locked: Vec<String>,
    /// Sessions found past their expiry and marked expired.
    pub expired: Vec<String>,
}

impl ReverseMatcher {
    /// A matcher that refuses texts delivered through an SMSC abroad (the default).
    pub fn new(default_country: &str) -> ReverseMatcher {
        ReverseMatcher {
            default_country: default_country.to_string(),
            smsc_check: SmscCountryCheck::default(),
        }
    }

    /// The same with another SMSC-country policy (`otp.reverse_smsc_country_check`).
    pub fn with_smsc_check(mut self, check: SmscCountryCheck) -> ReverseMatcher {
        self.smsc_check = check;
        self
    }
}

impl InboundHook for ReverseMatcher {
    fn on_message(&self, tx: &InboundTx<'_>, message: &InboundMessage) -> StoreResult<()> {
        let outcome = tx.match_reverse(self, message, now_ms())?;
        // Ids and counts only: bodies and factors never reach the log.
        if !outcome.verified.is_empty() || !outcome.failed.is_empty() {
            tracing::info!(
                message_id = %message.id,
                verified = ?outcome.verified,
                failed = ?outcome.failed,
                locked = ?outcome.locked,
                "reverse OTP match"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            validate_url(" https://app.example/ok?x=1 ").unwrap(),
            "https://app.example/ok?x=1"
        );
        for bad in [
            "ftp://x/y",
            "not a url",
            "http://",
            "javascript:alert(1)",
            "/relative",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert!(validate_url(&format!("https://x.example/{}", "a".repeat(3000))).is_err());
    }

    #[test]
    fn qr_is_svg() {
        let svg = qr_svg("sms:+15550000001?body=482913");
        assert!(
            svg.starts_with("<?xml") || svg.starts_with("<svg"),
            "{}",
            &svg[..40]
        );
        assert!(svg.contains("<path") || svg.contains("<rect"));
        assert_ne!(svg, qr_svg("sms:+15550000001?body=482914"));
    }
}
