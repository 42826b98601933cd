//! Proofs of verification an app checks offline: compact JWTs signed with Ed25519 (`EdDSA`),
//! whose public keys are published as a JWKS at `GET /.well-known/jwks.json`. An app's back end
//! fetches the JWKS once (and again when it sees an unknown `kid`) and verifies proofs with any
//! JWT library; it never holds a simgate secret.
//!
//! Keys live in the `proofs.keys_file` (default: `proof_keys.pem` beside
//! `security.secret_file`), a file of PKCS#8 `PRIVATE KEY` PEM blocks, created 0600 with one key
//! when missing. Rotation: append a key (`openssl genpkey -algorithm ed25519 >> proof_keys.pem`)
//! and restart; the **last** block signs, every block is published. Remove an old block once
//! proofs it signed have expired (`proofs.lifetime_secs` after the rotation).
//!
//! The JOSE work (header, base64url, signature, checks) is `jsonwebtoken`'s, over `ring`, which
//! the TLS stack already brings.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// How a number was verified (the `method` claim).
pub const METHOD_SMS_OTP: &str = "sms_otp";
pub const METHOD_REVERSE_SMS: &str = "reverse_sms";

/// What a proof says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `proofs.issuer` (default `"simgate"`).
    pub iss: String,
    /// The verified number (E.164).
    pub sub: String,
    /// Who the proof is for: the verification's `service` when the request named one, else
    /// `proofs.audience`.
    pub aud: String,
    /// Verification time, Unix seconds.
    pub iat: i64,
    /// Unix seconds after which the proof is not to be accepted.
    pub exp: i64,
    /// The verification id (`otp_…` or `r_otp_…`).
    pub verification_id: String,
    /// [`METHOD_SMS_OTP`] or [`METHOD_REVERSE_SMS`].
    pub method: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// One Ed25519 key: its id, signer and public part.
struct ProofKey {
    kid: String,
    encoding: EncodingKey,
    /// The raw 32-byte public key.
    public: Vec<u8>,
}

/// The proof keys; the last signs, all are published.
pub struct ProofKeys {
    keys: Vec<ProofKey>,
}

impl std::fmt::Debug for ProofKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("ProofKeys").field("kids", &kids).finish()
    }
}

impl ProofKeys {
    /// Keys from PEM text: PKCS#8 `PRIVATE KEY` blocks holding Ed25519 keys, oldest first.
    pub fn from_pem(text: &[u8]) -> Result<ProofKeys, String> {
        let blocks = pem::parse_many(text).map_err(|e| format!("not PEM: {e}"))?;
        let mut keys = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            if block.tag() != "PRIVATE KEY" {
                return Err(format!(
                    "block {} is {:?}; expected \"PRIVATE KEY\" (PKCS#8 Ed25519, as `openssl genpkey -algorithm ed25519` writes)",
                    i + 1,
                    block.tag()
                ));
            }
            keys.push(
                ProofKey::from_pkcs8(block.contents()).ok_or_else(|| {
                    format!("block {} is not a PKCS#8 Ed25519 private key", i + 1)
                })?,
            );
        }
        if keys.is_empty() {
            return Err("no PRIVATE KEY block".into());
        }
        Ok(ProofKeys { keys })
    }

    /// One fresh key, in memory only (tests, benches).
    pub fn generate() -> ProofKeys {
        ProofKeys {
            keys: vec![ProofKey::from_pkcs8(&new_pkcs8()).expect("ring's own PKCS#8")],
        }
    }

    /// Loads the key file, creating it (0600, one new key) when missing.
    pub fn load_or_create(path: &Path) -> Result<ProofKeys, KeyError> {
        let shown = path.display().to_string();
        let io = |source| KeyError::Io {
            path: shown.clone(),
            source,
        };
        match std::fs::read(path) {
            Ok(text) => ProofKeys::from_pem(&text).map_err(|message| KeyError::Invalid {
                path: shown.clone(),
                message,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pkcs8 = new_pkcs8();
                let text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8));
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(path).map_err(io)?;
                file.write_all(text.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                ProofKeys::from_pem(text.as_bytes()).map_err(|message| KeyError::Invalid {
                    path: shown.clone(),
                    message,
                })
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The id of the key that signs.
    pub fn current_kid(&self) -> &str {
        &self.signer().kid
    }

    fn signer(&self) -> &ProofKey {
        self.keys.last().expect("at least one key")
    }

    /// Signs `claims` with the newest key (`alg: EdDSA`, `typ: JWT`, `kid`).
    pub fn sign(&self, claims: &Claims) -> String {
        let key = self.signer();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        // Ed25519 signing cannot fail for a key ring accepted; the claims always serialise.
        jsonwebtoken::encode(&header, claims, &key.encoding).unwrap_or_default()
    }

    /// The public keys as a JWK Set (RFC 7517), newest last.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(ProofKey::jwk).collect(),
        }
    }

    /// Checks a proof as an app would: signature by one of our keys (by `kid`), `EdDSA` only,
    /// `iss`, `aud`, and `exp` at `now_secs` (no leeway).
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now_secs: i64,
    ) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let key = self.keys.iter().find(|k| k.kid == kid)?;
        let decoding = DecodingKey::from_ed_der(&key.public);
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // jsonwebtoken checks `exp` against the wall clock; the explicit check keeps `now_secs`
        // authoritative (tests pass their own time).
        validation.validate_exp = false;
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &decoding, &validation)
            .ok()?
            .claims;
        (claims.exp > now_secs).then_some(claims)
    }
}

impl ProofKey {
    fn from_pkcs8(der: &[u8]) -> Option<ProofKey> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).ok()?;
        let public = pair.public_key().as_ref().to_vec();
        Some(ProofKey {
            kid: thumbprint(&public),
            encoding: EncodingKey::from_ed_der(der),
            public,
        })
    }

    fn jwk(&self) -> Jwk {
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(self.kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(&self.public),
            }),
        }
    }
}

/// The RFC 7638 JWK thumbprint of an Ed25519 public key (RFC 8037 §2: members `crv`, `kty`,
/// `x` in that order): a `kid` that names the key itself, so no id has to be stored with it.
fn thumbprint(public: &[u8]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn new_pkcs8() -> Vec<u8> {
    let rng = ring::rand::SystemRandom::new();
    Ed25519KeyPair::generate_pkcs8(&rng)
        .expect("the OS random source works")
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "simgate".into(),
            sub: "+14155550100".into(),
            aud: "shop".into(),
            iat: 1_700_000_000,
            exp: 1_700_003_600,
            verification_id: "r_otp_x".into(),
            method: METHOD_REVERSE_SMS.into(),
        }
    }

    #[test]
    fn round_trip_expiry_audience_issuer_and_tampering() {
        let keys = ProofKeys::generate();
        let token = keys.sign(&claims());
        assert_eq!(token.split('.').count(), 3);
        let ok = |t: &str, now| keys.verify(t, "simgate", "shop", now);
        assert_eq!(ok(&token, 1_700_000_001), Some(claims()));
        assert_eq!(ok(&token, 1_700_003_600), None, "expired");
        assert_eq!(keys.verify(&token, "simgate", "other", 1_700_000_001), None);
        assert_eq!(keys.verify(&token, "evil", "shop", 1_700_000_001), None);
        // Another key set does not know the kid.
        assert_eq!(
            ProofKeys::generate().verify(&token, "simgate", "shop", 1_700_000_001),
            None
        );
        // A changed payload.
        let mut forged = claims();
        forged.sub = "+19999999999".into();
        let parts: Vec<&str> = token.split('.').collect();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            ok(&format!("{}.{}.{}", parts[0], payload, parts[2]), 1),
            None
        );
        // alg=none, and an HS256 token "signed" with the public key (algorithm confusion).
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(ok(&none, 1), None);
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(keys.current_kid().to_string());
        let confused = jsonwebtoken::encode(
            &hs,
            &claims(),
            &EncodingKey::from_secret(&keys.keys[0].public),
        )
        .unwrap();
        assert_eq!(ok(&confused, 1), None);
        assert_eq!(ok("garbage", 0), None);
    }

    #[test]
    fn header_and_jwks_follow_the_rfcs() {
        let keys = ProofKeys::generate();
        let token = keys.sign(&claims());
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], keys.current_kid());
        let jwks = serde_json::to_value(keys.jwks()).unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], keys.current_kid());
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(key["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert!(key.get("d").is_none(), "no private part: {key}");
        // The JWK alone verifies (what a client library does).
        let jwk: Jwk = serde_json::from_value(key.clone()).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["shop"]);
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims, claims());
    }

    #[test]
    fn file_is_created_private_then_rotated_by_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("proof_keys.pem");
        let first = ProofKeys::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = ProofKeys::load_or_create(&path).unwrap();
        assert_eq!(first.current_kid(), again.current_kid());
        let old_token = first.sign(&claims());

        // Rotation: a new block appended signs; the old key is still published and verifies.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(pem::encode(&pem::Pem::new("PRIVATE KEY", new_pkcs8())).as_bytes())
            .unwrap();
        let rotated = ProofKeys::load_or_create(&path).unwrap();
        assert_ne!(rotated.current_kid(), first.current_kid());
        assert_eq!(rotated.jwks().keys.len(), 2);
        assert!(rotated.verify(&old_token, "simgate", "shop", 1).is_some());
        let new_token = rotated.sign(&claims());
        assert!(new_token.contains('.'));
        assert!(first.verify(&new_token, "simgate", "shop", 1).is_none());
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(ProofKeys::from_pem(b"")
            .unwrap_err()
            .contains("no PRIVATE KEY"));
        let wrong_tag = pem::encode(&pem::Pem::new("PUBLIC KEY", vec![1, 2, 3]));
        assert!(ProofKeys::from_pem(wrong_tag.as_bytes())
            .unwrap_err()
            .contains("PUBLIC KEY"));
        let junk = pem::encode(&pem::Pem::new("PRIVATE KEY", vec![1, 2, 3]));
        assert!(ProofKeys::from_pem(junk.as_bytes())
            .unwrap_err()
            .contains("not a PKCS#8 Ed25519"));
    }

    /// Keys written by OpenSSL (PKCS#8 v1, no public key inside) load too.
    #[test]
    fn openssl_style_v1_keys_load() {
        // RFC 8410 §10.3 example private key.
        let text = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let keys = ProofKeys::from_pem(text.as_bytes()).unwrap();
        let jwks = serde_json::to_value(keys.jwks()).unwrap();
        // RFC 8410's public key for it (19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1).
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwks["keys"][0]["x"].as_str().unwrap())
                .unwrap(),
            hex::decode("19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1")
                .unwrap()
        );
        let token = keys.sign(&claims());
        assert!(keys.verify(&token, "simgate", "shop", 1).is_some());
    }
}
