//! The preview page's access token: one per event, random (128 bits from the operating
//! system's generator through `rand`), made the first time someone asks for the event's links
//! and kept in the state (`preview.token.<event>`), so it survives restarts, is the same for
//! every daemon of a pair and for the CLI, and stays across new deployments of the event (a
//! link handed to a production crew keeps working for the next show). It is compared in
//! constant time, and a wrong one is answered like an unknown event.

use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::secret::Redacted;
use crate::store::{Store, StoreError};

/// Random bytes in a token (hex: twice as many characters).
pub const TOKEN_BYTES: usize = 16;

/// The state's key for `event`'s token.
pub fn key(event: &str) -> String {
    format!("preview.token.{event}")
}

/// A fresh token: [`TOKEN_BYTES`] random bytes as lowercase hex.
pub fn generate() -> Redacted {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    Redacted::new(hex::encode(bytes))
}

/// `event`'s token, made and stored now if it has none (of two processes making it at once,
/// both get the one written first).
pub async fn token_for(store: &Store, event: &str) -> Result<Redacted, StoreError> {
    if let Some(t) = store.meta(&key(event))? {
        return Ok(Redacted::new(t));
    }
    let made = generate();
    Ok(Redacted::new(store.meta_or_insert(&key(event), made.expose()).await?))
}

/// Whether `given` is `expected`, in time that does not depend on where they differ (only on
/// the length, which is no secret: every token has the same).
pub fn matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The preview page's address: `base` (the daemon's public URL, no trailing slash), the
/// event, the token.
pub fn page_url(base: &str, event: &str, token: &Redacted) -> String {
    format!("{base}/preview/{}?t={}", crate::engine::report::encode_query_value(event), token.expose())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_128_bit_hex_and_differ() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.expose().len(), 2 * TOKEN_BYTES);
        assert!(a.expose().chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert!(!format!("{a:?} {a}").contains(a.expose()), "never printed");
    }

    #[test]
    fn only_the_same_token_matches() {
        let t = "0123456789abcdef0123456789abcdef";
        assert!(matches(t, t));
        assert!(!matches(t, "0123456789abcdef0123456789abcdee"), "one character off");
        assert!(!matches(t, "0123456789abcdef"), "a prefix");
        assert!(!matches(t, ""), "none");
        assert!(!matches(t, &format!("{t}0")), "longer");
        assert!(!matches("", ""), "an empty stored token never opens anything");
    }

    #[test]
    fn the_page_url_joins_base_event_and_token() {
        let t = Redacted::new("ab12".into());
        assert_eq!(page_url("https://ottd.example.net", "final", &t), "https://ottd.example.net/preview/final?t=ab12");
        assert_eq!(
            page_url("http://127.0.0.1:9180/ops", "semi-1", &t),
            "http://127.0.0.1:9180/ops/preview/semi-1?t=ab12"
        );
    }

    #[tokio::test]
    async fn a_token_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("s.db")).expect("store");
        let first = token_for(&store, "final").await.expect("made");
        assert_eq!(token_for(&store, "final").await.expect("kept"), first);
        assert_eq!(store.meta("preview.token.final").expect("read").as_deref(), Some(first.expose()));
        assert_ne!(token_for(&store, "semi").await.expect("made"), first, "one per event");
    }
}
