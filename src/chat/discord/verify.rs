//! Discord interaction signatures: Ed25519 over `X-Signature-Timestamp + raw body` against the
//! application's public key, signature in `X-Signature-Ed25519` (hex). Discord probes the
//! endpoint with bad signatures and drops it if they are accepted: any doubt is a refusal.
//! Checked with `verify_strict` (no weak keys, no malleable signatures), and refused when the
//! timestamp is more than 5 minutes from now, as Slack's are (a replay of an old request;
//! copies within the window are caught by the interaction id, see [`super::http`]).

use axum::http::HeaderMap;
use ed25519_dalek::{Signature, VerifyingKey};

// The same window as Slack's.
use crate::chat::slack::verify::WINDOW_SECS;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("X-Signature-Timestamp is not a number")]
    BadTimestamp,
    #[error("the request is {0} s from now (more than 5 minutes): a replay or a wrong clock")]
    Stale(i64),
    #[error("X-Signature-Ed25519 is not a hex Ed25519 signature")]
    BadFormat,
    #[error("the signature does not match")]
    Mismatch,
}

/// The application's public key, checked once at start.
#[derive(Clone)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_hex(hex_key: &str) -> Result<PublicKey, String> {
        let bytes: [u8; 32] = hex::decode(hex_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("DISCORD_PUBLIC_KEY is not 64 hex digits")?;
        VerifyingKey::from_bytes(&bytes).map(PublicKey).map_err(|_| "DISCORD_PUBLIC_KEY is not an Ed25519 key".into())
    }

    /// Check a request's signature; `now`: unix seconds.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), SignatureError> {
        let get = |n: &'static str| headers.get(n).and_then(|v| v.to_str().ok()).ok_or(SignatureError::Missing(n));
        let sig = get("x-signature-ed25519")?;
        let ts = get("x-signature-timestamp")?;
        let t: i64 = ts.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
        let skew = now.saturating_sub(t);
        if skew.abs() > WINDOW_SECS {
            return Err(SignatureError::Stale(skew));
        }
        let sig: [u8; 64] = hex::decode(sig).ok().and_then(|b| b.try_into().ok()).ok_or(SignatureError::BadFormat)?;
        let mut msg = Vec::with_capacity(ts.len() + body.len());
        msg.extend_from_slice(ts.as_bytes());
        msg.extend_from_slice(body);
        self.0.verify_strict(&msg, &Signature::from_bytes(&sig)).map_err(|_| SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(key: &SigningKey, ts: &str, body: &[u8]) -> HeaderMap {
        let mut msg = ts.as_bytes().to_vec();
        msg.extend_from_slice(body);
        let mut h = HeaderMap::new();
        h.insert("x-signature-ed25519", HeaderValue::from_str(&hex::encode(key.sign(&msg).to_bytes())).expect("sig"));
        h.insert("x-signature-timestamp", HeaderValue::from_str(ts).expect("ts"));
        h
    }

    #[test]
    fn valid_invalid_and_missing() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = PublicKey::from_hex(&hex::encode(key.verifying_key().to_bytes())).expect("key");
        let body = br#"{"type":1}"#;
        let now = 1_800_000_000;
        assert_eq!(public.verify(&signed(&key, "1800000000", body), body, now), Ok(()));
        assert_eq!(
            public.verify(&signed(&key, "1800000000", body), br#"{"type":2}"#, now),
            Err(SignatureError::Mismatch)
        );
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert_eq!(public.verify(&signed(&other, "1800000000", body), body, now), Err(SignatureError::Mismatch));
        let mut h = signed(&key, "1800000000", body);
        h.insert("x-signature-timestamp", HeaderValue::from_static("1800000001"));
        assert_eq!(public.verify(&h, body, now), Err(SignatureError::Mismatch), "the timestamp is signed too");
        h.insert("x-signature-ed25519", HeaderValue::from_static("zz"));
        assert_eq!(public.verify(&h, body, now), Err(SignatureError::BadFormat));
        assert_eq!(public.verify(&HeaderMap::new(), body, now), Err(SignatureError::Missing("x-signature-ed25519")));
        assert!(PublicKey::from_hex("abc").is_err());
    }

    #[test]
    fn a_weak_public_key_verifies_nothing() {
        // The identity point is a valid encoding of a small-order key: with R = identity and
        // s = 0, plain `verify` accepts this "signature" over any message; `verify_strict`
        // refuses weak keys.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let public = PublicKey::from_hex(&hex::encode(identity)).expect("a point");
        let mut sig = [0u8; 64];
        sig[0] = 1;
        let mut h = HeaderMap::new();
        h.insert("x-signature-ed25519", HeaderValue::from_str(&hex::encode(sig)).expect("sig"));
        h.insert("x-signature-timestamp", HeaderValue::from_static("1800000000"));
        assert_eq!(public.verify(&h, br#"{"type":2}"#, 1_800_000_000), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_timestamp_more_than_five_minutes_away_is_refused() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = PublicKey::from_hex(&hex::encode(key.verifying_key().to_bytes())).expect("key");
        let body = br#"{"type":2}"#;
        let h = signed(&key, "1800000000", body);
        assert_eq!(public.verify(&h, body, 1_800_000_300), Ok(()), "within 5 minutes");
        assert_eq!(public.verify(&h, body, 1_800_000_301), Err(SignatureError::Stale(301)));
        assert_eq!(public.verify(&h, body, 1_799_999_600), Err(SignatureError::Stale(-400)));
        assert_eq!(public.verify(&signed(&key, "soon", body), body, 1_800_000_000), Err(SignatureError::BadTimestamp));
    }
}
