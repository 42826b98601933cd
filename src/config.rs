//! Configuration: the TOML file of SPEC §2, its defaults, and validation.
//!
//! Every key has a default so that an empty file (or none) is a valid config. Unknown keys are
//! rejected rather than ignored: a typo in `api_keys` must not silently leave the API open or
//! closed. Validation errors name the key (`otp.code_length`, `modem[1].port`) and the problem.

use crate::redact::Redacted;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the config comes from when `--config` is not given.
pub const ENV_VAR: &str = "SIMGATE_CONFIG";
/// The system-wide config, used when present and nothing else is named.
pub const SYSTEM_PATH: &str = "/etc/simgate/simgate.toml";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: Server,
    pub storage: Storage,
    pub auth: Auth,
    pub security: Security,
    pub otp: Otp,
    #[serde(rename = "modem")]
    pub modems: Vec<Modem>,
    #[serde(rename = "webhook")]
    pub webhooks: Vec<Webhook>,
    /// How webhooks are delivered (retries, time limits); the `[webhooks]` table.
    #[serde(rename = "webhooks")]
    pub webhook_delivery: WebhookDelivery,
    pub outbound: Outbound,
    pub simulator: Simulator,
    /// Auth servers that use simgate as their SMS provider (`/hooks/…`); the `[hooks]` table.
    pub hooks: Hooks,
    /// How long stored data is kept (`[retention]`).
    pub retention: Retention,
    /// Abuse limits of plain texts (`/send/text`, `POST /v1/messages`); the `[messages]` table.
    pub messages: Messages,
    /// Offline-verifiable proofs of verification (`[proofs]`).
    pub proofs: Proofs,
    /// The status page at `/ui/`.
    pub ui: Ui,
}

/// Verification proofs: EdDSA JWTs whose public keys are served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Proofs {
    /// PEM file of Ed25519 private keys (PKCS#8), created 0600 with one key when missing; the
    /// last key signs, all are published. Empty: `proof_keys.pem` beside `security.secret_file`.
    pub keys_file: PathBuf,
    /// The `iss` claim.
    pub issuer: String,
    /// The `aud` claim when the verification named no `service`.
    pub audience: String,
    /// How long a proof is valid after the verification.
    pub lifetime_secs: u64,
}

impl Default for Proofs {
    fn default() -> Self {
        Proofs {
            keys_file: PathBuf::new(),
            issuer: "simgate".into(),
            audience: "simgate".into(),
            lifetime_secs: 3600,
        }
    }
}

impl Config {
    /// `proofs.keys_file`, or `proof_keys.pem` in the directory of `security.secret_file`.
    pub fn proof_keys_path(&self) -> PathBuf {
        if !self.proofs.keys_file.as_os_str().is_empty() {
            return self.proofs.keys_file.clone();
        }
        self.security.secret_file.with_file_name("proof_keys.pem")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// HTTP API address; loopback by default so nothing is exposed by accident.
    pub listen: String,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Per-request time limit.
    pub request_timeout_secs: u64,
    /// Host names (with or without `:port`) accepted in the `Host` header besides the listen
    /// address, `localhost` and loopback addresses; `"*"` accepts any (no DNS-rebinding check).
    pub allowed_hosts: Vec<String>,
    /// A request's headers must arrive within this time of the first byte; slower
    /// connections are closed.
    pub header_timeout_secs: u64,
    /// A connection with no request in progress and nothing sent for this long is closed.
    pub idle_timeout_secs: u64,
    /// A request body that stops sending for this long is abandoned.
    pub body_timeout_secs: u64,
    /// Open connections at most; further ones wait in the kernel's accept queue.
    pub max_connections: u32,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 30,
            allowed_hosts: Vec::new(),
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_timeout_secs: 10,
            max_connections: 256,
        }
    }
}

/// The example key of the docs and the shipped config: public, so refused off loopback.
pub const EXAMPLE_API_KEY: &str = "sk_live_change_me";
/// Shortest API key accepted when the API listens on a non-loopback address.
pub const MIN_EXPOSED_KEY_LEN: usize = 24;

/// Abuse limits of plain texts. The country allow-list is `otp.allowed_countries`, one policy
/// for every SMS the gateway sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Messages {
    /// Plain texts per destination number in a sliding hour. 0 = no limit.
    pub per_number_per_hour: u32,
    /// Plain texts per API key in a sliding minute. 0 = no limit.
    pub per_key_per_minute: u32,
}

impl Default for Messages {
    fn default() -> Self {
        Messages {
            per_number_per_hour: 20,
            per_key_per_minute: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// SQLite database file (WAL mode).
    pub path: PathBuf,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            path: "simgate.db".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Accepted as `Authorization: Bearer <key>` or `Token <key>`.
    pub api_keys: Vec<Redacted<String>>,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            api_keys: vec!["sk_live_change_me".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// HMAC pepper for codes and signatures; created with mode 0600 if missing.
    pub secret_file: PathBuf,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            secret_file: "secret.key".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Otp {
    /// Digits per code, 4..=10.
    pub code_length: u32,
    pub ttl_secs: u64,
    pub max_attempts: u32,
    /// ISO 3166 alpha-2 country used to read national-format numbers.
    pub default_country: String,
    /// Minimum time between two sends of the same verification.
    pub resend_cooldown_secs: u64,
    /// Resends allowed per verification.
    pub max_resends: u32,
    /// Countries (ISO 3166 alpha-2) verifications may go to. Empty: the countries of the
    /// configured SIM numbers plus `default_country`, so that a gateway is not used to pump SMS
    /// to premium ranges abroad.
    pub allowed_countries: Vec<String>,
    /// Verification requests per destination number in a sliding hour (SMS resends count). 0 = no limit.
    pub rate_per_number_per_hour: u32,
    /// Verification requests per API key in a sliding minute. 0 = no limit.
    pub rate_per_key_per_minute: u32,
    /// Verification requests per end-user IP (IPv6: per /64) in a sliding hour, when the caller
    /// passes the IP. 0 = no limit.
    pub rate_per_ip_per_hour: u32,
    /// Lifetime of a reverse-OTP session: the person has to open their SMS app and send a text,
    /// which takes longer than typing a code.
    pub reverse_ttl_secs: u64,
    /// A reverse-OTP text delivered through a service centre in another country than the
    /// sender's number (forged on a bulk route, most likely): `refuse` (verifies nothing,
    /// counts as a failed attempt), `flag` (matched, marked on the message) or `off`.
    pub reverse_smsc_country_check: crate::verify::sender::SmscCountryCheck,
    /// Code SMS texts per language tag (`en`, `pt-br`…), overriding the built-in ones; with
    /// `{{code}}` (or `{{pin}}`), optionally `{{name}}` and `{{minutes}}`. Must fit one SMS part.
    pub templates: std::collections::BTreeMap<String, String>,
    /// Reverse-OTP instructions per language tag, with `{{factor}}` and `{{to}}`.
    pub reverse_templates: std::collections::BTreeMap<String, String>,
}

impl Default for Otp {
    fn default() -> Self {
        Otp {
            code_length: 6,
            ttl_secs: 300,
            max_attempts: 5,
            default_country: "US".into(),
            resend_cooldown_secs: 30,
            max_resends: 3,
            allowed_countries: Vec::new(),
            rate_per_number_per_hour: 10,
            rate_per_key_per_minute: 120,
            rate_per_ip_per_hour: 30,
            reverse_ttl_secs: 600,
            reverse_smsc_country_check: Default::default(),
            templates: Default::default(),
            reverse_templates: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Modem {
    pub name: String,
    /// Serial device (a udev symlink such as `/dev/simgate/sim1`; a pty path works the same).
    pub port: PathBuf,
    pub baud: u32,
    /// This SIM's own number in E.164; read with `AT+CNUM` when absent.
    pub number: Option<String>,
    /// SIM PIN, entered when the SIM asks for it. Never logged.
    pub pin: Option<Redacted<String>>,
    /// Per-SIM send caps (SMS parts), so that operators do not bar the SIM. 0 = no cap.
    pub max_per_minute: u32,
    pub max_per_hour: u32,
    pub max_per_day: u32,
}

impl Default for Modem {
    fn default() -> Self {
        Modem {
            name: String::new(),
            port: PathBuf::new(),
            baud: 115_200,
            number: None,
            pin: None,
            max_per_minute: 10,
            max_per_hour: 200,
            max_per_day: 1000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Webhook {
    pub url: String,
    /// Standard Webhooks secret (`whsec_` + base64).
    pub secret: Redacted<String>,
    /// Event types to deliver; `*` for all.
    pub events: Vec<String>,
}

impl Default for Webhook {
    fn default() -> Self {
        Webhook {
            url: String::new(),
            secret: Redacted::default(),
            events: vec!["*".into()],
        }
    }
}

/// Webhook delivery: the retry schedule and limits, shared by every endpoint.
///
/// The delay after the n-th failed attempt is drawn uniformly between `retry_base_ms` and
/// `retry_base_ms · retry_factor^(n-1)` (capped at `retry_max_ms`): exponential back-off with
/// jitter, so receivers coming back from an outage are not hit by every delivery at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookDelivery {
    /// First retry delay; also the smallest delay ever chosen.
    pub retry_base_ms: u64,
    /// Growth of the delay ceiling per failed attempt.
    pub retry_factor: u32,
    /// Largest delay between two attempts (a `Retry-After` may ask for longer).
    pub retry_max_ms: u64,
    /// Attempts before a delivery is marked `failed`.
    pub max_attempts: u32,
    /// A delivery not delivered this long after its event is marked `failed`.
    pub give_up_after_secs: u64,
    /// Time limit of one HTTP request (connect, send, response headers).
    pub timeout_ms: u64,
    /// Requests in flight at once, over all endpoints.
    pub concurrency: u32,
    /// Safety-net wake-up of the dispatcher when no event woke it.
    pub poll_interval_ms: u64,
    /// Finished deliveries (and their attempt logs) older than this are deleted; 0 keeps them.
    /// Unset: `retention.days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Loopback and private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) may
    /// receive webhooks. Link-local, metadata, multicast and unspecified addresses never may.
    pub allow_private_targets: bool,
    /// Requests in flight at once to one endpoint (scheme, host and port), so that a slow one
    /// cannot hold every slot of `concurrency`.
    pub per_endpoint_concurrency: u32,
    /// Time limit to open a connection (part of `timeout_ms`).
    pub connect_timeout_ms: u64,
}

impl Default for WebhookDelivery {
    fn default() -> Self {
        WebhookDelivery {
            retry_base_ms: 5_000,
            retry_factor: 6,
            retry_max_ms: 3_600_000,
            max_attempts: 50,
            give_up_after_secs: 24 * 3600,
            timeout_ms: 10_000,
            concurrency: 8,
            poll_interval_ms: 5_000,
            retention_days: None,
            allow_private_targets: true,
            per_endpoint_concurrency: 2,
            connect_timeout_ms: 3_000,
        }
    }
}

/// How long stored data is kept. Rows older than this are deleted by a background pass, in
/// small batches; what is still in use (a queued message, a pending delivery, an event not yet
/// fanned out, a live verification) is kept whatever its age. 0 keeps rows for ever.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Default for every kind of row.
    pub days: u32,
    /// Outbound and inbound messages (their parts and status reports). Unset: `days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_days: Option<u32>,
    /// The event log. Unset: `days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_days: Option<u32>,
    /// Verifications and reverse verifications, counted from their expiry. Unset: `days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifications_days: Option<u32>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            days: 30,
            messages_days: None,
            events_days: None,
            verifications_days: None,
        }
    }
}

/// How the pool sends the outbound queue: retries, and when a long message may change modem.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outbound {
    /// Attempts (over all modems) before a message is `failed`.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubles with each further one (up to 64 times).
    pub retry_base_ms: u64,
    /// A long message whose first parts left from one modem waits this long for it before another
    /// modem sends it whole again (a phone joins parts only from one number).
    pub restart_long_message_after_secs: u64,
    /// Plain texts are refused (503 with `Retry-After`) while this many messages wait to be
    /// sent. 0 = no bound.
    pub max_queued: u32,
    /// Share (percent, to the nearest part) of each per-SIM send cap that only verification codes may
    /// use, so a code goes out within one send slot even behind a backlog of plain texts.
    pub code_headroom_percent: u32,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            max_attempts: 5,
            retry_base_ms: 2_000,
            restart_long_message_after_secs: 600,
            max_queued: 1000,
            code_headroom_percent: 20,
        }
    }
}

/// Settings of the built-in simulator used by `simgate run --simulate N`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Simulator {
    /// Seconds a virtual modem takes to send one SMS part, like a real network.
    pub send_latency_ms: u64,
    /// Directory where the virtual modems' port links are made.
    pub link_dir: Option<PathBuf>,
    /// Own number of the first virtual modem; the next ones count up.
    pub first_number: String,
}

impl Default for Simulator {
    fn default() -> Self {
        Simulator {
            send_latency_ms: 2000,
            link_dir: None,
            first_number: "+15550000001".into(),
        }
    }
}

/// Auth servers that send their SMS through simgate (`POST /hooks/…`, no API key: each hook
/// checks its own secret). A hook is served only when its table is present.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hooks {
    /// A request repeated within this time (GoTrue: the same `metadata.uuid`; the others: the
    /// same recipient and text) is answered as done and not sent again.
    pub dedupe_window_secs: u64,
    /// Largest age (or advance) of a signed request's timestamp (GoTrue, Zitadel).
    pub timestamp_tolerance_secs: u64,
    /// Language of the SMS simgate writes when the caller sends only a code (GoTrue, Logto
    /// without a locale, authentik without `Message`).
    pub language: String,
    /// App name in that SMS (none: the generic wording).
    pub app_name: Option<String>,
    /// Code lifetime shown in that SMS ("expires in N min"): the auth server's own setting.
    pub code_ttl_secs: u64,
    /// Supabase Auth (GoTrue) "Send SMS hook": `POST /hooks/gotrue/send-sms`.
    pub gotrue: Option<GoTrueHook>,
    /// Zitadel's HTTP SMS provider: `POST /hooks/zitadel/sms`.
    pub zitadel: Option<ZitadelHook>,
    /// authentik's generic SMS provider: `POST /hooks/authentik/sms`.
    pub authentik: Option<HttpHook>,
    /// Logto's HTTP SMS connector: `POST /hooks/logto/sms`.
    pub logto: Option<HttpHook>,
    /// Keycloak sms-authenticator (netzbegruenung) API gateway: `POST /hooks/keycloak/sms`.
    pub keycloak: Option<HttpHook>,
    /// Ory Kratos HTTP courier: `POST /hooks/kratos/sms`.
    pub kratos: Option<HttpHook>,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            dedupe_window_secs: 600,
            timestamp_tolerance_secs: 300,
            language: "en".into(),
            app_name: None,
            code_ttl_secs: 300,
            gotrue: None,
            zitadel: None,
            authentik: None,
            logto: None,
            keycloak: None,
            kratos: None,
        }
    }
}

/// `[hooks.gotrue]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoTrueHook {
    /// GoTrue's own format, `v1,whsec_<base64>`; a list during rotation.
    #[serde(deserialize_with = "one_or_many")]
    pub secret: Vec<Redacted<String>>,
}

/// `[hooks.zitadel]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZitadelHook {
    /// The `signingKey` Zitadel returned when the HTTP SMS provider was added; a list during
    /// rotation.
    #[serde(deserialize_with = "one_or_many")]
    pub signing_key: Vec<Redacted<String>>,
}

/// `[hooks.authentik]`, `[hooks.logto]`, `[hooks.keycloak]`, `[hooks.kratos]`: who may call.
/// A request must carry one of the configured credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpHook {
    /// Accepted as `Authorization: Bearer <token>`.
    pub bearer_tokens: Vec<Redacted<String>>,
    /// `"user:password"` pairs accepted as HTTP Basic auth.
    pub basic: Vec<Redacted<String>>,
    /// Accepted in the header named by `api_key_header`.
    pub api_keys: Vec<Redacted<String>>,
    pub api_key_header: String,
}

impl Default for HttpHook {
    fn default() -> Self {
        HttpHook {
            bearer_tokens: Vec::new(),
            basic: Vec::new(),
            api_keys: Vec::new(),
            api_key_header: "X-API-Key".into(),
        }
    }
}

/// A string or a list of strings (`secret = "…"` or `secret = ["…", "…"]`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Redacted<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s.into()],
        OneOrMany::Many(v) => v.into_iter().map(Redacted::new).collect(),
    })
}

impl Hooks {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=86_400).contains(&self.dedupe_window_secs) {
            return Err(invalid(
                "hooks.dedupe_window_secs",
                "must be between 1 and 86400",
            ));
        }
        if !(1..=3600).contains(&self.timestamp_tolerance_secs) {
            return Err(invalid(
                "hooks.timestamp_tolerance_secs",
                "must be between 1 and 3600",
            ));
        }
        if self.code_ttl_secs == 0 {
            return Err(invalid("hooks.code_ttl_secs", "must be greater than 0"));
        }
        if let Some(g) = &self.gotrue {
            if g.secret.is_empty() {
                return Err(invalid(
                    "hooks.gotrue.secret",
                    "required: the \"v1,whsec_…\" secret shared with GoTrue",
                ));
            }
            for (i, s) in g.secret.iter().enumerate() {
                let ok = s
                    .strip_prefix("v1,")
                    .and_then(crate::webhook::decode_secret)
                    .is_some();
                if !ok {
                    return Err(invalid(
                        format!("hooks.gotrue.secret[{i}]"),
                        "expected GoTrue's format v1,whsec_ followed by base64",
                    ));
                }
            }
        }
        if let Some(z) = &self.zitadel {
            if z.signing_key.is_empty() {
                return Err(invalid(
                    "hooks.zitadel.signing_key",
                    "required: the signingKey Zitadel returned for the HTTP SMS provider",
                ));
            }
            for (i, k) in z.signing_key.iter().enumerate() {
                if k.trim().len() < 8 {
                    return Err(invalid(
                        format!("hooks.zitadel.signing_key[{i}]"),
                        "must have at least 8 characters",
                    ));
                }
            }
        }
        for (name, hook) in [
            ("authentik", &self.authentik),
            ("logto", &self.logto),
            ("keycloak", &self.keycloak),
            ("kratos", &self.kratos),
        ] {
            if let Some(h) = hook {
                h.validate(name)?;
            }
        }
        Ok(())
    }
}

impl HttpHook {
    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        if self.bearer_tokens.is_empty() && self.basic.is_empty() && self.api_keys.is_empty() {
            return Err(invalid(
                format!("hooks.{name}"),
                "needs at least one of bearer_tokens, basic, api_keys",
            ));
        }
        for (i, t) in self.bearer_tokens.iter().enumerate() {
            if t.trim().len() < 8 || t.chars().any(char::is_whitespace) {
                return Err(invalid(
                    format!("hooks.{name}.bearer_tokens[{i}]"),
                    "a token must have at least 8 characters and no spaces",
                ));
            }
        }
        for (i, pair) in self.basic.iter().enumerate() {
            let ok = pair
                .split_once(':')
                .is_some_and(|(user, password)| !user.is_empty() && password.len() >= 8);
            if !ok {
                return Err(invalid(
                    format!("hooks.{name}.basic[{i}]"),
                    "expected \"user:password\" with a password of at least 8 characters",
                ));
            }
        }
        for (i, k) in self.api_keys.iter().enumerate() {
            if k.trim().len() < 8 {
                return Err(invalid(
                    format!("hooks.{name}.api_keys[{i}]"),
                    "a key must have at least 8 characters",
                ));
            }
        }
        if axum::http::HeaderName::from_bytes(self.api_key_header.as_bytes()).is_err() {
            return Err(invalid(
                format!("hooks.{name}.api_key_header"),
                "expected an HTTP header name like X-API-Key",
            ));
        }
        Ok(())
    }
}

/// The status page served at `/ui/` (src/api/ui).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ui {
    /// Serve the page at all.
    pub enabled: bool,
    /// Show a read-only view (no message texts, no actions) without logging in, to clients on
    /// the loopback address that ask for a loopback name (`Host`; not a rebound domain). Leave
    /// off behind a reverse proxy on the same host: every request would then come from loopback.
    pub read_only_on_loopback: bool,
    /// A login lasts this long (sessions are kept in memory: a restart logs everyone out).
    pub session_ttl_secs: u64,
}

impl Default for Ui {
    fn default() -> Self {
        Ui {
            enabled: true,
            read_only_on_loopback: false,
            session_ttl_secs: 8 * 3600,
        }
    }
}

impl Ui {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(60..=30 * 86_400).contains(&self.session_ttl_secs) {
            return Err(invalid(
                "ui.session_ttl_secs",
                "must be between 60 and 2592000 (30 days)",
            ));
        }
        Ok(())
    }
}

impl WebhookDelivery {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.retry_base_ms == 0 {
            return Err(invalid("webhooks.retry_base_ms", "must be greater than 0"));
        }
        if !(1..=100).contains(&self.retry_factor) {
            return Err(invalid(
                "webhooks.retry_factor",
                "must be between 1 and 100",
            ));
        }
        if self.retry_max_ms < self.retry_base_ms {
            return Err(invalid(
                "webhooks.retry_max_ms",
                "must be at least webhooks.retry_base_ms",
            ));
        }
        if self.max_attempts == 0 {
            return Err(invalid("webhooks.max_attempts", "must be greater than 0"));
        }
        if self.give_up_after_secs == 0 {
            return Err(invalid(
                "webhooks.give_up_after_secs",
                "must be greater than 0",
            ));
        }
        if !(100..=600_000).contains(&self.timeout_ms) {
            return Err(invalid(
                "webhooks.timeout_ms",
                "must be between 100 and 600000",
            ));
        }
        if !(1..=256).contains(&self.concurrency) {
            return Err(invalid("webhooks.concurrency", "must be between 1 and 256"));
        }
        if self.poll_interval_ms < 10 {
            return Err(invalid("webhooks.poll_interval_ms", "must be at least 10"));
        }
        if !(1..=self.concurrency).contains(&self.per_endpoint_concurrency) {
            return Err(invalid(
                "webhooks.per_endpoint_concurrency",
                "must be between 1 and webhooks.concurrency",
            ));
        }
        if !(100..=600_000).contains(&self.connect_timeout_ms) {
            return Err(invalid(
                "webhooks.connect_timeout_ms",
                "must be between 100 and 600000",
            ));
        }
        Ok(())
    }
}

/// A config problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config: {key}: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

impl Config {
    /// Finds and loads the config: the explicit path, else `$SIMGATE_CONFIG`, else the system
    /// file if it exists, else the defaults.
    pub fn locate(explicit: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(ENV_VAR).map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from(SYSTEM_PATH);
                p.exists().then_some(p)
            });
        match path {
            Some(p) => Ok((Config::load(&p)?, Some(p))),
            None => {
                let config = Config::default();
                config.validate()?;
                Ok((config, None))
            }
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| invalid("server.listen", "expected an address like 127.0.0.1:8080"))?;
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        for (key, value) in [
            (
                "server.header_timeout_secs",
                self.server.header_timeout_secs,
            ),
            ("server.idle_timeout_secs", self.server.idle_timeout_secs),
            ("server.body_timeout_secs", self.server.body_timeout_secs),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        if !(1..=65_536).contains(&self.server.max_connections) {
            return Err(invalid(
                "server.max_connections",
                "must be between 1 and 65536",
            ));
        }
        for (i, host) in self.server.allowed_hosts.iter().enumerate() {
            let host = host.trim();
            if host.is_empty() || host.contains(['/', ' ', '@']) {
                return Err(invalid(
                    format!("server.allowed_hosts[{i}]"),
                    "expected a host name like \"sms.example.lan\" (optionally with :port), or \"*\"",
                ));
            }
        }
        if self.storage.path.as_os_str().is_empty() {
            return Err(invalid("storage.path", "must not be empty"));
        }
        for (i, key) in self.auth.api_keys.iter().enumerate() {
            if key.trim().len() < 8 {
                return Err(invalid(
                    format!("auth.api_keys[{i}]"),
                    "an API key must have at least 8 characters",
                ));
            }
        }
        self.check_protected_mode()?;
        if !(4..=10).contains(&self.otp.code_length) {
            return Err(invalid("otp.code_length", "must be between 4 and 10"));
        }
        if self.otp.ttl_secs == 0 {
            return Err(invalid("otp.ttl_secs", "must be greater than 0"));
        }
        if self.otp.max_attempts == 0 {
            return Err(invalid("otp.max_attempts", "must be greater than 0"));
        }
        let country = &self.otp.default_country;
        if country.len() != 2
            || !country.chars().all(|c| c.is_ascii_alphabetic())
            || !crate::phone::is_known_country(country)
        {
            return Err(invalid(
                "otp.default_country",
                "expected an ISO 3166 two-letter code like \"US\"",
            ));
        }
        for (i, c) in self.otp.allowed_countries.iter().enumerate() {
            if !crate::phone::is_known_country(c) {
                return Err(invalid(
                    format!("otp.allowed_countries[{i}]"),
                    format!("{c:?} is not an ISO 3166 two-letter code with a numbering plan"),
                ));
            }
        }
        if self.otp.reverse_ttl_secs == 0 {
            return Err(invalid("otp.reverse_ttl_secs", "must be greater than 0"));
        }
        let worst_minutes = crate::verify::template::minutes(self.otp.ttl_secs).max(
            crate::verify::template::minutes(crate::verify::MAX_TTL_SECS),
        );
        for (lang, template) in &self.otp.templates {
            let key = format!("otp.templates.{lang}");
            if !is_language_tag(lang) {
                return Err(invalid(
                    key,
                    "expected a language tag like \"en\" or \"pt-br\"",
                ));
            }
            crate::verify::template::check_code_template(template)
                .and_then(|()| crate::verify::template::fits_worst_case(template, worst_minutes))
                .map_err(|e| invalid(key, format!("the template {e}")))?;
        }
        for (lang, template) in &self.otp.reverse_templates {
            let key = format!("otp.reverse_templates.{lang}");
            if !is_language_tag(lang) {
                return Err(invalid(
                    key,
                    "expected a language tag like \"en\" or \"pt-br\"",
                ));
            }
            crate::verify::template::check_reverse_template(template)
                .map_err(|e| invalid(key, format!("the template {e}")))?;
        }
        if self.proofs.issuer.trim().is_empty() {
            return Err(invalid("proofs.issuer", "must not be empty"));
        }
        if self.proofs.audience.trim().is_empty() {
            return Err(invalid("proofs.audience", "must not be empty"));
        }
        if self.proofs.lifetime_secs == 0 {
            return Err(invalid("proofs.lifetime_secs", "must be greater than 0"));
        }
        if self.outbound.max_attempts == 0 {
            return Err(invalid("outbound.max_attempts", "must be greater than 0"));
        }
        if self.outbound.retry_base_ms == 0 {
            return Err(invalid("outbound.retry_base_ms", "must be greater than 0"));
        }
        if self.outbound.code_headroom_percent > 90 {
            return Err(invalid(
                "outbound.code_headroom_percent",
                "must be between 0 and 90",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, m) in self.modems.iter().enumerate() {
            if m.name.is_empty() {
                return Err(invalid(format!("modem[{i}].name"), "must not be empty"));
            }
            if !names.insert(m.name.as_str()) {
                return Err(invalid(
                    format!("modem[{i}].name"),
                    format!("duplicate modem name {:?}", m.name),
                ));
            }
            if m.port.as_os_str().is_empty() {
                return Err(invalid(format!("modem[{i}].port"), "must not be empty"));
            }
            if m.baud == 0 {
                return Err(invalid(
                    format!("modem[{i}].baud"),
                    "must be greater than 0",
                ));
            }
            if let Some(number) = &m.number {
                if !is_e164(number) {
                    return Err(invalid(
                        format!("modem[{i}].number"),
                        "expected E.164 like +15550000001",
                    ));
                }
            }
            if let Some(pin) = &m.pin {
                if !(4..=8).contains(&pin.len()) || !pin.chars().all(|c| c.is_ascii_digit()) {
                    return Err(invalid(format!("modem[{i}].pin"), "expected 4 to 8 digits"));
                }
            }
        }
        let mut urls = std::collections::HashSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://"))
                || reqwest::Url::parse(&w.url).is_err()
            {
                return Err(invalid(
                    format!("webhook[{i}].url"),
                    "expected an http:// or https:// URL",
                ));
            }
            // The URL identifies a configured endpoint across restarts (its pending deliveries).
            if !urls.insert(w.url.as_str()) {
                return Err(invalid(
                    format!("webhook[{i}].url"),
                    "the same URL is configured twice; list all its events in one [[webhook]]",
                ));
            }
            if w.events.is_empty() {
                return Err(invalid(
                    format!("webhook[{i}].events"),
                    "must not be empty (use [\"*\"] for every event)",
                ));
            }
            for (j, pattern) in w.events.iter().enumerate() {
                if !crate::webhook::is_valid_pattern(pattern) {
                    return Err(invalid(
                        format!("webhook[{i}].events[{j}]"),
                        "expected \"*\", an event type like \"message.received\", or a prefix like \"message.*\"",
                    ));
                }
            }
            if !w.secret.is_empty() && crate::webhook::decode_secret(&w.secret).is_none() {
                return Err(invalid(
                    format!("webhook[{i}].secret"),
                    "expected whsec_ followed by base64",
                ));
            }
            if let Err(refused) = crate::webhook::guard::check_url(
                &w.url,
                self.webhook_delivery.allow_private_targets,
            ) {
                return Err(invalid(format!("webhook[{i}].url"), refused.to_string()));
            }
        }
        self.webhook_delivery.validate()?;
        self.hooks.validate()?;
        self.ui.validate()?;
        if !is_e164(&self.simulator.first_number) {
            return Err(invalid(
                "simulator.first_number",
                "expected E.164 like +15550000001",
            ));
        }
        Ok(())
    }

    /// Protected mode (as Redis has): on a non-loopback listen address, the public example key
    /// and short keys are refused, so that a copied example config never exposes the API.
    pub fn check_protected_mode(&self) -> Result<(), ConfigError> {
        let exposed = self
            .server
            .listen
            .parse::<SocketAddr>()
            .is_ok_and(|a| !a.ip().is_loopback());
        if !exposed {
            return Ok(());
        }
        for (i, key) in self.auth.api_keys.iter().enumerate() {
            let key = key.trim();
            let problem = if key == EXAMPLE_API_KEY {
                "is the public example key"
            } else if key.chars().count() < MIN_EXPOSED_KEY_LEN {
                "is shorter than 24 characters"
            } else {
                continue;
            };
            return Err(invalid(
                format!("auth.api_keys[{i}]"),
                format!(
                    "{problem}, refused while server.listen ({}) is not loopback (protected mode); \
                     set a random key, e.g. from `openssl rand -hex 24`",
                    self.server.listen
                ),
            ));
        }
        Ok(())
    }

    /// The effective config as TOML with secrets masked, for `check-config`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        for key in &mut shown.auth.api_keys {
            *key = mask(key).into();
        }
        for m in &mut shown.modems {
            if m.pin.is_some() {
                m.pin = Some(crate::redact::MASK.into());
            }
        }
        for w in &mut shown.webhooks {
            if !w.secret.is_empty() {
                w.secret = "whsec_****".into();
            }
        }
        if let Some(g) = &mut shown.hooks.gotrue {
            g.secret = g.secret.iter().map(|_| "v1,whsec_****".into()).collect();
        }
        if let Some(z) = &mut shown.hooks.zitadel {
            z.signing_key = z.signing_key.iter().map(|k| mask(k).into()).collect();
        }
        for h in [
            &mut shown.hooks.authentik,
            &mut shown.hooks.logto,
            &mut shown.hooks.keycloak,
            &mut shown.hooks.kratos,
        ]
        .into_iter()
        .flatten()
        {
            h.bearer_tokens = h.bearer_tokens.iter().map(|t| mask(t).into()).collect();
            h.api_keys = h.api_keys.iter().map(|k| mask(k).into()).collect();
            h.basic = h
                .basic
                .iter()
                .map(|p| format!("{}:****", p.split(':').next().unwrap_or("")).into())
                .collect();
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// Keeps a short prefix so an operator can tell keys apart without revealing them.
fn mask(secret: &str) -> String {
    let visible: String = secret.chars().take(4).collect();
    format!("{visible}****")
}

/// A BCP 47-ish language tag: 2-3 letters, then `-`/`_` and letters or digits (`pt-BR`, `zh-tw`).
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split(['-', '_']);
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// `+` followed by 8 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_valid_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.otp.code_length, 6);
        assert!(c.modems.is_empty());
    }

    #[test]
    fn ui_table() {
        let c = Config::parse("[ui]\nread_only_on_loopback = true\n").unwrap();
        assert!(c.ui.enabled && c.ui.read_only_on_loopback);
        assert_eq!(c.ui.session_ttl_secs, 8 * 3600);
        let e = Config::parse("[ui]\nsession_ttl_secs = 5\n").unwrap_err();
        assert!(e.to_string().contains("ui.session_ttl_secs"), "{e}");
        let e = Config::parse("[ui]\nread_only = true\n").unwrap_err();
        assert!(e.to_string().contains("read_only"), "{e}");
    }

    #[test]
    fn spec_example_parses() {
        let text = r#"
[server]
listen = "127.0.0.1:8080"
[storage]
path = "simgate.db"
[auth]
api_keys = ["sk_live_change_me"]
[security]
secret_file = "secret.key"
[otp]
code_length = 6
ttl_secs = 300
max_attempts = 5
default_country = "US"
[[modem]]
name = "sim1"
port = "/dev/simgate/sim1"
baud = 115200
number = "+15550000001"
pin = "1234"
[[webhook]]
url = "http://127.0.0.1:9000/hooks"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
events = ["*"]
"#;
        let c = Config::parse(text).unwrap();
        assert_eq!(c.modems[0].number.as_deref(), Some("+15550000001"));
        assert_eq!(c.webhooks[0].events, vec!["*"]);
    }

    #[test]
    fn operator_templates_and_proof_keys_path() {
        let long = format!("{} {{{{code}}}}", "x".repeat(155));
        let err = Config::parse(&format!("[otp.templates]\nen = \"{long}\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("otp.templates.en") && err.contains("one SMS part"),
            "{err}"
        );
        let c = Config::parse(
            "[security]\nsecret_file = \"/var/lib/simgate/secret.key\"\n[otp.templates]\npt-BR = \"Codigo {{pin}}\"\n[otp.reverse_templates]\nen = \"Send {{factor}} to {{to}}\"",
        )
        .unwrap();
        assert_eq!(c.otp.templates["pt-BR"], "Codigo {{pin}}");
        assert_eq!(
            c.proof_keys_path(),
            PathBuf::from("/var/lib/simgate/proof_keys.pem")
        );
        let c = Config::parse("[proofs]\nkeys_file = \"/etc/k.pem\"").unwrap();
        assert_eq!(c.proof_keys_path(), PathBuf::from("/etc/k.pem"));
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[server]\nlisten_addr = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("[otp]\ncode_length = 3", "otp.code_length"),
            ("[server]\nlisten = \"nope\"", "server.listen"),
            (
                "[[modem]]\nname = \"a\"\nport = \"/dev/x\"\nnumber = \"555\"",
                "modem[0].number",
            ),
            ("[[modem]]\nname = \"a\"\nport = \"\"", "modem[0].port"),
            ("[[webhook]]\nurl = \"ftp://x\"", "webhook[0].url"),
            (
                "[[webhook]]\nurl = \"http://x\"\nsecret = \"nope\"",
                "webhook[0].secret",
            ),
            ("[otp]\ndefault_country = \"USA\"", "otp.default_country"),
            (
                "[otp]\nallowed_countries = [\"US\", \"XX\"]",
                "otp.allowed_countries[1]",
            ),
            ("[otp]\nreverse_ttl_secs = 0", "otp.reverse_ttl_secs"),
            (
                "[otp]\nreverse_smsc_country_check = \"maybe\"",
                "reverse_smsc_country_check",
            ),
            (
                "[[webhook]]\nurl = \"http://x\"\nevents = [\"message.*.x\"]",
                "webhook[0].events[0]",
            ),
            (
                "[[webhook]]\nurl = \"http://x\"\nevents = []",
                "webhook[0].events",
            ),
            (
                "[[webhook]]\nurl = \"http://x\"\n[[webhook]]\nurl = \"http://x\"",
                "webhook[1].url",
            ),
            ("[webhooks]\nretry_factor = 0", "webhooks.retry_factor"),
            ("[outbound]\nmax_attempts = 0", "outbound.max_attempts"),
            ("[outbound]\nretry_base_ms = 0", "outbound.retry_base_ms"),
            (
                "[outbound]\ncode_headroom_percent = 95",
                "outbound.code_headroom_percent",
            ),
            (
                "[webhooks]\nretry_base_ms = 10\nretry_max_ms = 5",
                "webhooks.retry_max_ms",
            ),
            ("[webhooks]\ntimeout_ms = 1", "webhooks.timeout_ms"),
            (
                "[webhooks]\nper_endpoint_concurrency = 0",
                "webhooks.per_endpoint_concurrency",
            ),
            (
                "[webhooks]\nconcurrency = 4\nper_endpoint_concurrency = 5",
                "webhooks.per_endpoint_concurrency",
            ),
            (
                "[webhooks]\nconnect_timeout_ms = 20",
                "webhooks.connect_timeout_ms",
            ),
            (
                "[[webhook]]\nurl = \"http://169.254.169.254/latest\"",
                "webhook[0].url",
            ),
            (
                "[webhooks]\nallow_private_targets = false\n[[webhook]]\nurl = \"http://127.0.0.1:9000/\"",
                "webhook[0].url",
            ),
            ("[retention]\nweeks = 3", "weeks"),
            (
                "[server]\nheader_timeout_secs = 0",
                "server.header_timeout_secs",
            ),
            ("[server]\nmax_connections = 0", "server.max_connections"),
            (
                "[server]\nallowed_hosts = [\"http://x/\"]",
                "server.allowed_hosts[0]",
            ),
            // otp-settings: operator templates and proofs.
            ("[otp.templates]\nfr = \"Bonjour\"", "otp.templates.fr"),
            (
                "[otp.templates]\nen = \"{{code}} {{nope}}\"",
                "otp.templates.en",
            ),
            (
                "[otp.templates]\n\"english!\" = \"{{code}}\"",
                "otp.templates.english!",
            ),
            (
                "[otp.reverse_templates]\nen = \"Send {{factor}}\"",
                "otp.reverse_templates.en",
            ),
            ("[proofs]\nlifetime_secs = 0", "proofs.lifetime_secs"),
            ("[proofs]\naudience = \" \"", "proofs.audience"),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} gave {err}");
        }
        let err = Config::parse("[otp]\ncode_length = \"six\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("code_length"), "{err}");
    }

    #[test]
    fn refused_webhook_url_says_why() {
        let err = Config::parse("[[webhook]]\nurl = \"http://[fe80::1]:80/x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("refused: link-local address fe80::1"), "{err}");
        let c = Config::parse("[retention]\ndays = 7\nevents_days = 0").unwrap();
        assert_eq!(c.retention.days, 7);
        assert_eq!(c.retention.events_days, Some(0));
    }

    #[test]
    fn redacted_output_hides_secrets() {
        let c = Config::parse(
            "[auth]\napi_keys=[\"sk_live_supersecret\"]\n[[modem]]\nname=\"a\"\nport=\"/dev/x\"\npin=\"4321\"\n[[webhook]]\nurl=\"http://h\"\nsecret=\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
        )
        .unwrap();
        let shown = c.to_redacted_toml();
        assert!(!shown.contains("supersecret"));
        assert!(!shown.contains("4321"));
        assert!(!shown.contains("MfKQ9r8"));
        assert!(shown.contains("sk_l****"), "{shown}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = Config::parse(
            "[auth]\napi_keys=[\"sk_live_supersecret\"]\n\
             [[modem]]\nname=\"a\"\nport=\"/dev/x\"\npin=\"4321\"\n\
             [[webhook]]\nurl=\"http://h\"\nsecret=\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
             [hooks.gotrue]\nsecret = \"v1,whsec_R29UcnVlSG9va1NlY3JldEtleTEyMzQ=\"\n\
             [hooks.zitadel]\nsigning_key = \"zitadel-signing-key-1\"\n\
             [hooks.kratos]\nbearer_tokens = [\"tok_kratos_0123\"]\nbasic = [\"kr:basicpass123\"]\n\
             api_keys = [\"hookapikey_0123\"]\n",
        )
        .unwrap();
        assert_eq!(c.modems[0].pin.as_ref().unwrap().expose(), "4321");
        let shown = format!("{c:?} {c:#?}");
        for secret in [
            "supersecret",
            "4321",
            "MfKQ9r8",
            "R29UcnVl",
            "zitadel-signing-key",
            "tok_kratos",
            "basicpass123",
            "hookapikey",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("****"));
    }

    #[test]
    fn hooks_tables_parse_and_validate() {
        let c = Config::parse(
            "[hooks.gotrue]\nsecret = \"v1,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
             [hooks.zitadel]\nsigning_key = [\"key-one-123\", \"key-two-456\"]\n\
             [hooks.authentik]\nbearer_tokens = [\"tok_0123456789\"]\nbasic = [\"ak:password123\"]\n",
        )
        .unwrap();
        assert_eq!(c.hooks.gotrue.as_ref().unwrap().secret.len(), 1);
        assert_eq!(c.hooks.zitadel.as_ref().unwrap().signing_key.len(), 2);
        assert_eq!(
            c.hooks.authentik.as_ref().unwrap().api_key_header,
            "X-API-Key"
        );
        assert!(c.hooks.logto.is_none());
        let shown = c.to_redacted_toml();
        assert!(!shown.contains("MfKQ9r8"), "{shown}");
        assert!(!shown.contains("key-one-123"), "{shown}");
        assert!(!shown.contains("tok_0123456789"), "{shown}");
        assert!(!shown.contains("password123"), "{shown}");

        for (text, key) in [
            (
                "[hooks.gotrue]\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
                "hooks.gotrue.secret[0]",
            ),
            ("[hooks.gotrue]\nsecret = []", "hooks.gotrue.secret"),
            (
                "[hooks.zitadel]\nsigning_key = \"short\"",
                "hooks.zitadel.signing_key[0]",
            ),
            ("[hooks.logto]\n", "hooks.logto"),
            (
                "[hooks.kratos]\nbasic = [\"nopassword\"]",
                "hooks.kratos.basic[0]",
            ),
            (
                "[hooks.keycloak]\napi_keys = [\"k_0123456789\"]\napi_key_header = \"bad header\"",
                "hooks.keycloak.api_key_header",
            ),
            (
                "[hooks]\ndedupe_window_secs = 0",
                "hooks.dedupe_window_secs",
            ),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} gave {err}");
        }
    }

    #[test]
    fn protected_mode_refuses_weak_keys_off_loopback() {
        let strong = "sk_live_0123456789abcdef01234567";
        for (listen, key, refused) in [
            ("0.0.0.0:8080", EXAMPLE_API_KEY, true),
            ("[::]:8080", EXAMPLE_API_KEY, true),
            ("192.168.1.5:8080", "sk_short_but_ok_len", true),
            ("0.0.0.0:8080", strong, false),
            ("127.0.0.1:8080", EXAMPLE_API_KEY, false),
            ("[::1]:8080", "sk_short_key", false),
        ] {
            let text = format!(
                "[server]\nlisten = \"{listen}\"\n[auth]\napi_keys = [\"{strong}\", \"{key}\"]"
            );
            match Config::parse(&text) {
                Ok(_) => assert!(!refused, "{listen} {key} accepted"),
                Err(e) => {
                    assert!(refused, "{listen} {key}: {e}");
                    let e = e.to_string();
                    assert!(
                        e.contains("auth.api_keys[1]") && e.contains("protected mode"),
                        "{e}"
                    );
                    assert!(!e.contains('\n'), "one line: {e}");
                    assert!(!e.contains(key), "the key itself is not shown: {e}");
                }
            }
        }
        // The defaults (no file at all) are the loopback quick start.
        Config::default().validate().unwrap();
    }

    #[test]
    fn e164() {
        assert!(is_e164("+15550000001"));
        assert!(!is_e164("15550000001"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1555abc0001"));
    }

    /// The shipped example parses, and documents every key the config has.
    #[test]
    fn example_config_is_valid_and_complete() {
        let example = include_str!("../config/simgate.example.toml");
        Config::parse(example).expect("config/simgate.example.toml is valid");
        let defaults: toml::Value = toml::Value::try_from(Config::default()).unwrap();
        let mut missing = Vec::new();
        if let toml::Value::Table(tables) = defaults {
            for (table, value) in tables {
                let keys: Vec<String> = match value {
                    toml::Value::Table(t) => t.keys().cloned().collect(),
                    // [[modem]] / [[webhook]]: the keys of one default entry.
                    toml::Value::Array(_) => match table.as_str() {
                        "modem" => toml::Value::try_from(Modem::default())
                            .ok()
                            .and_then(|v| v.as_table().map(|t| t.keys().cloned().collect()))
                            .unwrap_or_default(),
                        "webhook" => toml::Value::try_from(Webhook::default())
                            .ok()
                            .and_then(|v| v.as_table().map(|t| t.keys().cloned().collect()))
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                for key in keys {
                    let documented = example
                        .lines()
                        .map(|l| l.trim_start_matches('#').trim_start())
                        .any(|l| l.starts_with(&format!("{key} =")));
                    if !documented {
                        missing.push(format!("{table}.{key}"));
                    }
                }
            }
        }
        // Optional keys with no default (serialised as absent) are checked by name.
        for key in [
            "pin",
            "number",
            "link_dir",
            // [hooks] (hooks.* tables are absent by default).
            "app_name",
            "secret",
            "signing_key",
            "bearer_tokens",
            "basic",
            "api_keys",
            "api_key_header",
        ] {
            if !example.contains(&format!("{key} =")) {
                missing.push(key.to_string());
            }
        }
        assert!(missing.is_empty(), "undocumented keys: {missing:?}");
    }
}
