//! SNS HTTPS deliveries to `POST /sns`, end to end but without AWS: a CA, a TLS certificate
//! and an RSA signing key are made at test time; a local HTTPS server on 127.0.0.1 stands in
//! for SNS (it serves the signing certificate and answers subscription confirmations); the
//! daemon's real router and a real `SnsPush` with a state file in a temp folder take the
//! deliveries, which are signed here the way SNS signs them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, RsaKeySize, SanType};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tower::ServiceExt;

use ottd::alerts::intake::Changed;
use ottd::alerts::sns_push::SnsPush;
use ottd::config::alerts::SnsHttps;
use ottd::http::{app, HttpState};
use ottd::lifecycle::Status;
use ottd::metrics::Metrics;
use ottd::plan::Kind;
use ottd::store::Store;

const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ottd-alerts";
const CHANNEL_ARN: &str = "arn:aws:medialive:eu-west-1:123456789012:channel:CHANNELID";

/// The local stand-in for SNS's HTTPS side.
struct FakeSns {
    /// `https://127.0.0.1:<port>`
    base: String,
    /// The path of every request it answered, in order.
    requests: Arc<Mutex<Vec<String>>>,
    /// Signs as SNS would; its certificate is served at `/cert.pem`.
    signer: rsa::PrivateKey,
    /// The CA of its TLS certificate (the daemon's `ca_bundle`).
    ca_file: PathBuf,
}

impl FakeSns {
    async fn start(dir: &std::path::Path) -> FakeSns {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let ca = Issuer::new(ca_params, ca_key);
        let tls_key = KeyPair::generate().expect("TLS key");
        let mut tls_params = CertificateParams::new(Vec::<String>::new()).expect("TLS params");
        tls_params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
        let tls_cert = tls_params.signed_by(&tls_key, &ca).expect("TLS certificate");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write CA");

        let sign_key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).expect("RSA key");
        let sign_params = CertificateParams::new(vec!["sns.eu-west-1.amazonaws.com".to_string()]).expect("params");
        let sign_cert = sign_params.self_signed(&sign_key).expect("signing certificate");
        let signer = rsa::PrivateKey::from_pkcs8_der(sign_key.serialized_der()).expect("RSA private key");

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![tls_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(tls_key.serialize_der().into()),
            )
            .expect("TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("https://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (seen, pem) = (requests.clone(), Arc::new(sign_cert.pem()));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, seen, pem) = (acceptor.clone(), seen.clone(), pem.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let (mut head, mut buf) = (Vec::new(), [0u8; 2048]);
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                    seen.lock().expect("requests").push(path.clone());
                    let (status, body) = if path == "/cert.pem" {
                        ("200 OK", pem.as_str())
                    } else if path.starts_with("/?Action=ConfirmSubscription") {
                        ("200 OK", "<ConfirmSubscriptionResponse/>")
                    } else {
                        ("404 Not Found", "")
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        FakeSns { base, requests, signer, ca_file }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }

    /// Sign `m` as SNS does: `Name\nValue\n` for each field it signs, in its order.
    fn sign_with(key: &rsa::PrivateKey, m: &mut Value) {
        let fields: &[&str] = if m["Type"] == "Notification" {
            &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        } else {
            &["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        };
        let mut text = String::new();
        for f in fields {
            if let Some(v) = m[*f].as_str() {
                text.push_str(&format!("{f}\n{v}\n"));
            }
        }
        let sig = match m["SignatureVersion"].as_str() {
            Some("1") => rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(key.clone()).sign(text.as_bytes()).to_vec(),
            _ => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone()).sign(text.as_bytes()).to_vec(),
        };
        m["Signature"] = base64::engine::general_purpose::STANDARD.encode(sig).into();
    }

    /// A signed notification carrying `message`.
    fn notification(&self, id: &str, version: &str, message: &str) -> Value {
        let mut m = json!({
            "Type": "Notification", "MessageId": id, "TopicArn": TOPIC, "Subject": "MediaLive alert",
            "Message": message, "Timestamp": sns_time(chrono::Utc::now()), "SignatureVersion": version,
            "SigningCertURL": format!("{}/cert.pem", self.base),
            "UnsubscribeURL": format!("{}/?Action=Unsubscribe&SubscriptionArn={TOPIC}:s", self.base),
        });
        Self::sign_with(&self.signer, &mut m);
        m
    }
}

/// A `Timestamp` as SNS writes it.
fn sns_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A MediaLive alert as EventBridge delivers it, for the channel of event `final`.
fn alert(event_id: &str, alarm_id: &str) -> String {
    json!({
        "version": "0", "id": event_id, "detail-type": "MediaLive Channel Alert", "source": "aws.medialive",
        "account": "123456789012", "time": chrono::Utc::now().to_rfc3339(), "region": "eu-west-1",
        "resources": [CHANNEL_ARN],
        "detail": {
            "alarm_state": "SET", "alarm_id": alarm_id, "alert_type": "Failed to Write to Output",
            "pipeline": "0", "channel_arn": CHANNEL_ARN, "message": "test"
        }
    })
    .to_string()
}

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    state: Arc<HttpState>,
    sns: FakeSns,
    changed: mpsc::Receiver<Changed>,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Arc::new(Store::open(&dir.path().join("ottd.db")).expect("store"));
        let me = ottd::store::Holder::new("test");
        let lease = store.acquire_lease("final", &me, std::time::Duration::from_secs(600), None).await;
        let fence = lease.expect("store").expect("free").fence;
        store.begin_deployment(&fence, "abcd1234", "{}").await.expect("deployment");
        store
            .record(&fence, "channel", Kind::Channel, "n", Status::Created, Some("CHANNELID"), None, None)
            .await
            .expect("channel");
        let sns = FakeSns::start(dir.path()).await;
        let (state, changed) = Self::endpoint(&store, &sns);
        Harness { _dir: dir, store, state, sns, changed }
    }

    /// A `POST /sns` endpoint on `store` (a daemon's start).
    fn endpoint(store: &Arc<Store>, sns: &FakeSns) -> (Arc<HttpState>, mpsc::Receiver<Changed>) {
        let config = SnsHttps {
            topics: vec![TOPIC.to_string()],
            cert_host_pattern: r"^127\.0\.0\.1$".to_string(),
            ca_bundle: Some(sns.ca_file.clone()),
        };
        let (tx, changed) = mpsc::channel(64);
        let push = SnsPush::new(&config, store.clone(), tx).expect("SnsPush");
        let state = Arc::new(HttpState {
            metrics: Arc::new(Metrics::new()),
            ready: AtomicBool::new(true),
            sns: Some(Arc::new(push)),
            tasks: None,
        });
        (state, changed)
    }

    /// The daemon restarted: a new endpoint on the same state file.
    fn restart(&mut self) {
        (self.state, self.changed) = Self::endpoint(&self.store, &self.sns);
    }

    async fn post(&self, kind: &str, body: impl Into<Body>) -> (StatusCode, String) {
        let req = Request::post("/sns")
            .header("x-amz-sns-message-type", kind)
            .header("content-type", "text/plain; charset=UTF-8")
            .body(body.into())
            .expect("request");
        let r = app(self.state.clone()).oneshot(req).await.expect("response");
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn deliver(&self, m: &Value) -> (StatusCode, String) {
        self.post(m["Type"].as_str().unwrap_or_default(), m.to_string()).await
    }

    fn alarms(&self) -> Vec<String> {
        self.store.alerts(Some("final"), true).expect("alerts").into_iter().map(|a| a.alarm_id).collect()
    }

    async fn healthy(&self) -> bool {
        let req = Request::get("/healthz").body(Body::empty()).expect("request");
        app(self.state.clone()).oneshot(req).await.map(|r| r.status() == StatusCode::OK).unwrap_or(false)
    }
}

#[tokio::test]
async fn signed_v1_and_v2_notifications_are_recorded_once_and_redeliveries_are_dropped() {
    let mut h = Harness::start().await;
    let v1 = h.sns.notification("m-1", "1", &alert("ev-1", "a1"));
    assert_eq!(h.deliver(&v1).await, (StatusCode::OK, "recorded\n".to_string()));
    let v2 = h.sns.notification("m-2", "2", &alert("ev-2", "a2"));
    assert_eq!(h.deliver(&v2).await, (StatusCode::OK, "recorded\n".to_string()));
    assert_eq!(h.alarms(), ["a1", "a2"]);
    assert_eq!(h.changed.try_recv().ok(), Some(Changed::Alert { event: "final".into() }));

    // SNS retries with the same MessageId: the body again, or (were it to differ) anything.
    assert_eq!(h.deliver(&v1).await, (StatusCode::OK, "duplicate\n".to_string()));
    let same_id = h.sns.notification("m-1", "2", &alert("ev-3", "a3"));
    assert_eq!(h.deliver(&same_id).await, (StatusCode::OK, "duplicate\n".to_string()));
    assert_eq!(h.alarms(), ["a1", "a2"], "nothing recorded twice");
    // One certificate fetch served every delivery.
    assert_eq!(h.sns.requests(), ["/cert.pem"]);
}

#[tokio::test]
async fn forged_tampered_foreign_and_unsigned_deliveries_are_refused_and_nothing_is_recorded() {
    let h = Harness::start().await;
    let good = h.sns.notification("m-1", "2", &alert("ev-1", "a1"));
    let resign = |mut m: Value| {
        FakeSns::sign_with(&h.sns.signer, &mut m);
        m
    };
    let mut cases: Vec<(&str, Value, StatusCode)> = Vec::new();
    let other_key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).expect("key");
    let mut forged = good.clone();
    FakeSns::sign_with(&rsa::PrivateKey::from_pkcs8_der(other_key.serialized_der()).expect("key"), &mut forged);
    cases.push(("forged signature", forged, StatusCode::FORBIDDEN));
    let mut tampered = good.clone();
    tampered["Message"] = alert("ev-1", "a-tampered").into();
    cases.push(("tampered message", tampered, StatusCode::FORBIDDEN));
    let mut subject = good.clone();
    subject["Subject"] = "Something else".into();
    cases.push(("tampered subject", subject, StatusCode::FORBIDDEN));
    let mut topic = good.clone();
    topic["TopicArn"] = "arn:aws:sns:eu-west-1:123456789012:someone-elses".into();
    cases.push(("another topic", resign(topic), StatusCode::FORBIDDEN));
    let mut host = good.clone();
    host["SigningCertURL"] = format!("{}/cert.pem", h.sns.base.replace("127.0.0.1", "localhost")).into();
    cases.push(("certificate on another host", resign(host), StatusCode::FORBIDDEN));
    let mut http = good.clone();
    http["SigningCertURL"] = format!("{}/cert.pem", h.sns.base.replace("https:", "http:")).into();
    cases.push(("certificate over http", resign(http), StatusCode::FORBIDDEN));
    let mut not_pem = good.clone();
    not_pem["SigningCertURL"] = format!("{}/cert.txt", h.sns.base).into();
    cases.push(("certificate not a .pem", resign(not_pem), StatusCode::FORBIDDEN));
    let mut version = good.clone();
    version["SignatureVersion"] = "3".into();
    cases.push(("unknown signature version", resign(version), StatusCode::FORBIDDEN));
    let mut unsigned = good.clone();
    unsigned.as_object_mut().map(|o| o.remove("Signature"));
    cases.push(("unsigned", unsigned, StatusCode::BAD_REQUEST));
    let mut garbage = good.clone();
    garbage["Signature"] = "not base64!".into();
    cases.push(("signature not base64", garbage, StatusCode::FORBIDDEN));

    for (what, m, want) in &cases {
        let (status, body) = h.deliver(m).await;
        assert_eq!(status, *want, "{what}: {body}");
    }
    // The header must agree with the body.
    let (status, _) = h.post("SubscriptionConfirmation", good.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(h.alarms().is_empty(), "nothing recorded");
    // Nothing was fetched from a host other than the configured one, nor over http.
    assert!(h.sns.requests().iter().all(|p| p == "/cert.pem"), "{:?}", h.sns.requests());

    // The genuine message still goes through afterwards.
    assert_eq!(h.deliver(&good).await.0, StatusCode::OK);
    assert_eq!(h.alarms(), ["a1"]);
}

#[tokio::test]
async fn a_subscription_confirmation_is_confirmed_by_a_get_on_its_subscribe_url() {
    let h = Harness::start().await;
    let confirmation = |subscribe: String| {
        let mut m = json!({
            "Type": "SubscriptionConfirmation", "MessageId": "c-1", "Token": "tok3n", "TopicArn": TOPIC,
            "Message": format!("You have chosen to subscribe to the topic {TOPIC}."),
            "SubscribeURL": subscribe, "Timestamp": "2026-05-01T20:00:00.000Z", "SignatureVersion": "1",
            "SigningCertURL": format!("{}/cert.pem", h.sns.base),
        });
        FakeSns::sign_with(&h.sns.signer, &mut m);
        m
    };
    let elsewhere = confirmation("https://localhost:1/?Action=ConfirmSubscription&Token=tok3n".into());
    assert_eq!(h.deliver(&elsewhere).await.0, StatusCode::FORBIDDEN, "SubscribeURL on another host");
    let url = format!("{}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=tok3n", h.sns.base);
    assert_eq!(h.deliver(&confirmation(url)).await, (StatusCode::OK, "confirmed\n".to_string()));
    assert_eq!(
        h.sns.requests(),
        ["/cert.pem".to_string(), format!("/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=tok3n")]
    );
    assert!(h.alarms().is_empty());
}

#[tokio::test]
async fn malformed_truncated_and_oversized_bodies_are_refused_and_the_daemon_goes_on() {
    let h = Harness::start().await;
    let good = h.sns.notification("m-1", "2", &alert("ev-1", "a1")).to_string();
    assert_eq!(h.post("Notification", "{\"Type\": ").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(h.post("Notification", good[..good.len() / 2].to_string()).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(h.post("Notification", "[1, 2, 3]").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(h.post("Notification", vec![0xffu8; 100]).await.0, StatusCode::BAD_REQUEST);
    let mut huge = h.sns.notification("m-2", "2", &alert("ev-2", "a2"));
    huge["Message"] = "x".repeat(256 * 1024).into();
    assert_eq!(h.post("Notification", huge.to_string()).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    let exactly = format!("{}{}", good, " ".repeat(256 * 1024 - good.len()));
    assert_eq!(exactly.len(), 256 * 1024);
    assert_eq!(h.post("Notification", exactly).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(h.alarms().is_empty());
    assert!(h.healthy().await);
    assert_eq!(h.post("Notification", good).await.0, StatusCode::OK);
    assert_eq!(h.alarms(), ["a1"]);
}

#[tokio::test]
async fn a_redelivery_after_a_restart_is_still_a_duplicate() {
    let mut h = Harness::start().await;
    let m = h.sns.notification("m-1", "2", &alert("ev-1", "a1"));
    assert_eq!(h.deliver(&m).await, (StatusCode::OK, "recorded\n".to_string()));
    h.restart();
    let same_id = h.sns.notification("m-1", "2", &alert("ev-2", "a2"));
    assert_eq!(h.deliver(&same_id).await, (StatusCode::OK, "duplicate\n".to_string()));
    assert_eq!(h.alarms(), ["a1"], "the MessageId is remembered in the state file");
}

#[tokio::test]
async fn a_notification_signed_long_ago_or_ahead_is_refused() {
    let h = Harness::start().await;
    for (id, at) in [("m-old", chrono::Duration::hours(-2)), ("m-ahead", chrono::Duration::minutes(10))] {
        let mut m = h.sns.notification(id, "2", &alert(&format!("ev-{id}"), id));
        m["Timestamp"] = sns_time(chrono::Utc::now() + at).into();
        FakeSns::sign_with(&h.sns.signer, &mut m);
        let (status, _) = h.deliver(&m).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{id}");
    }
    assert!(h.alarms().is_empty(), "nothing recorded");
}
