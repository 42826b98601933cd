//! The server secret: the HMAC pepper for codes and signed tokens. Created on first start with
//! 32 random bytes and mode 0600; never logged.

use std::io::Write;
use std::path::Path;

/// Secret bytes; `Debug` never shows them.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl Secret {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
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
        Ok(Secret(bytes))
    }

    /// Loads the secret file, creating it (0600) if missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<Secret> {
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
                Ok(Secret(bytes))
            }
            other => other,
        }
    }
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
    fn short_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, b"short").unwrap();
        assert!(Secret::load_or_create(&path).is_err());
    }
}
