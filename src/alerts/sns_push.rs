//! SNS HTTPS push intake: MediaLive's events delivered to `POST /sns` by an HTTPS subscription
//! to an SNS topic, for teams that fan one topic out to several consumers (the SQS queue of
//! [`super::intake`] stays the default path). It owns what SNS asks of a subscriber and
//! nothing past it: the topic is one configured, the signature verifies over the fields SNS
//! signs, the certificate comes over HTTPS from an SNS host only, a subscription is confirmed,
//! a notification signed more than [`TIMESTAMP_WINDOW`] ago (or ahead) is refused, and a
//! redelivery (same `MessageId`, remembered in the state file, so across restarts too) is
//! dropped. A verified notification's `Message` then goes
//! to [`intake::record_message`], exactly as an SQS message would.
//!
//! The pure parts ([`parse`], [`string_to_sign`], [`check_url`], [`public_key`], [`verify`])
//! are tested beside the code; [`SnsPush`] adds the outside effects: fetching certificates
//! (cached by URL) and confirming subscriptions.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use lru::LruCache;
use regex_lite::Regex;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use serde::Deserialize;
use tokio::sync::{mpsc, Semaphore};
use url::Url;
use x509_cert::der::{DecodePem, Encode};

use super::intake::{self, Changed};
use crate::config::alerts::SnsHttps;
use crate::store::{Store, StoreError};

/// Bodies of this size or more are refused (SNS's own message limit).
pub const MAX_BODY: usize = 256 * 1024;
/// Certificates kept, by URL: SNS signs with one per region and rotates it rarely.
const CERTS: usize = 32;
/// Message ids being taken, so two copies arriving at once are not both recorded (the state
/// file remembers those taken).
const SEEN: usize = 8192;
/// How old (or how far ahead) a notification's `Timestamp` may be. SNS retries an HTTPS
/// delivery for up to an hour with its longest delivery policy, and keeps the first
/// attempt's timestamp; anything older is a replay. The state file remembers message ids for
/// a day ([`crate::store::seen::SEEN_TTL`]), longer than this, so no replay slips between.
pub const TIMESTAMP_WINDOW: chrono::Duration = chrono::Duration::hours(1);
/// Clocks differ: a timestamp this far ahead is still taken.
const AHEAD: chrono::Duration = chrono::Duration::minutes(5);
/// Certificate fetches at once: what unverified requests can make the daemon fetch is bounded.
const FETCHES: usize = 4;
/// The largest certificate or confirmation answer read.
const MAX_FETCHED: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// `Type` of an SNS message (also in the `x-amz-sns-message-type` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MessageType {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Notification => "Notification",
            MessageType::SubscriptionConfirmation => "SubscriptionConfirmation",
            MessageType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

/// The JSON body SNS posts. Fields it may add later are ignored; a field given twice is an error.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    #[serde(rename = "Type")]
    pub kind: MessageType,
    pub message_id: String,
    pub topic_arn: String,
    /// Signed only when present (a `null` counts as absent).
    #[serde(default)]
    pub subject: Option<String>,
    /// For a notification: the EventBridge event, as JSON text.
    pub message: String,
    pub timestamp: String,
    pub signature_version: String,
    /// Base64.
    pub signature: String,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
    /// Confirmations only.
    #[serde(rename = "SubscribeURL", default)]
    pub subscribe_url: Option<String>,
    /// Confirmations only.
    #[serde(default)]
    pub token: Option<String>,
}

/// The digest of an SNS signature (RSA PKCS #1 v1.5 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// `1`: SHA1withRSA, a topic's default.
    Sha1,
    /// `2`: SHA256withRSA.
    Sha256,
}

impl SignatureVersion {
    pub fn parse(v: &str) -> Result<SignatureVersion, Rejected> {
        match v {
            "1" => Ok(SignatureVersion::Sha1),
            "2" => Ok(SignatureVersion::Sha256),
            other => Err(Rejected::SignatureVersion(other.to_string())),
        }
    }
}

/// Why a delivery was not taken. Each maps to the status SNS gets ([`Rejected::status`]).
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    #[error("not an SNS message: {0}")]
    Malformed(String),
    #[error("header x-amz-sns-message-type says {header:?}, the body {body}")]
    TypeMismatch { header: String, body: &'static str },
    #[error("topic {0} is not in alerts.sns_https.topics")]
    Topic(String),
    #[error("SignatureVersion {0:?} is not 1 or 2")]
    SignatureVersion(String),
    #[error("{field} {url:?} refused: {why}")]
    Url { field: &'static str, url: String, why: &'static str },
    #[error("signing certificate: {0}")]
    Certificate(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("Timestamp {0:?} is more than an hour old, ahead, or unreadable: a replay or a wrong clock")]
    Stale(String),
    #[error("cannot fetch the signing certificate {url}: {why}")]
    Fetch { url: String, why: String },
    #[error("cannot confirm the subscription: {0}")]
    Confirm(String),
    #[error("cannot record the message (SNS will retry): {0}")]
    Record(#[source] StoreError),
}

impl Rejected {
    /// 4xx for what SNS must not send again; 5xx for what may work on its retry.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            Rejected::Malformed(_) | Rejected::TypeMismatch { .. } => (StatusCode::BAD_REQUEST, "not an SNS message\n"),
            Rejected::Topic(_) => (StatusCode::FORBIDDEN, "unexpected topic\n"),
            Rejected::SignatureVersion(_)
            | Rejected::Url { .. }
            | Rejected::Certificate(_)
            | Rejected::Signature
            | Rejected::Stale(_) => (StatusCode::FORBIDDEN, "signature refused\n"),
            Rejected::Fetch { .. } | Rejected::Confirm(_) => (StatusCode::BAD_GATEWAY, "SNS unreachable\n"),
            Rejected::Record(_) => (StatusCode::INTERNAL_SERVER_ERROR, "not recorded\n"),
        }
    }
}

pub fn parse(body: &[u8]) -> Result<Envelope, Rejected> {
    if body.len() >= MAX_BODY {
        return Err(Rejected::Malformed(format!("{} bytes, over the limit", body.len())));
    }
    serde_json::from_slice(body).map_err(|e| Rejected::Malformed(e.to_string()))
}

fn push(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push('\n');
    out.push_str(value);
    out.push('\n');
}

/// The text SNS signs: `Name\nValue\n` for each signed field, in SNS's order.
pub fn string_to_sign(e: &Envelope) -> Result<String, Rejected> {
    let mut out = String::with_capacity(e.message.len() + 512);
    push(&mut out, "Message", &e.message);
    push(&mut out, "MessageId", &e.message_id);
    if e.kind == MessageType::Notification {
        if let Some(subject) = &e.subject {
            push(&mut out, "Subject", subject);
        }
        push(&mut out, "Timestamp", &e.timestamp);
    } else {
        let missing = |f: &str| Rejected::Malformed(format!("{} without {f}", e.kind.as_str()));
        push(&mut out, "SubscribeURL", e.subscribe_url.as_deref().ok_or_else(|| missing("SubscribeURL"))?);
        push(&mut out, "Timestamp", &e.timestamp);
        push(&mut out, "Token", e.token.as_deref().ok_or_else(|| missing("Token"))?);
    }
    push(&mut out, "TopicArn", &e.topic_arn);
    push(&mut out, "Type", e.kind.as_str());
    Ok(out)
}

/// A URL SNS gave (`field`): https, on a host `hosts` matches, a `.pem` file when `pem`.
pub fn check_url(field: &'static str, raw: &str, hosts: &Regex, pem: bool) -> Result<Url, Rejected> {
    let refuse = |why| Rejected::Url { field, url: raw.to_string(), why };
    let url = Url::parse(raw).map_err(|_| refuse("not a URL"))?;
    if url.scheme() != "https" {
        return Err(refuse("not https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("has credentials"));
    }
    if !url.host_str().is_some_and(|h| hosts.is_match(h)) {
        return Err(refuse("not an SNS host"));
    }
    if pem && (!url.path().ends_with(".pem") || url.query().is_some() || url.fragment().is_some()) {
        return Err(refuse("not a .pem file"));
    }
    Ok(url)
}

/// A certificate's RSA public key, and until when the certificate is valid.
pub fn public_key(pem: &[u8], now: SystemTime) -> Result<(rsa::PublicKey, SystemTime), Rejected> {
    let bad = |e: &dyn std::fmt::Display| Rejected::Certificate(e.to_string());
    let cert = x509_cert::Certificate::from_pem(pem).map_err(|e| bad(&e))?;
    let tbs = cert.tbs_certificate();
    let (from, until) = (tbs.validity().not_before.to_system_time(), tbs.validity().not_after.to_system_time());
    if now < from || now > until {
        return Err(Rejected::Certificate("expired or not yet valid".into()));
    }
    let spki = tbs.subject_public_key_info().to_der().map_err(|e| bad(&e))?;
    let key = rsa::PublicKey::from_public_key_der(&spki).map_err(|e| bad(&format!("not an RSA key: {e}")))?;
    Ok((key, until))
}

/// Check `signature` (base64) over `signed` with `key`.
pub fn verify(key: &rsa::PublicKey, version: SignatureVersion, signed: &str, signature: &str) -> Result<(), Rejected> {
    let raw = base64::engine::general_purpose::STANDARD.decode(signature.trim()).map_err(|_| Rejected::Signature)?;
    let sig = Signature::try_from(raw.as_slice()).map_err(|_| Rejected::Signature)?;
    let ok = match version {
        SignatureVersion::Sha1 => VerifyingKey::<sha1::Sha1>::new(key.clone()).verify(signed.as_bytes(), &sig),
        SignatureVersion::Sha256 => VerifyingKey::<sha2::Sha256>::new(key.clone()).verify(signed.as_bytes(), &sig),
    };
    ok.map_err(|_| Rejected::Signature)
}

/// Whether a notification's `Timestamp` is within [`TIMESTAMP_WINDOW`] of `now`.
pub fn check_timestamp(timestamp: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(), Rejected> {
    let stale = || Rejected::Stale(timestamp.to_string());
    let at = chrono::DateTime::parse_from_rfc3339(timestamp).map_err(|_| stale())?;
    let age = now.signed_duration_since(at);
    if age > TIMESTAMP_WINDOW || age < -AHEAD {
        return Err(stale());
    }
    Ok(())
}

/// What a delivery taken did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Recorded,
    /// A redelivery of a message already taken.
    Duplicate,
    Confirmed,
    Unsubscribed,
}

impl Taken {
    fn reply(self) -> &'static str {
        match self {
            Taken::Recorded => "recorded\n",
            Taken::Duplicate => "duplicate\n",
            Taken::Confirmed => "confirmed\n",
            Taken::Unsubscribed => "unsubscribed\n",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("alerts.sns_https.cert_host_pattern: {0}")]
    Pattern(#[source] regex_lite::Error),
    #[error(transparent)]
    CaBundle(#[from] crate::outbound::CaBundleError),
    #[error("cannot build the HTTPS client: {0}")]
    Client(#[source] reqwest::Error),
}

/// The `POST /sns` handler's state: one per daemon.
pub struct SnsPush {
    /// Deliveries for other topics are refused before anything is fetched.
    topics: Vec<String>,
    /// The hosts certificates and confirmations may come from.
    hosts: Regex,
    /// https only, no redirects (a redirect could leave the SNS host), timeouts.
    http: reqwest::Client,
    /// Public keys of fetched certificates and their end of validity, by URL.
    certs: Mutex<LruCache<String, (Arc<rsa::PublicKey>, SystemTime)>>,
    fetches: Semaphore,
    /// Message ids being taken: SNS redelivers with the same id (those taken are in the
    /// state file).
    seen: Mutex<LruCache<String, ()>>,
    store: Arc<Store>,
    /// Tells recovery what changed, as the SQS intake does.
    changed: mpsc::Sender<Changed>,
}

impl SnsPush {
    pub fn new(config: &SnsHttps, store: Arc<Store>, changed: mpsc::Sender<Changed>) -> Result<SnsPush, SetupError> {
        let hosts = Regex::new(&config.cert_host_pattern).map_err(SetupError::Pattern)?;
        let mut http = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(FETCH_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("ottd/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_bundle {
            http = crate::outbound::with_ca_bundle(http, path)?;
        }
        let http = http.build().map_err(SetupError::Client)?;
        let cap = |n| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        Ok(SnsPush {
            topics: config.topics.clone(),
            hosts,
            http,
            certs: Mutex::new(LruCache::new(cap(CERTS))),
            fetches: Semaphore::new(FETCHES),
            seen: Mutex::new(LruCache::new(cap(SEEN))),
            store,
            changed,
        })
    }

    /// Take one delivery; the status tells SNS whether to retry (only on 5xx).
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, &'static str) {
        let e = match parse(body) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("SNS delivery refused: {e}");
                return e.status();
            }
        };
        match self.take(headers, &e).await {
            Ok(taken) => (StatusCode::OK, taken.reply()),
            Err(err) => {
                tracing::warn!(message = %e.message_id, topic = %e.topic_arn, "SNS delivery not taken: {err}");
                err.status()
            }
        }
    }

    async fn take(&self, headers: &HeaderMap, e: &Envelope) -> Result<Taken, Rejected> {
        if let Some(h) = headers.get("x-amz-sns-message-type") {
            if h.as_bytes() != e.kind.as_str().as_bytes() {
                let header = String::from_utf8_lossy(h.as_bytes()).into_owned();
                return Err(Rejected::TypeMismatch { header, body: e.kind.as_str() });
            }
        }
        if !self.topics.contains(&e.topic_arn) {
            return Err(Rejected::Topic(e.topic_arn.clone()));
        }
        let version = SignatureVersion::parse(&e.signature_version)?;
        // Only notifications: a replayed confirmation only confirms the subscription again.
        if e.kind == MessageType::Notification {
            check_timestamp(&e.timestamp, chrono::Utc::now())?;
        }
        let signed = string_to_sign(e)?;
        let cert_url = check_url("SigningCertURL", &e.signing_cert_url, &self.hosts, true)?;
        let key = self.key(cert_url).await?;
        verify(&key, version, &signed, &e.signature)?;
        match e.kind {
            MessageType::Notification => self.record(e).await,
            MessageType::SubscriptionConfirmation => {
                let url = e.subscribe_url.as_deref().unwrap_or_default();
                let url = check_url("SubscribeURL", url, &self.hosts, false)?;
                self.get(url).await.map_err(Rejected::Confirm)?;
                tracing::info!(topic = %e.topic_arn, "SNS subscription confirmed: MediaLive events arrive on POST /sns");
                Ok(Taken::Confirmed)
            }
            MessageType::UnsubscribeConfirmation => {
                tracing::warn!(topic = %e.topic_arn, "SNS unsubscribed this endpoint: no more events from that topic");
                Ok(Taken::Unsubscribed)
            }
        }
    }

    async fn record(&self, e: &Envelope) -> Result<Taken, Rejected> {
        let source = format!("sns:{}", e.message_id);
        // Taken before (the state file, across restarts), or being taken now (in memory, so a
        // concurrent redelivery is dropped; given back if the recording fails, so SNS's retry
        // is taken). Noted in the state file only once recorded: a crash in between loses
        // nothing, and a copy recorded twice is caught by the event's own id.
        let taken = self.store.sighted(&source).map_err(Rejected::Record)?;
        if taken || self.seen.lock().unwrap_or_else(PoisonError::into_inner).put(e.message_id.clone(), ()).is_some() {
            tracing::info!(message = %e.message_id, "SNS redelivered a message already taken: dropped");
            return Ok(Taken::Duplicate);
        }
        let recorded = match intake::record_message(&self.store, &self.changed, &source, &e.message).await {
            Ok(_) => self.store.first_sighting(&source, chrono::Utc::now()).await.map(|_| ()),
            Err(err) => Err(err),
        };
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).pop(&e.message_id);
        recorded.map(|()| Taken::Recorded).map_err(Rejected::Record)
    }

    /// The public key of the certificate at `url`, cached until the certificate expires.
    async fn key(&self, url: Url) -> Result<Arc<rsa::PublicKey>, Rejected> {
        let cached = || {
            let mut certs = self.certs.lock().unwrap_or_else(PoisonError::into_inner);
            certs.get(url.as_str()).filter(|(_, until)| SystemTime::now() <= *until).map(|(k, _)| k.clone())
        };
        if let Some(k) = cached() {
            return Ok(k);
        }
        let _permit = self.fetches.acquire().await.map_err(|_| Rejected::Certificate("shutting down".into()))?;
        // Another delivery may have fetched it while this one waited.
        if let Some(k) = cached() {
            return Ok(k);
        }
        let pem = self.get(url.clone()).await.map_err(|why| Rejected::Fetch { url: url.to_string(), why })?;
        let (key, until) = public_key(&pem, SystemTime::now())?;
        let key = Arc::new(key);
        self.certs.lock().unwrap_or_else(PoisonError::into_inner).put(url.to_string(), (key.clone(), until));
        Ok(key)
    }

    /// GET `url`, at most [`MAX_FETCHED`] bytes of a 2xx answer.
    async fn get(&self, url: Url) -> Result<Vec<u8>, String> {
        let mut resp = self.http.get(url).send().await.map_err(|e| crate::outbound::chain(&e))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| crate::outbound::chain(&e))? {
            if body.len() + chunk.len() > MAX_FETCHED {
                return Err(format!("answer over {MAX_FETCHED} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(kind: &str, subject: Option<&str>) -> Envelope {
        let mut v = serde_json::json!({
            "Type": kind, "MessageId": "m-1", "TopicArn": "arn:aws:sns:eu-west-1:1:t",
            "Message": "{\"a\":\"b\\nc\"}", "Timestamp": "2026-01-02T03:04:05.678Z",
            "SignatureVersion": "2", "Signature": "c2ln",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        });
        if let Some(s) = subject {
            v["Subject"] = s.into();
        }
        if kind != "Notification" {
            v["SubscribeURL"] = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok".into();
            v["Token"] = "tok".into();
        }
        parse(v.to_string().as_bytes()).expect("envelope")
    }

    #[test]
    fn the_string_to_sign_has_snss_fields_in_snss_order() {
        let base = "Message\n{\"a\":\"b\\nc\"}\nMessageId\nm-1\n";
        let tail = "Timestamp\n2026-01-02T03:04:05.678Z\nTopicArn\narn:aws:sns:eu-west-1:1:t\nType\nNotification\n";
        let n = envelope("Notification", None);
        assert_eq!(string_to_sign(&n).expect("sign"), format!("{base}{tail}"));
        let n = envelope("Notification", Some("Alert"));
        assert_eq!(string_to_sign(&n).expect("sign"), format!("{base}Subject\nAlert\n{tail}"));
        let c = envelope("SubscriptionConfirmation", Some("ignored"));
        assert_eq!(
            string_to_sign(&c).expect("sign"),
            format!(
                "{base}SubscribeURL\nhttps://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok\n\
                 Timestamp\n2026-01-02T03:04:05.678Z\nToken\ntok\nTopicArn\narn:aws:sns:eu-west-1:1:t\n\
                 Type\nSubscriptionConfirmation\n"
            )
        );
        let mut c = envelope("UnsubscribeConfirmation", None);
        c.token = None;
        assert!(matches!(string_to_sign(&c), Err(Rejected::Malformed(_))));
    }

    #[test]
    fn envelopes_that_are_not_snss_are_malformed() {
        for body in [&b"{"[..], b"[]", b"{\"Type\":\"Notification\"}", b"\xff"] {
            assert!(matches!(parse(body), Err(Rejected::Malformed(_))), "{body:?}");
        }
        let mut other = serde_json::to_value(envelope("Notification", None).message).expect("json");
        other = serde_json::json!({"Type": "Other", "Message": other});
        assert!(parse(other.to_string().as_bytes()).is_err());
        assert!(parse(&vec![b' '; MAX_BODY]).is_err());
        let twice = br#"{"Type":"Notification","Type":"Notification"}"#;
        assert!(parse(twice).is_err());
    }

    #[test]
    fn certificate_and_subscribe_urls_must_be_https_on_an_sns_host() {
        let sns = Regex::new(crate::config::alerts::SNS_CERT_HOST).expect("regex");
        let ok = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem";
        assert!(check_url("SigningCertURL", ok, &sns, true).is_ok());
        assert!(check_url("SigningCertURL", "https://sns.cn-north-1.amazonaws.com.cn/a.pem", &sns, true).is_ok());
        for bad in [
            "http://sns.eu-west-1.amazonaws.com/a.pem",
            "https://sns.eu-west-1.amazonaws.com.evil.example/a.pem",
            "https://evil.example/sns.eu-west-1.amazonaws.com/a.pem",
            "https://sns.eu.amazonaws.com/a.pem",
            "https://sns.eu-west-1.amazonaws.com/a.pem?x=1",
            "https://sns.eu-west-1.amazonaws.com/a.txt",
            "https://user@sns.eu-west-1.amazonaws.com/a.pem",
            "sns.eu-west-1.amazonaws.com/a.pem",
        ] {
            assert!(check_url("SigningCertURL", bad, &sns, true).is_err(), "{bad}");
        }
        let confirm = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t";
        assert!(check_url("SubscribeURL", confirm, &sns, false).is_ok());
    }

    #[test]
    fn signature_versions_are_1_and_2_only_and_garbage_never_verifies() {
        assert_eq!(SignatureVersion::parse("1").ok(), Some(SignatureVersion::Sha1));
        assert_eq!(SignatureVersion::parse("2").ok(), Some(SignatureVersion::Sha256));
        assert!(SignatureVersion::parse("3").is_err());
        assert!(public_key(b"not a certificate", SystemTime::now()).is_err());
        let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).expect("key");
        let cert = rcgen::CertificateParams::new(vec!["sns.example".into()])
            .and_then(|p| p.self_signed(&key))
            .expect("certificate");
        let (public, _) = public_key(cert.pem().as_bytes(), SystemTime::now()).expect("public key");
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::signature::{SignatureEncoding, Signer};
        let private = rsa::PrivateKey::from_pkcs8_der(key.serialized_der()).expect("private key");
        let b64 = |s: Signature| base64::engine::general_purpose::STANDARD.encode(s.to_bytes());
        let v1 = b64(rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(private.clone()).sign(b"signed\n"));
        let v2 = b64(rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private).sign(b"signed\n"));
        assert!(verify(&public, SignatureVersion::Sha1, "signed\n", &v1).is_ok());
        assert!(verify(&public, SignatureVersion::Sha256, "signed\n", &v2).is_ok());
        assert!(verify(&public, SignatureVersion::Sha256, "signed\n", &v1).is_err());
        assert!(verify(&public, SignatureVersion::Sha1, "signeD\n", &v1).is_err());
        assert!(verify(&public, SignatureVersion::Sha1, "signed\n", "@@@").is_err());
        let statuses = [
            Rejected::Malformed(String::new()).status().0,
            Rejected::Topic(String::new()).status().0,
            Rejected::Signature.status().0,
            Rejected::Fetch { url: String::new(), why: String::new() }.status().0,
        ];
        assert_eq!(statuses.map(|s| s.as_u16()), [400, 403, 403, 502]);
    }

    #[test]
    fn a_timestamp_an_hour_old_or_minutes_ahead_is_refused() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-05-01T20:00:00.000Z").expect("time").to_utc();
        assert!(check_timestamp("2026-05-01T19:00:00.000Z", now).is_ok(), "an hour old: SNS may still retry");
        assert!(check_timestamp("2026-05-01T20:04:00.000Z", now).is_ok(), "clocks differ");
        for bad in ["2026-05-01T18:59:59.000Z", "2026-05-01T20:05:01.000Z", "yesterday", ""] {
            assert!(matches!(check_timestamp(bad, now), Err(Rejected::Stale(_))), "{bad}");
        }
    }
}
