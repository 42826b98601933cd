//! `simgate webhook-secret`: the secrets derived from the server secret, for receivers.

use crate::config::Config;
use crate::secret::Secret;
use crate::webhook;

/// Reads the server secret (never creates it: the daemon, as the service user, does) and
/// derives, as the dispatcher does, the secret that signs `success_url` deliveries, or with
/// `url` the one that signs a `[[webhook]]` configured without a secret.
pub fn webhook_secret(config: &Config, url: Option<&str>) -> Result<String, String> {
    if let Some(url) = url {
        match config.webhooks.iter().position(|w| w.url == url) {
            None => return Err(format!("no [[webhook]] with url = {url:?} in the config")),
            Some(i) if !config.webhooks[i].secret.is_empty() => {
                return Err(format!(
                    "webhook[{i}] has a secret of its own (webhook[{i}].secret): it signs with that"
                ))
            }
            Some(_) => {}
        }
    }
    let path = &config.security.secret_file;
    let pepper = Secret::load(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no server secret at {} yet: it is created when the daemon first starts (security.secret_file)",
            path.display()
        ),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(match url {
        Some(url) => webhook::endpoint_secret(pepper.bytes(), url),
        None => webhook::derived_secret(pepper.bytes()),
    })
}
