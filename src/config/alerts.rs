//! `[alerts]` of ottd.toml: whether `bootstrap` sets up the alert plumbing and the daemon reads
//! it, and the recovery policies per alert type.
//!
//! ```toml
//! [alerts]
//! enabled = true                # bootstrap the EventBridge rule, SQS queue and SNS topic
//! sns_target = true             # the rule also sends every event to the topic (email/SMS)
//! breaker = 3                   # at most 3 recovery actions per event...
//! breaker_window = "1h"         # ...within an hour; then only notifications
//! [alerts.policy."Video Not Detected"]
//! remedy = "restart-pipeline"   # notify | restart-pipeline | restart-channel | start-channel | switch-to-backup
//! wait = "30s"                  # act if still SET after this long
//! [alerts.sns_https]            # the daemon also takes SNS HTTPS deliveries on POST /sns
//! topics = ["arn:aws:sns:eu-west-1:123456789012:ottd-alerts"]   # the only topics accepted
//! cert_host_pattern = '^sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?$'   # the default
//! ca_bundle = "extra-ca.pem"    # optional: CAs trusted besides the system's (tests)
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::reader::{relative_to, Table};

pub mod limits {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    /// `alerts.breaker`: recovery actions per event within the window.
    pub const BREAKER: RangeInclusive<i64> = 1..=100;
    /// `alerts.breaker_window`.
    pub const BREAKER_WINDOW: RangeInclusive<Duration> = Duration::from_secs(60)..=Duration::from_secs(24 * 3600);
    /// `alerts.policy.*.wait`: how long an alert may stay SET before the remedy.
    pub const WAIT: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(3600);
}

const REMEDIES: [&str; 5] = ["notify", "restart-pipeline", "restart-channel", "start-channel", "switch-to-backup"];

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertSettings {
    /// `bootstrap` creates the plumbing and the daemon consumes it.
    pub enabled: bool,
    /// The EventBridge rule also targets the SNS topic.
    pub sns_target: bool,
    pub policies: Policies,
    /// `[alerts.sns_https]`: SNS pushes MediaLive's events to the daemon's `POST /sns`.
    pub sns_https: Option<SnsHttps>,
}

/// Where signed SNS deliveries may come from, and for which topics.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SnsHttps {
    /// Deliveries for any other topic are refused.
    pub topics: Vec<String>,
    /// The hosts `SigningCertURL` and `SubscribeURL` may name (a regular expression).
    pub cert_host_pattern: String,
    /// A PEM file of CAs trusted besides the system's when fetching from those hosts.
    pub ca_bundle: Option<PathBuf>,
}

/// The hosts SNS signs from and confirms subscriptions on.
pub const SNS_CERT_HOST: &str = r"^sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?$";

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings { enabled: true, sns_target: true, policies: Policies::shipped(), sns_https: None }
    }
}

pub fn compile(t: Option<&Table<'_, '_, '_>>) -> AlertSettings {
    let mut s = AlertSettings::default();
    let Some(t) = t else { return s };
    s.enabled = t.bool("enabled").unwrap_or(true);
    s.sns_target = t.bool("sns_target").unwrap_or(true);
    if let Some(n) = t.int_within("breaker", &limits::BREAKER) {
        s.policies.breaker_max = u32::try_from(n).unwrap_or(3);
    }
    if let Some(w) = t.duration_in("breaker_window", &limits::BREAKER_WINDOW) {
        s.policies.breaker_window = w;
    }
    if let Some(p) = t.table("policy") {
        for alert_type in p.keys() {
            let Some(one) = p.table(alert_type) else { continue };
            let remedy = one.one_of("remedy", &REMEDIES).and_then(|r| Remedy::parse(&r));
            let wait = one.duration_in("wait", &limits::WAIT);
            let base = *s.policies.for_type(alert_type);
            let policy = Policy { remedy: remedy.unwrap_or(base.remedy), wait: wait.unwrap_or(base.wait) };
            if alert_type == "default" {
                s.policies.default = policy;
            } else {
                s.policies.by_type.insert(alert_type.to_string(), policy);
            }
        }
    }
    s.sns_https = t.table("sns_https").and_then(|t| sns_https(&t));
    s
}

fn sns_https(t: &Table<'_, '_, '_>) -> Option<SnsHttps> {
    if !t.has("topics") {
        t.error("topics", "required key is missing: the SNS topic ARNs whose deliveries are accepted");
    }
    let topics = match t.strings("topics") {
        None => None,
        Some(v) if v.is_empty() => {
            t.error("topics", "must name at least one SNS topic ARN");
            None
        }
        Some(v) => {
            let bad: Vec<&String> = v.iter().filter(|a| !is_topic_arn(a)).collect();
            for a in &bad {
                t.error("topics", format!("`{a}` is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"));
            }
            bad.is_empty().then_some(v)
        }
    };
    let pattern = t.str("cert_host_pattern").unwrap_or_else(|| SNS_CERT_HOST.to_string());
    let pattern_ok = match regex_lite::Regex::new(&pattern) {
        Ok(_) => true,
        Err(e) => {
            t.error("cert_host_pattern", format!("not a regular expression: {e}"));
            false
        }
    };
    let ca_bundle = t.str("ca_bundle").map(|p| relative_to(&t.base_dir(), p));
    if let Some(p) = &ca_bundle {
        if !p.is_file() {
            t.error("ca_bundle", format!("{} is not a readable file", p.display()));
        }
    }
    let ok = pattern_ok && ca_bundle.as_ref().is_none_or(|p| p.is_file());
    topics.filter(|_| ok).map(|topics| SnsHttps { topics, cert_host_pattern: pattern, ca_bundle })
}

/// `arn:<partition>:sns:<region>:<account>:<name>`.
fn is_topic_arn(a: &str) -> bool {
    let parts: Vec<&str> = a.split(':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && parts[3..].iter().all(|p| !p.is_empty())
}

/// The wait of a policy as the README shows it.
pub fn describe(p: &Policy) -> String {
    if p.remedy == Remedy::Notify {
        "notify".to_string()
    } else {
        format!("{} after {}", p.remedy.as_str(), humantime::format_duration(Duration::from_secs(p.wait.as_secs())))
    }
}

/// What a policy does about an alert that stays SET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Remedy {
    /// Tell people; a human decides.
    Notify,
    /// `RestartChannelPipelines` for the alert's pipeline.
    RestartPipeline,
    /// Stop and start the whole channel.
    RestartChannel,
    /// Start a channel that stopped while its window says it should run.
    StartChannel,
    /// Switch the channel to its backup input (a schedule input switch), and back to primary
    /// when the alert clears: for what MediaLive's own failover (on input loss) does not
    /// cover, such as video missing from a feed that still arrives.
    SwitchToBackup,
}

impl Remedy {
    pub fn as_str(self) -> &'static str {
        match self {
            Remedy::Notify => "notify",
            Remedy::RestartPipeline => "restart-pipeline",
            Remedy::RestartChannel => "restart-channel",
            Remedy::StartChannel => "start-channel",
            Remedy::SwitchToBackup => "switch-to-backup",
        }
    }

    pub fn parse(s: &str) -> Option<Remedy> {
        [Remedy::Notify, Remedy::RestartPipeline, Remedy::RestartChannel, Remedy::StartChannel, Remedy::SwitchToBackup]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub remedy: Remedy,
    /// How long an alert may stay SET before the remedy (a CLEARED within it: nothing done).
    pub wait: Duration,
}

/// The policies per alert type (MediaLive's exact wording), a default for the others, and
/// the circuit breaker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policies {
    pub by_type: HashMap<String, Policy>,
    pub default: Policy,
    /// At most this many recovery actions per event within `breaker_window`; then only
    /// notifications ("breaker open, a human is needed").
    pub breaker_max: u32,
    pub breaker_window: Duration,
}

/// Output errors towards the packager: a pipeline restart usually clears them.
/// ottd's own alert: the stream stopped moving (or went old) at some hop.
pub const STREAM_STALE: &str = "Stream Stale";
/// ottd's own alert: a hop answers what no stream answers (403, 404 once live, no answer).
pub const STREAM_BROKEN: &str = "Stream Broken";

/// Whether an alert type is ottd's own (the stream probe's), not MediaLive's.
pub fn is_stream_alert(alert_type: &str) -> bool {
    alert_type == STREAM_STALE || alert_type == STREAM_BROKEN
}

pub const OUTPUT_ERRORS: [&str; 6] = [
    "Failed to Create Output File or Socket",
    "Failed to Write to Output",
    "Failed HTTP Post Output Request",
    "Failed to Get HTTP Output Token",
    "Output Group is Paused",
    "Pipeline is Paused",
];

/// Input loss: often the source's fault, so people hear at once and the pipeline is
/// restarted (the input reconnects) only if it lasts.
pub const INPUT_LOSS: [&str; 8] = [
    "Video Not Detected",
    "Audio Not Detected",
    "Black Video Detected",
    "Stopped Receiving UDP Input",
    "RTMP Stream Not Found",
    "RTMP Has No Audio/Video",
    "RTMP Server Disconnected",
    "RTMP Input Connect Failed",
];

impl Policies {
    /// ottd's defaults: output errors restart the pipeline after 10 s; input loss is notified
    /// and restarts the pipeline after 2 min; a failover done by MediaLive, and anything
    /// else, is only notified. Breaker: 3 actions per hour per event.
    pub fn shipped() -> Policies {
        let mut by_type = HashMap::new();
        for t in OUTPUT_ERRORS {
            by_type.insert(t.to_string(), Policy { remedy: Remedy::RestartPipeline, wait: Duration::from_secs(10) });
        }
        for t in INPUT_LOSS {
            by_type.insert(t.to_string(), Policy { remedy: Remedy::RestartPipeline, wait: Duration::from_secs(120) });
        }
        by_type.insert("Input Failed Over".into(), Policy { remedy: Remedy::Notify, wait: Duration::ZERO });
        // ottd's own, from the stream probe: a frozen stream gets its pipeline restarted
        // (unless MediaLive raised an alert of its own, whose policy leads); a broken hop
        // (a 403 at CloudFront, say) is not the encoder's: people are told.
        by_type.insert(STREAM_STALE.into(), Policy { remedy: Remedy::RestartPipeline, wait: Duration::from_secs(5) });
        by_type.insert(STREAM_BROKEN.into(), Policy { remedy: Remedy::Notify, wait: Duration::ZERO });
        Policies {
            by_type,
            default: Policy { remedy: Remedy::Notify, wait: Duration::ZERO },
            breaker_max: 3,
            breaker_window: Duration::from_secs(3600),
        }
    }

    pub fn for_type(&self, alert_type: &str) -> &Policy {
        self.by_type.get(alert_type).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::doc::Source;
    use crate::config::reader::Ctx;

    fn load(name: &str, text: &str) -> (AlertSettings, String) {
        let src = Source::inline(name, text);
        let root = src.parse_toml().expect("parse");
        let ctx = Ctx::new(&src);
        let s = {
            let t = ctx.root(&root);
            compile(t.table("alerts").as_ref())
        };
        (s, ctx.into_diags().to_string())
    }

    #[test]
    fn sns_https_is_off_unless_its_table_is_there_and_defaults_to_the_sns_hosts() {
        assert_eq!(load("a.toml", "[alerts]\nenabled = true\n").0.sns_https, None);
        let (s, diags) = load(
            "/etc/ottd/ottd.toml",
            "[alerts.sns_https]\ntopics = [\"arn:aws:sns:eu-west-1:123456789012:alerts\"]\nca_bundle = \"/\"\n",
        );
        assert!(diags.contains("ca_bundle: / is not a readable file"), "{diags}");
        assert_eq!(s.sns_https, None);
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("ca.pem"), "x").expect("write");
        let file = dir.path().join("ottd.toml");
        let text =
            "[alerts.sns_https]\ntopics = [\"arn:aws:sns:eu-west-1:123456789012:alerts\"]\nca_bundle = \"ca.pem\"\n";
        let (s, diags) = load(&file.display().to_string(), text);
        assert_eq!(diags, "");
        let sns = s.sns_https.expect("sns_https");
        assert_eq!(sns.topics, ["arn:aws:sns:eu-west-1:123456789012:alerts"]);
        assert_eq!(sns.cert_host_pattern, SNS_CERT_HOST);
        assert_eq!(sns.ca_bundle, Some(dir.path().join("ca.pem")));
    }

    #[test]
    fn sns_https_errors_name_the_key_and_its_position() {
        let text = "[alerts.sns_https]\ncert_host_pattern = \"^(sns\"\nwhat = 1\n";
        let (s, diags) = load("o.toml", text);
        assert_eq!(s.sns_https, None);
        assert!(diags.contains("alerts.sns_https.topics: required key is missing"), "{diags}");
        assert!(diags.contains("o.toml:2:21: alerts.sns_https.cert_host_pattern: not a regular expression"), "{diags}");
        assert!(diags.contains("o.toml:3:8: alerts.sns_https.what: unknown key"), "{diags}");
        let (_, diags) = load("o.toml", "[alerts.sns_https]\ntopics = [\"arn:aws:sqs:eu-west-1:1:q\"]\n");
        assert!(
            diags.contains("o.toml:2:10: alerts.sns_https.topics: `arn:aws:sqs:eu-west-1:1:q` is not an SNS topic ARN"),
            "{diags}"
        );
        let (_, diags) = load("o.toml", "[alerts.sns_https]\ntopics = []\n");
        assert!(diags.contains("must name at least one SNS topic ARN"), "{diags}");
    }
}
