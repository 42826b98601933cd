//! Configuration: the TOML file of SPEC §2, its defaults, and validation.
//!
//! Every key has a default so that an empty file (or none) is a valid config. Unknown keys are
//! rejected rather than ignored: a typo in `api_keys` must not silently leave the API open or
//! closed. Validation errors name the key (`otp.code_length`, `modem[1].port`) and the problem.

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
    /// The status page at `/ui/`.
    pub ui: Ui,
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
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 30,
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
    pub api_keys: Vec<String>,
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
    pub pin: Option<String>,
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
    pub secret: String,
    /// Event types to deliver; `*` for all.
    pub events: Vec<String>,
}

impl Default for Webhook {
    fn default() -> Self {
        Webhook {
            url: String::new(),
            secret: String::new(),
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
    pub retention_days: u32,
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
            retention_days: 30,
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
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            max_attempts: 5,
            retry_base_ms: 2_000,
            restart_long_message_after_secs: 600,
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
        if self.outbound.max_attempts == 0 {
            return Err(invalid("outbound.max_attempts", "must be greater than 0"));
        }
        if self.outbound.retry_base_ms == 0 {
            return Err(invalid("outbound.retry_base_ms", "must be greater than 0"));
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
        }
        self.webhook_delivery.validate()?;
        self.ui.validate()?;
        if !is_e164(&self.simulator.first_number) {
            return Err(invalid(
                "simulator.first_number",
                "expected E.164 like +15550000001",
            ));
        }
        Ok(())
    }

    /// The effective config as TOML with secrets masked, for `check-config`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        for key in &mut shown.auth.api_keys {
            *key = mask(key);
        }
        for m in &mut shown.modems {
            if m.pin.is_some() {
                m.pin = Some("****".into());
            }
        }
        for w in &mut shown.webhooks {
            if !w.secret.is_empty() {
                w.secret = "whsec_****".into();
            }
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// Keeps a short prefix so an operator can tell keys apart without revealing them.
fn mask(secret: &str) -> String {
    let visible: String = secret.chars().take(4).collect();
    format!("{visible}****")
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
                "[webhooks]\nretry_base_ms = 10\nretry_max_ms = 5",
                "webhooks.retry_max_ms",
            ),
            ("[webhooks]\ntimeout_ms = 1", "webhooks.timeout_ms"),
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
        for key in ["pin", "number", "link_dir"] {
            if !example.contains(&format!("{key} =")) {
                missing.push(key.to_string());
            }
        }
        assert!(missing.is_empty(), "undocumented keys: {missing:?}");
    }
}
