//! `[probe]` of ottd.toml: the stream probe that says "on air" only when viewers see it, and
//! watches the stream while the event is on air.
//!
//! ```toml
//! [probe]
//! enabled = true          # false: "on air" when MediaLive says RUNNING (the old way)
//! deadline = "5m"         # after RUNNING, how long `start` waits for a live stream
//! every = "6s"            # while on air; default: one target duration of the stream
//! cdn_ttl = "2s"          # how long CloudFront may cache a manifest (adds to freshness)
//! timeout = "5s"          # one request
//! connect_to = ["*.cloudfront.net=127.0.0.1:8443"]  # closed networks and the emulator
//! ca_bundle = "extra-ca.pem"   # CAs trusted besides the system's (the emulator's test CA)
//! ```

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use super::reader::Table;

pub mod limits {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    /// `probe.deadline`: MediaPackage publishes within a few segments of the first input.
    pub const DEADLINE: RangeInclusive<Duration> = Duration::from_secs(5)..=Duration::from_secs(3600);
    /// `probe.every`: cheaper than a second is pointless (segments last seconds).
    pub const EVERY: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(600);
    pub const CDN_TTL: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(600);
    pub const TIMEOUT: RangeInclusive<Duration> = Duration::from_millis(200)..=Duration::from_secs(60);
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProbeSettings {
    pub enabled: bool,
    pub deadline: Duration,
    /// None: one target duration of the stream.
    pub every: Option<Duration>,
    pub cdn_ttl: Duration,
    pub timeout: Duration,
    /// Host patterns (`name` or `*.suffix`) sent to a fixed address instead of DNS.
    pub connect_to: Vec<(String, SocketAddr)>,
    pub ca_bundle: Option<PathBuf>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            enabled: true,
            deadline: Duration::from_secs(300),
            every: None,
            cdn_ttl: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            connect_to: Vec::new(),
            ca_bundle: None,
        }
    }
}

impl ProbeSettings {
    /// How often to look while on air, for a stream of `target` seconds per segment: every
    /// target duration by default, so a stream that stops is called stale within three (the
    /// first look two target durations after its newest segment ended, by its program
    /// date-time, or after the look that last saw it move).
    pub fn interval(&self, target: Option<u64>) -> Duration {
        self.every.unwrap_or_else(|| Duration::from_secs(target.unwrap_or(3).clamp(1, 30)))
    }
}

/// `name=ip:port` where name is a host or `*.suffix`.
fn connect_rule(v: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = v.split_once('=').ok_or_else(|| format!("`{v}` is not host=address:port"))?;
    let name = name.trim().to_ascii_lowercase();
    let bare = name.strip_prefix("*.").unwrap_or(&name);
    if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        return Err(format!("`{name}` is not a host name or *.suffix"));
    }
    let addr: SocketAddr =
        addr.trim().parse().map_err(|_| format!("`{}` is not an address:port such as 127.0.0.1:8443", addr.trim()))?;
    Ok((name, addr))
}

pub fn compile(t: Option<&Table<'_, '_, '_>>) -> ProbeSettings {
    let d = ProbeSettings::default();
    let Some(t) = t else { return d };
    let dur = |key: &str, range: &RangeInclusive<Duration>, dflt: Duration| t.duration_in(key, range).unwrap_or(dflt);
    let mut connect_to = Vec::new();
    for v in t.strings("connect_to").unwrap_or_default() {
        match connect_rule(&v) {
            Ok(r) => connect_to.push(r),
            Err(e) => t.error("connect_to", e),
        }
    }
    let ca_bundle = t.str("ca_bundle").map(|p| super::reader::relative_to(&t.base_dir(), p));
    if let Some(p) = &ca_bundle {
        if !p.is_file() {
            t.error("ca_bundle", format!("{} is not a readable file", p.display()));
        }
    }
    ProbeSettings {
        enabled: t.bool("enabled").unwrap_or(d.enabled),
        deadline: dur("deadline", &limits::DEADLINE, d.deadline),
        every: t.duration_in("every", &limits::EVERY),
        cdn_ttl: dur("cdn_ttl", &limits::CDN_TTL, d.cdn_ttl),
        timeout: dur("timeout", &limits::TIMEOUT, d.timeout),
        connect_to,
        ca_bundle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_rules_take_hosts_and_suffixes_and_say_what_is_wrong() {
        assert_eq!(
            connect_rule("*.CloudFront.net=127.0.0.1:8443"),
            Ok(("*.cloudfront.net".into(), "127.0.0.1:8443".parse().expect("addr")))
        );
        assert!(connect_rule("a.b=[::1]:9").is_ok());
        assert!(connect_rule("nope").expect_err("no =").contains("host=address:port"));
        assert!(connect_rule("a b=127.0.0.1:1").expect_err("space").contains("not a host name"));
        assert!(connect_rule("x=localhost").expect_err("no port").contains("address:port"));
        let s = ProbeSettings::default();
        assert_eq!(s.interval(Some(6)), Duration::from_secs(6));
        assert_eq!(s.interval(None), Duration::from_secs(3));
    }
}
