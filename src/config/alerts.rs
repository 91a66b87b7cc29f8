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
//! remedy = "restart-pipeline"   # notify | restart-pipeline | restart-channel | start-channel
//! wait = "30s"                  # act if still SET after this long
//! ```

use std::time::Duration;

use super::reader::Table;
use crate::alerts::recovery::{Policies, Policy, Remedy};

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

const REMEDIES: [&str; 4] = ["notify", "restart-pipeline", "restart-channel", "start-channel"];

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertSettings {
    /// `bootstrap` creates the plumbing and the daemon consumes it.
    pub enabled: bool,
    /// The EventBridge rule also targets the SNS topic.
    pub sns_target: bool,
    pub policies: Policies,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings { enabled: true, sns_target: true, policies: Policies::shipped() }
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
    s
}

/// The wait of a policy as the README shows it.
pub fn describe(p: &Policy) -> String {
    if p.remedy == Remedy::Notify {
        "notify".to_string()
    } else {
        format!("{} after {}", p.remedy.as_str(), humantime::format_duration(Duration::from_secs(p.wait.as_secs())))
    }
}
