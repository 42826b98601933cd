//! Configuration: the TOML file of SPEC §2, its defaults, and validation.
//!
//! Every key has a default so that an empty file (or none) is a valid config. Unknown keys are
//! rejected rather than ignored: a typo in `api_keys` must not silently leave the API open or
//! closed. Validation errors name the key (`otp.code_length`, `modem[1].port`) and the problem.

use crate::redact::Redacted;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod hooks;
mod webhooks;
pub use hooks::{GoTrueHook, Hooks, HttpHook, ZitadelHook};
pub use webhooks::{Webhook, WebhookDelivery};

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
    /// This host among several sharing one PostgreSQL database (`[cluster]`).
    pub cluster: Cluster,
}

/// Several hosts, one service: what this host calls itself and how often it says it is alive.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// This host's name in the modem view and the queue's claims (default: the system's
    /// host name). Unique among the hosts sharing a database.
    pub name: Option<String>,
    /// Seconds between this host's heartbeats (its modems' states, its claims' leases).
    pub heartbeat_secs: u64,
    /// A host silent this long is taken for dead: its claimed messages go back to the queue,
    /// its in-flight parts become `uncertain`, its webhook leases lapse.
    pub host_timeout_secs: u64,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            name: None,
            heartbeat_secs: 5,
            host_timeout_secs: 30,
        }
    }
}

impl Cluster {
    /// The name this host goes by: `name`, else the system's host name.
    pub fn host_name(&self) -> String {
        self.name.clone().unwrap_or_else(system_host_name)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(name) = &self.name {
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(invalid(
                    "cluster.name",
                    "1 to 64 letters, digits, '-', '_' or '.'",
                ));
            }
        }
        if !(1..=300).contains(&self.heartbeat_secs) {
            return Err(invalid(
                "cluster.heartbeat_secs",
                "must be between 1 and 300",
            ));
        }
        if self.host_timeout_secs < 3 * self.heartbeat_secs {
            return Err(invalid(
                "cluster.host_timeout_secs",
                "must be at least three heartbeats (3 × cluster.heartbeat_secs)",
            ));
        }
        Ok(())
    }
}

/// The kernel's host name (`/proc/sys/kernel/hostname`), else "localhost".
fn system_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `postgres://user:secret@host/db` → `postgres://user:****@host/db` (for logs and
/// `check-config`); anything unparsable is masked whole.
pub fn mask_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("****"));
            }
            // A password may also ride in the query (`?password=…`).
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "****".to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) => "postgres://****".into(),
    }
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
    /// PostgreSQL instead (`postgres://user:password@host:port/dbname`): several hosts, one
    /// service. When set, `path` is unused. Holds the password: `Debug` masks it.
    pub url: Option<Redacted<String>>,
    /// The CA certificate (PEM) that signed the PostgreSQL server's, when the URL asks for
    /// TLS (`sslmode=require`) and the server's certificate is not from a public CA.
    pub ca_file: Option<PathBuf>,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            path: "simgate.db".into(),
            url: None,
            ca_file: None,
        }
    }
}

impl Storage {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url {
            let scheme_ok = url.starts_with("postgres://") || url.starts_with("postgresql://");
            if !scheme_ok {
                return Err(invalid(
                    "storage.url",
                    "expected postgres://user:password@host:port/dbname",
                ));
            }
            if let Err(e) =
                crate::store::db::postgres::Target::parse_with_ca(url, self.ca_file.as_deref())
            {
                // The driver's message never repeats the password.
                return Err(invalid("storage.url", &e));
            }
        }
        Ok(())
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
    /// Virtual modems are named `<name_prefix>1`, `<name_prefix>2`… (hosts sharing a database
    /// need distinct names).
    pub name_prefix: String,
}

impl Default for Simulator {
    fn default() -> Self {
        Simulator {
            send_latency_ms: 2000,
            link_dir: None,
            first_number: "+15550000001".into(),
            name_prefix: "sim".into(),
        }
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
        self.storage.validate()?;
        self.cluster.validate()?;
        if self.simulator.name_prefix.is_empty()
            || !self
                .simulator
                .name_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        {
            return Err(invalid(
                "simulator.name_prefix",
                "letters, digits, '-' or '_' (modems are named <prefix>1, <prefix>2…)",
            ));
        }
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
        shown.storage.url = shown
            .storage
            .url
            .as_ref()
            .map(|u| mask_url_password(u).into());
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
mod tests;
