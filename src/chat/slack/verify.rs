//! Slack request signatures: `X-Slack-Signature: v0=hex(HMAC-SHA256(signing secret,
//! "v0:" + X-Slack-Request-Timestamp + ":" + raw body))`, over the body bytes exactly as
//! received, compared in constant time (`hmac`'s `verify_slice`), and refused when the
//! timestamp is more than 5 minutes from now (replays).

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far the request's timestamp may be from now, either way.
pub const WINDOW_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("X-Slack-Request-Timestamp is not a number")]
    BadTimestamp,
    #[error("the request is {0} s from now (more than 5 minutes): a replay or a wrong clock")]
    Stale(i64),
    #[error("X-Slack-Signature is not v0=<hex>")]
    BadFormat,
    #[error("the signature does not match the body")]
    Mismatch,
}

fn header<'h>(h: &'h HeaderMap, name: &'static str) -> Result<&'h str, SignatureError> {
    h.get(name).and_then(|v| v.to_str().ok()).ok_or(SignatureError::Missing(name))
}

/// Check a request's signature; `now`: unix seconds.
pub fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let ts = header(headers, "x-slack-request-timestamp")?;
    let sig = header(headers, "x-slack-signature")?;
    let t: i64 = ts.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
    let skew = now.saturating_sub(t);
    if skew.abs() > WINDOW_SECS {
        return Err(SignatureError::Stale(skew));
    }
    let given = sig.strip_prefix("v0=").and_then(|h| hex::decode(h).ok()).ok_or(SignatureError::BadFormat)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(ts.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// The signature Slack would send (tests and the benchmark's load generator sign with it).
pub fn sign(secret: &[u8], ts: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const BODY: &[u8] = b"token=x&team_id=T1&user_id=U1&command=%2Fott&text=status+final";

    fn headers(ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-slack-request-timestamp", HeaderValue::from_str(ts).expect("ts"));
        h.insert("x-slack-signature", HeaderValue::from_str(sig).expect("sig"));
        h
    }

    #[test]
    fn slacks_own_documented_example_verifies() {
        // The example from Slack's "Verifying requests from Slack" page.
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let h = headers("1531420618", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
        assert_eq!(verify(b"8f742231b10e8888abcd99yyyzzz85a5", &h, body, 1531420618 + 10), Ok(()));
    }

    #[test]
    fn good_bad_stale_tampered_and_missing() {
        let now = 1_800_000_000;
        let good = sign(SECRET, now, BODY);
        assert_eq!(verify(SECRET, &headers(&now.to_string(), &good), BODY, now), Ok(()));
        assert_eq!(verify(SECRET, &headers(&now.to_string(), &good), BODY, now + 300), Ok(()), "within 5 min");
        assert_eq!(verify(b"other", &headers(&now.to_string(), &good), BODY, now), Err(SignatureError::Mismatch));
        let tampered = b"token=x&team_id=T1&user_id=U1&command=%2Fott&text=teardown+final";
        assert_eq!(verify(SECRET, &headers(&now.to_string(), &good), tampered, now), Err(SignatureError::Mismatch));
        assert_eq!(verify(SECRET, &headers(&now.to_string(), &good), BODY, now + 301), Err(SignatureError::Stale(301)));
        assert_eq!(
            verify(SECRET, &headers(&now.to_string(), &good), BODY, now - 400),
            Err(SignatureError::Stale(-400))
        );
        let old = sign(SECRET, now - 600, BODY);
        assert_eq!(
            verify(SECRET, &headers(&(now - 600).to_string(), &old), BODY, now),
            Err(SignatureError::Stale(600))
        );
        assert_eq!(verify(SECRET, &headers("soon", &good), BODY, now), Err(SignatureError::BadTimestamp));
        assert_eq!(verify(SECRET, &headers(&now.to_string(), "v1=00"), BODY, now), Err(SignatureError::BadFormat));
        assert_eq!(
            verify(SECRET, &HeaderMap::new(), BODY, now),
            Err(SignatureError::Missing("x-slack-request-timestamp"))
        );
        let mut h = headers(&now.to_string(), &good);
        h.remove("x-slack-signature");
        assert_eq!(verify(SECRET, &h, BODY, now), Err(SignatureError::Missing("x-slack-signature")));
    }
}
