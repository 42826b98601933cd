//! Signed proof of a reverse verification: a compact JWT (HS256) an app's front end can hand
//! to its back end, which checks it with [`verify`] (or any JWT library, given the key from
//! [`proof_key`]) instead of asking simgate again.
//!
//! Written by hand: HS256 is a base64url header, a base64url JSON payload and an HMAC, and the
//! crate already has all three; a JWT library would bring a second crypto stack.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a proof says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Always `"simgate"`.
    pub iss: String,
    /// The verified number (E.164).
    pub sub: String,
    /// The reverse verification id.
    pub otp_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service: Option<String>,
    /// Verification time, Unix seconds.
    pub iat: i64,
    /// Unix seconds after which the proof is not to be accepted.
    pub exp: i64,
}

/// How long a proof is good for after the verification.
pub const PROOF_LIFETIME_SECS: i64 = 3600;

/// The HS256 key for proofs, derived from the server pepper.
pub fn proof_key(pepper: &[u8]) -> [u8; 32] {
    super::code::derive_key(pepper, "reverse-otp-proof-jwt")
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs `claims`.
pub fn sign(key: &[u8], claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(mac(key, &signing_input));
    format!("{signing_input}.{signature}")
}

/// Checks a proof's signature, algorithm and expiry at `now_secs`; returns its claims.
pub fn verify(key: &[u8], token: &str, now_secs: i64) -> Option<Claims> {
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let mut check = HmacSha256::new_from_slice(key).ok()?;
    check.update(format!("{header}.{payload}").as_bytes());
    check.verify_slice(&signature).ok()?;
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "HS256" {
        return None;
    }
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (claims.exp > now_secs).then_some(claims)
}

fn mac(key: &[u8], input: &str) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    m.update(input.as_bytes());
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "simgate".into(),
            sub: "+14155550100".into(),
            otp_id: "r_otp_x".into(),
            service: Some("shop".into()),
            iat: 1_700_000_000,
            exp: 1_700_003_600,
        }
    }

    #[test]
    fn round_trip_and_tampering() {
        let key = proof_key(b"pepper pepper pepper");
        let token = sign(&key, &claims());
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(verify(&key, &token, 1_700_000_001), Some(claims()));
        // Expired.
        assert_eq!(verify(&key, &token, 1_700_003_600), None);
        // Another key.
        assert_eq!(verify(&proof_key(b"other"), &token, 1_700_000_001), None);
        // A changed payload.
        let mut forged = claims();
        forged.sub = "+19999999999".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(verify(&key, &tampered, 1_700_000_001), None);
        // alg=none.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(verify(&key, &none, 1_700_000_001), None);
        assert_eq!(verify(&key, "garbage", 0), None);
        assert_eq!(verify(&key, "a.b.c.d", 0), None);
    }

    /// The header and signature follow RFC 7515 so that other JWT libraries accept them: the
    /// signature over "header.payload" recomputed independently with the same key matches.
    #[test]
    fn standard_shape() {
        let key = [7u8; 32];
        let token = sign(&key, &claims());
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[0]).unwrap(),
            br#"{"alg":"HS256","typ":"JWT"}"#
        );
        let mut m = HmacSha256::new_from_slice(&key).unwrap();
        m.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            m.finalize().into_bytes().to_vec()
        );
    }
}
