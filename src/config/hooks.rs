//! The `[hooks]` table: auth servers that send their SMS through simgate (`/hooks/…`).

use super::{invalid, ConfigError};
use crate::redact::Redacted;
use serde::{Deserialize, Serialize};

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
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
