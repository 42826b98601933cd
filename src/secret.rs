//! The server secret: the HMAC pepper for codes and signed tokens. Created on first start with
//! 32 random bytes and mode 0600; never logged.

use crate::redact::Redacted;
use std::io::Write;
use std::path::Path;

/// Secret bytes; `Debug` never shows them.
#[derive(Clone, Debug)]
pub struct Secret(Redacted<Vec<u8>>);

impl Secret {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Secret {
        Secret(bytes.into())
    }

    /// Loads an existing secret file. A file shorter than 16 bytes is an error: a weak pepper
    /// would be silently accepted otherwise.
    pub fn load(path: &Path) -> std::io::Result<Secret> {
        let bytes = std::fs::read(path)?;
        if bytes.len() < 16 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: secret too short (need at least 16 bytes)",
                    path.display()
                ),
            ));
        }
        Ok(Secret(bytes.into()))
    }

    /// Loads the secret file, creating it (0600) if missing. Warns when an existing file is
    /// open to group or others: whoever reads it can forge `success_url` signatures and
    /// verification proofs.
    pub fn load_or_create(path: &Path) -> std::io::Result<Secret> {
        if let Some(warning) = exposure(path) {
            tracing::warn!("{warning}");
        }
        match Secret::load(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use rand::RngCore;
                let mut bytes = vec![0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(path)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                Ok(Secret(bytes.into()))
            }
            other => other,
        }
    }
}

/// A warning when the file exists and group or others have any access to it.
pub fn exposure(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "secret file {} is open to group/others (mode {mode:o}): run chmod 600 {0}",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let a = Secret::load_or_create(&path).unwrap();
        let b = Secret::load_or_create(&path).unwrap();
        assert_eq!(a.bytes(), b.bytes());
        assert_eq!(a.bytes().len(), 32);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(format!("{a:?}"), "Secret(****)");
    }

    #[test]
    fn readable_by_others_is_reported() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        assert!(exposure(&path).is_none(), "missing: nothing to say");
        Secret::load_or_create(&path).unwrap();
        assert!(exposure(&path).is_none(), "created 0600");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warning = exposure(&path).expect("0644 is reported");
        assert!(warning.contains("mode 644"), "{warning}");
        assert!(warning.contains("chmod 600"), "{warning}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(exposure(&path).is_some(), "group-readable is reported");
    }

    #[test]
    fn short_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, b"short").unwrap();
        assert!(Secret::load_or_create(&path).is_err());
    }
}
