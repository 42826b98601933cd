//! `simgate webhook-secret`: the secret that signs deliveries with no secret of their own.

use crate::config::Config;
use crate::secret::Secret;
use crate::webhook;

/// What the command prints: the derived secret on stdout, and a note on stderr when a
/// configured secret signs `success_url` deliveries instead.
pub struct Shown {
    pub secret: String,
    pub note: Option<String>,
}

/// Reads the server secret (never creates it: the daemon, as the service user, does) and
/// derives the webhook secret from it, as the dispatcher does.
pub fn webhook_secret(config: &Config) -> Result<Shown, String> {
    let path = &config.security.secret_file;
    let pepper = Secret::load(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no server secret at {} yet: it is created when the daemon first starts (security.secret_file)",
            path.display()
        ),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    let note = webhook::target_secret_index(config).map(|i| {
        format!(
            "success_url deliveries are signed with webhook[{i}].secret from the config; \
             this secret signs [[webhook]]s without one"
        )
    });
    Ok(Shown {
        secret: webhook::derived_secret(pepper.bytes()),
        note,
    })
}
