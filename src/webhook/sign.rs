//! Webhook signing (Standard Webhooks and Contiguity's scheme).
//!
//! Pure functions over bytes: the dispatcher signs each attempt with them.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Decodes a Standard Webhooks secret: the base64 part after `whsec_` is the HMAC key.
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix("whsec_")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    (!key.is_empty()).then_some(key)
}

/// HMAC-SHA256 keyed with `key` over `parts` joined by `.`: the content both signature schemes
/// sign (`id.timestamp.body`, `timestamp.body`), and the Zitadel and GoTrue hooks check.
fn dotted_mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(b".");
        }
        mac.update(part);
    }
    mac
}

/// Whether `tag` is the HMAC-SHA256 of `parts` joined by `.` (constant-time comparison).
pub fn verify_dotted(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    dotted_mac(key, parts).verify_slice(tag).is_ok()
}

/// `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
pub fn standard_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let tag = dotted_mac(key, &[id.as_bytes(), timestamp.as_bytes(), body])
        .finalize()
        .into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

/// `Contiguity-Signature` value: `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, keyed with the
/// secret *string* (`whsec_…`, prefix included, as UTF-8 bytes): that is how Contiguity's own
/// SDKs verify it (`webhook.verify(rawBody, header, secret)` hands the secret straight to
/// `createHmac`). Only the Standard Webhooks signature uses the base64-decoded key.
///
/// The dispatcher holds decoded keys, so the string is rebuilt here as `whsec_` + base64(key).
/// That is exactly the configured text: [`decode_secret`] accepts only canonical base64
/// (padding required, no stray trailing bits), so decoding and encoding again is the identity.
pub fn contiguity_signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    contiguity_signature_with_secret(&encode_secret(key), timestamp, body)
}

/// [`contiguity_signature`] from the secret string as configured.
pub fn contiguity_signature_with_secret(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let tag = dotted_mac(secret.as_bytes(), &[t.as_bytes(), body]).finalize();
    format!("t={timestamp},v1={}", hex::encode(tag.into_bytes()))
}

/// The `whsec_` string of a key (the inverse of [`decode_secret`]).
pub fn encode_secret(key: &[u8]) -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// The secret that signs `success_url` deliveries (a reverse verification's own target):
/// `whsec_` + base64(HMAC-SHA256(server pepper, "simgate webhook signing secret v1")). It is
/// stable as long as the secret file is, never stored or logged, never the secret of any
/// endpoint, and printed by `simgate webhook-secret` for the apps that receive them.
pub fn derived_secret(pepper: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(pepper).expect("HMAC accepts any key length");
    mac.update(b"simgate webhook signing secret v1");
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// The secret of a `[[webhook]]` configured without one: derived from the server pepper and
/// the endpoint's URL, so that no two endpoints (and no `success_url`) share a key. Printed by
/// `simgate webhook-secret --url URL`.
pub fn endpoint_secret(pepper: &[u8], url: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(pepper).expect("HMAC accepts any key length");
    mac.update(b"simgate webhook endpoint secret v1\0");
    mac.update(url.as_bytes());
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// A fresh random secret for an endpoint created through the API (24 bytes, like Svix's).
pub fn generate_secret() -> String {
    use rand::RngCore;
    let mut key = [0u8; 24];
    rand::rng().fill_bytes(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_decoding() {
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(key.len(), 24);
        assert!(decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(decode_secret("whsec_!!!").is_none());
        assert!(decode_secret("whsec_").is_none());
    }

    /// The example from the Standard Webhooks specification's reference libraries.
    #[test]
    fn standard_webhooks_reference_signature() {
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = standard_signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn derived_and_generated_secrets_decode() {
        let a = derived_secret(b"pepper-one-0123456789");
        assert_eq!(a, derived_secret(b"pepper-one-0123456789"));
        assert_ne!(a, derived_secret(b"pepper-two-0123456789"));
        assert_eq!(decode_secret(&a).map(|k| k.len()), Some(32));
        let e = endpoint_secret(b"pepper-one-0123456789", "http://127.0.0.1:9000/hooks");
        assert_ne!(e, a, "an endpoint never shares the success_url key");
        assert_ne!(
            e,
            endpoint_secret(b"pepper-one-0123456789", "http://127.0.0.1:9001/hooks")
        );
        assert_eq!(decode_secret(&e).map(|k| k.len()), Some(32));
        let g = generate_secret();
        assert_eq!(decode_secret(&g).map(|k| k.len()), Some(24));
        assert_ne!(g, generate_secret());
    }

    #[test]
    fn contiguity_signature_shape() {
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = contiguity_signature(&key, 1700000000, b"{}");
        let (t, v1) = sig.split_once(",v1=").unwrap();
        assert_eq!(t, "t=1700000000");
        assert_eq!(v1.len(), 64);
        assert!(v1
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(sig, contiguity_signature(&key, 1700000000, b"{ }"));
        assert_ne!(sig, contiguity_signature(&key, 1700000001, b"{}"));
    }

    /// Keyed with the secret string as configured, `whsec_` included, the way the Contiguity
    /// JS SDK computes it: `createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")`.
    /// The expected value was computed independently with Node's `crypto` and Python's `hmac`.
    #[test]
    fn contiguity_signature_is_keyed_with_the_secret_string() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let key = decode_secret(secret).unwrap();
        let sig = contiguity_signature(&key, 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(
            sig,
            "t=1614265330,v1=2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964"
        );
        assert_eq!(
            sig,
            contiguity_signature_with_secret(secret, 1614265330, br#"{"test": 2432232314}"#)
        );
        // Not the decoded key any more (what simgate did before, which the SDK refused).
        let mut mac = HmacSha256::new_from_slice(&key).unwrap();
        mac.update(br#"1614265330.{"test": 2432232314}"#);
        assert!(!sig.ends_with(&hex::encode(mac.finalize().into_bytes())));
    }

    /// Decoding then encoding gives back the configured string, for every secret that decodes.
    #[test]
    fn secret_strings_round_trip() {
        for secret in [
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            &generate_secret(),
            &derived_secret(b"some pepper bytes"),
            "whsec_AAAA",
            "whsec_AA==",
        ] {
            assert_eq!(encode_secret(&decode_secret(secret).unwrap()), secret);
        }
        // Non-canonical base64 (stray trailing bits) is refused, so it never needs re-encoding.
        assert!(decode_secret("whsec_AB==").is_none());
        assert!(decode_secret("whsec_AA").is_none());
    }
}
