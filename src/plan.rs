//! The plan of one event's workflow: which resources it is made of, their deterministic names,
//! what each depends on, and the input wiring per input type and channel class. Pure data.
//!
//! Names carry the event id and a per-deployment `nonce` (recorded in the state file before the
//! first create), so a retry after a crash finds the same names, while a redeploy after a
//! teardown never collides with a name AWS still holds (a secret pending deletion, a
//! CloudFront caller reference).

use std::sync::Arc;

use serde::Serialize;

use crate::config::profile::Profile;
use crate::config::workflow::{ChannelClass, InputType, Workflow};
use crate::config::{Resolved, Settings};

/// The kinds of resource one event owns, in teardown order (reverse of creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Channel,
    Input,
    SecurityGroup,
    Distribution,
    LogBucket,
    Endpoint,
    PackageChannel,
    Secret,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Channel => "MediaLive channel",
            Kind::Input => "MediaLive input",
            Kind::SecurityGroup => "MediaLive input security group",
            Kind::Distribution => "CloudFront distribution",
            Kind::LogBucket => "S3 log bucket",
            Kind::Endpoint => "MediaPackage endpoint",
            Kind::PackageChannel => "MediaPackage channel",
            Kind::Secret => "CDN authorization secret",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Packaging {
    Hls,
    Dash,
    Cmaf,
    Mss,
}

impl Packaging {
    pub fn suffix(self) -> &'static str {
        match self {
            Packaging::Hls => "hls",
            Packaging::Dash => "dash",
            Packaging::Cmaf => "cmaf",
            Packaging::Mss => "mss",
        }
    }
}

/// One resource of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// Stable key within the event (`endpoint-hls`), the row key in the state file.
    pub key: String,
    pub kind: Kind,
    /// The deterministic name, id or caller reference AWS is given.
    pub name: String,
    pub depends_on: Vec<String>,
    /// Sequential AWS requests this step needs on a fresh deploy (for the critical path).
    pub requests: u32,
}

/// How the MediaLive input is wired, per input type and class.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct InputWiring {
    /// Pull/file inputs: source URLs (one per pipeline).
    pub sources: Vec<String>,
    /// RTMP_PUSH: application/instance stream names (one per pipeline); UDP/RTP push: one
    /// empty entry per pipeline (AWS assigns the address).
    pub destinations: Vec<String>,
    /// INPUT_DEVICE: device ids.
    pub devices: Vec<String>,
    /// MEDIACONNECT: flow ARNs (the input also needs the MediaLive role).
    pub flows: Vec<String>,
    pub needs_security_group: bool,
    pub needs_role: bool,
    /// Pull/file inputs: InputSettings.SourceEndBehavior applies.
    pub source_end_behavior: bool,
}

pub fn input_wiring(wf: &Workflow) -> InputWiring {
    let ml = &wf.media_live;
    let two = ml.channel_class == ChannelClass::Standard;
    let pair = |pri: &str, sec: &str| -> Vec<String> {
        if two {
            vec![pri.to_string(), sec.to_string()]
        } else {
            vec![pri.to_string()]
        }
    };
    let mut w = InputWiring::default();
    match ml.input_type {
        InputType::RtmpPush => {
            let name = ml.stream_name.trim_matches('/');
            w.destinations = pair(&format!("{name}/primary"), &format!("{name}/secondary"));
            w.needs_security_group = true;
        }
        InputType::UdpPush | InputType::RtpPush => {
            w.destinations = vec![String::new(); ml.channel_class.pipelines()];
            w.needs_security_group = true;
        }
        InputType::RtmpPull | InputType::UrlPull | InputType::Mp4File | InputType::TsFile => {
            w.sources = pair(&ml.pri_url, &ml.sec_url);
            w.source_end_behavior = true;
        }
        InputType::InputDevice => w.devices = pair(&ml.pri_link, &ml.sec_link),
        InputType::MediaConnect => {
            w.flows = pair(&ml.pri_flow, &ml.sec_flow);
            w.needs_role = true;
        }
    }
    w
}

/// How the backup input of an automatic input failover pair is wired: the primary's wiring
/// with the backup's own flows (MEDIACONNECT). RTP and RTMP push backups take the same shape
/// as the primary (AWS gives each input its own endpoints, so RTMP stream names may repeat).
/// `None` when the workflow asks for no backup or its input type can't pair (`validate`
/// refuses that; this keeps a plan built from an unchecked workflow single-input).
pub fn backup_wiring(wf: &Workflow) -> Option<InputWiring> {
    let ml = &wf.media_live;
    if !ml.backup_input || !ml.input_type.can_fail_over() {
        return None;
    }
    let mut w = input_wiring(wf);
    if ml.input_type == InputType::MediaConnect {
        w.flows = [&ml.backup_pri_flow, &ml.backup_sec_flow]
            .into_iter()
            .take(ml.channel_class.pipelines())
            .cloned()
            .collect();
    }
    Some(w)
}

/// The names of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Names {
    pub prefix: String,
    pub event: String,
    pub nonce: String,
}

impl Names {
    pub fn base(&self) -> String {
        format!("{}-{}-{}", self.prefix, self.event, self.nonce)
    }
    pub fn secret(&self) -> String {
        format!("{}/{}/{}/cdn-identifier", self.prefix, self.event, self.nonce)
    }
    pub fn endpoint(&self, p: Packaging) -> String {
        format!("{}-{}", self.base(), p.suffix())
    }
    pub fn log_bucket(&self) -> String {
        format!("{}-cf-logs", self.base())
    }
    pub fn input(&self, t: InputType) -> String {
        format!("{}-{}", self.base(), t.as_str().to_ascii_lowercase().replace('_', "-"))
    }
    /// The backup input of the failover pair.
    pub fn backup_input(&self, t: InputType) -> String {
        format!("{}-backup", self.input(t))
    }
    /// Secrets Manager's ClientRequestToken: 32-64 characters, stable per deployment.
    pub fn secret_token(&self) -> String {
        let mut t = format!("{}-cdn-identifier-secret-token", self.base());
        t.truncate(64);
        t
    }
    /// Idempotency token for MediaLive creates (stable per deployment and resource).
    pub fn request_id(&self, key: &str) -> String {
        format!("{}-{key}", self.base())
    }
}

/// Tag keys every resource carries.
pub const TAG_EVENT: &str = "ottd:event";
pub const TAG_MANAGED_BY: &str = "ottd:managed-by";
pub const TAG_DEPLOYMENT: &str = "ottd:deployment";

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub event: String,
    pub names: Names,
    pub resources: Vec<Resource>,
    pub workflow: Arc<Workflow>,
    #[serde(skip)]
    pub profile: Arc<Profile>,
    pub profile_name: String,
    pub input: InputWiring,
    /// The backup input of an automatic input failover pair, when the workflow has one.
    pub backup: Option<InputWiring>,
    pub tags: Vec<(String, String)>,
}

pub const SECRET: &str = "secret";
pub const LOG_BUCKET: &str = "log-bucket";
pub const PACKAGE_CHANNEL: &str = "package-channel";
pub const SECURITY_GROUP: &str = "input-security-group";
pub const INPUT: &str = "input";
pub const BACKUP_INPUT: &str = "input-backup";
pub const CHANNEL: &str = "channel";
pub const DISTRIBUTION: &str = "distribution";

pub fn endpoint_key(p: Packaging) -> String {
    format!("endpoint-{}", p.suffix())
}

impl Plan {
    pub fn build(event: &Resolved, settings: &Settings, nonce: &str) -> Plan {
        let wf = &event.workflow;
        let names = Names { prefix: settings.prefix.clone(), event: event.spec.id.clone(), nonce: nonce.to_string() };
        let wiring = input_wiring(wf);
        let backup = backup_wiring(wf);
        let mut r = Vec::new();
        let res = |key: &str, kind, name: String, deps: &[&str], requests| Resource {
            key: key.to_string(),
            kind,
            name,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            requests,
        };
        r.push(res(SECRET, Kind::Secret, names.secret(), &[], 1));
        r.push(res(PACKAGE_CHANNEL, Kind::PackageChannel, names.base(), &[SECRET], 1));
        let mut packagings = vec![Packaging::Hls, Packaging::Dash, Packaging::Cmaf];
        if wf.media_package.mss_enabled {
            packagings.push(Packaging::Mss);
        }
        for p in &packagings {
            r.push(res(&endpoint_key(*p), Kind::Endpoint, names.endpoint(*p), &[PACKAGE_CHANNEL, SECRET], 1));
        }
        let mut cf_deps: Vec<String> = vec![endpoint_key(Packaging::Hls), SECRET.to_string()];
        if wf.cloud_front.access_logs {
            // create, then public-access block, encryption, ownership, policy, tags at once.
            r.push(res(LOG_BUCKET, Kind::LogBucket, names.log_bucket(), &[], 2));
            cf_deps.push(LOG_BUCKET.to_string());
        }
        let cf_deps: Vec<&str> = cf_deps.iter().map(String::as_str).collect();
        r.push(res(DISTRIBUTION, Kind::Distribution, names.base(), &cf_deps, 1));
        let mut input_deps = Vec::new();
        if wiring.needs_security_group {
            r.push(res(SECURITY_GROUP, Kind::SecurityGroup, names.base(), &[], 1));
            input_deps.push(SECURITY_GROUP);
        }
        r.push(res(INPUT, Kind::Input, names.input(wf.media_live.input_type), &input_deps, 1));
        let mut channel_deps = vec![INPUT, PACKAGE_CHANNEL];
        if backup.is_some() {
            // Same security group (push inputs), created beside the primary.
            let name = names.backup_input(wf.media_live.input_type);
            r.push(res(BACKUP_INPUT, Kind::Input, name, &input_deps, 1));
            channel_deps.push(BACKUP_INPUT);
        }
        // create, then one describe to see it leave CREATING.
        r.push(res(CHANNEL, Kind::Channel, names.base(), &channel_deps, 2));
        let mut tags = vec![
            (TAG_EVENT.to_string(), event.spec.id.clone()),
            (TAG_MANAGED_BY.to_string(), "ottd".to_string()),
            (TAG_DEPLOYMENT.to_string(), nonce.to_string()),
        ];
        tags.extend(settings.tags.iter().cloned());
        Plan {
            event: event.spec.id.clone(),
            names,
            resources: r,
            workflow: wf.clone(),
            profile: event.profile.clone(),
            profile_name: event.profile.name.clone(),
            input: wiring,
            backup,
            tags,
        }
    }

    pub fn resource(&self, key: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.key == key)
    }

    /// Longest chain of sequential AWS requests a fresh deploy needs when independent
    /// creations run concurrently: the floor of its wall time.
    pub fn critical_path(&self) -> u32 {
        fn depth(plan: &Plan, key: &str, seen: &mut Vec<String>) -> u32 {
            let Some(r) = plan.resource(key) else { return 0 };
            if seen.iter().any(|s| s == key) {
                return 0;
            }
            seen.push(key.to_string());
            let before = r.depends_on.iter().map(|d| depth(plan, d, seen)).max().unwrap_or(0);
            seen.pop();
            before + r.requests
        }
        self.resources.iter().map(|r| depth(self, &r.key, &mut Vec::new())).max().unwrap_or(0)
    }
}

/// A random per-deployment nonce: 8 lowercase hex digits.
pub fn new_nonce() -> String {
    format!("{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_tokens_fit_the_api_bounds_and_keep_the_nonce() {
        for event in ["a", "a-very-long-event-id-xx24"] {
            let n = Names { prefix: "ottd-prefix1".into(), event: event.into(), nonce: "1a2b3c4d".into() };
            let t = n.secret_token();
            assert!((32..=64).contains(&t.len()), "{t}");
            assert!(t.contains("1a2b3c4d"));
        }
    }
}
