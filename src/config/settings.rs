//! `config/ottd.toml`: where things are, how to reach AWS, naming, roles and time limits.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::doc::{Diags, Source};
use super::reader::{Ctx, Table};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Settings {
    pub file: PathBuf,
    /// AWS region; the standard chain (AWS_REGION, profile) when absent.
    pub region: Option<String>,
    /// Named profile of the shared AWS config files.
    pub profile: Option<String>,
    pub state_path: PathBuf,
    pub default_workflow: PathBuf,
    pub schedules_dir: PathBuf,
    pub profiles_dir: PathBuf,
    /// Start of every AWS name ottd makes, so its resources are recognisable in the console.
    pub prefix: String,
    /// Extra tags on every resource (cost allocation, owner).
    pub tags: Vec<(String, String)>,
    pub medialive_role_arn: Option<String>,
    pub mediapackage_role_arn: Option<String>,
    pub engine: EngineSettings,
    pub daemon: DaemonSettings,
    /// `[state]`: where the state lives (this machine's file, or a DynamoDB table shared by a
    /// group of daemons).
    pub state: StateBackend,
    /// `[lease]`: how long an event's lease lasts and how its holder keeps it.
    pub lease: crate::lease::LeaseSettings,
    /// `[alerts]`: the alert plumbing and recovery policies.
    pub alerts: super::alerts::AlertSettings,
    /// `[chat]`: Slack and Discord, who may do what, confirmations and approvals.
    pub chat: super::chat::ChatSettings,
    /// `[probe]`: "on air" only when the stream is live at both hops; watching while live.
    pub probe: super::probe::ProbeSettings,
    /// `[cost]`: the price table estimates and run costs are computed with.
    pub cost: CostSettings,
    /// `[preview]`: where the preview page's players come from.
    pub preview: super::preview::PreviewSettings,
}

/// `[cost]`: which price table (`crate::cost::prices`) to use.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CostSettings {
    /// `prices`, relative to ottd.toml; `prices.toml` beside it when not set.
    pub prices: PathBuf,
    /// Whether `prices` was set: a table named must exist; without one, the table shipped
    /// with ottd stands in for a missing `prices.toml`.
    pub explicit: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EngineSettings {
    /// How long `start` waits for RUNNING (MediaLive: usually < 3 min, up to 10 is normal).
    pub start_timeout: Duration,
    /// How long `stop` (and teardown's stop) waits for IDLE.
    pub stop_timeout: Duration,
    /// Longest pause between two status polls.
    pub poll_interval: Duration,
    /// How long teardown waits for a disabled distribution before leaving it for the next run.
    pub distribution_wait: Duration,
    /// Attempts per AWS call for throttling, 5xx and timeouts (the SDK's standard retry).
    pub max_attempts: u32,
    /// Ceiling of one AWS call including its retries.
    pub call_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DaemonSettings {
    /// Any address:port the parser takes (port 0..=65535; 0 = a free port the OS picks, which
    /// the daemon logs: for tests and the demo).
    pub listen: SocketAddr,
    /// A managed channel RUNNING outside every window longer than this is stopped.
    pub max_idle_running: Duration,
    /// How often the daemon reconciles everything even without a wake-up.
    pub resync_interval: Duration,
    /// When the state file's upkeep runs: a 6-field cron expression, UTC.
    pub upkeep: String,
    /// Step log rows older than this are pruned at upkeep (the latest few per step are kept).
    pub keep_step_log: Duration,
    /// The daemon's address as people reach it (a proxy in front of `listen`), without a
    /// trailing slash: links to its pages (the preview page) start with it.
    pub public_url: Option<String>,
}

impl DaemonSettings {
    /// Where links to the daemon's pages start: `public_url`, else `http://<listen>` (see
    /// [`DaemonSettings::link_base`]).
    pub fn base_url(&self) -> String {
        self.link_base(self.listen, host_name().as_deref())
    }

    /// Where links start for a daemon bound to `addr`: `public_url`; else the address, a
    /// wildcard one (`0.0.0.0`, `[::]`) named by `host`, the machine's name, since nobody can
    /// open a link to 0.0.0.0 (no host: the loopback address, which at least works on the box).
    pub fn link_base(&self, addr: SocketAddr, host: Option<&str>) -> String {
        if let Some(u) = &self.public_url {
            return u.clone();
        }
        match (addr.ip().is_unspecified(), host) {
            (false, _) => format!("http://{addr}"),
            (true, Some(h)) => format!("http://{h}:{}", addr.port()),
            (true, None) if addr.is_ipv6() => format!("http://[::1]:{}", addr.port()),
            (true, None) => format!("http://127.0.0.1:{}", addr.port()),
        }
    }
}

/// This machine's name (Linux: `/proc/sys/kernel/hostname`), if it has one.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty())
}

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StateBackend {
    /// The SQLite file at `paths.state`: one daemon (and the commands run beside it).
    Sqlite,
    /// One DynamoDB table, shared by every daemon of a group (region and credentials from the
    /// standard chain, like every other AWS call).
    Dynamodb { table: String },
}

/// The DynamoDB table's name when `[state] table` is not given.
pub const DEFAULT_TABLE: &str = "ottd-state";

/// The state file's upkeep: every day at 04:30 UTC.
pub const DEFAULT_UPKEEP: &str = "0 30 4 * * *";

/// What each number of `ottd.toml` may be (inclusive). `ottd validate` refuses anything else,
/// naming the key, so the daemon never starts with a value it cannot live with (a zero
/// interval panics tokio; a timeout of centuries overflows the clock arithmetic).
pub mod limits {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    const S: u64 = 1;
    const M: u64 = 60 * S;
    const H: u64 = 60 * M;
    const D: u64 = 24 * H;
    /// humantime's year (365.25 days), so `10y` is the bound itself.
    const Y: u64 = 31_557_600;

    const fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// `engine.start_timeout`: MediaLive starts in under 3 minutes, a STANDARD channel up to 10.
    pub const START_TIMEOUT: RangeInclusive<Duration> = secs(10 * S)..=secs(2 * H);
    /// `engine.stop_timeout`.
    pub const STOP_TIMEOUT: RangeInclusive<Duration> = secs(10 * S)..=secs(2 * H);
    /// `engine.poll_interval`: below 100 ms the engine would poll AWS in a busy loop.
    pub const POLL_INTERVAL: RangeInclusive<Duration> = Duration::from_millis(100)..=secs(5 * M);
    /// `engine.distribution_wait`: 0 leaves every distribution deletion to the next teardown.
    pub const DISTRIBUTION_WAIT: RangeInclusive<Duration> = secs(0)..=secs(2 * H);
    /// `engine.max_attempts`: attempts per AWS call.
    pub const MAX_ATTEMPTS: RangeInclusive<i64> = 1..=10;
    /// `engine.call_timeout`: one AWS call with its retries (each attempt gets half).
    pub const CALL_TIMEOUT: RangeInclusive<Duration> = secs(S)..=secs(10 * M);
    /// `daemon.max_idle_running`: the cost guard's patience.
    pub const MAX_IDLE_RUNNING: RangeInclusive<Duration> = secs(M)..=secs(7 * D);
    /// `daemon.resync_interval`: tokio refuses a zero interval.
    pub const RESYNC_INTERVAL: RangeInclusive<Duration> = secs(S)..=secs(D);
    /// `daemon.keep_step_log`: the upkeep's horizon.
    pub const KEEP_STEP_LOG: RangeInclusive<Duration> = secs(D)..=secs(10 * Y);
}

const PREFIX_RULE: &str = "must be 1-12 characters of a-z, 0-9 and -, starting with a letter";

pub fn valid_prefix(p: &str) -> bool {
    (1..=12).contains(&p.len())
        && p.starts_with(|c: char| c.is_ascii_lowercase())
        && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings, Diags> {
        let src = Source::read(path)?;
        let root = src.parse_toml()?;
        let ctx = Ctx::new(&src);
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let settings = {
            let t = ctx.root(&root);
            compile(&t, &base, path)
        };
        ctx.into_diags().finish(settings)
    }
}

fn compile(t: &Table<'_, '_, '_>, base: &Path, file: &Path) -> Settings {
    let aws = t.table("aws");
    let (region, profile) = match &aws {
        Some(a) => (a.str("region"), a.str("profile")),
        None => (None, None),
    };
    let paths = t.table("paths");
    let path_or = |key: &str, dflt: &str| -> PathBuf {
        let v = paths.as_ref().and_then(|p| p.str(key)).unwrap_or_else(|| dflt.to_string());
        super::reader::relative_to(base, v)
    };
    let state_path = path_or("state", "ottd.db");
    let default_workflow = path_or("workflow", "workflow.toml");
    let schedules_dir = path_or("schedules", "../schedules");
    let profiles_dir = path_or("encoding_profiles", "../encoding-profiles");

    let naming = t.table("naming");
    let prefix = naming.as_ref().and_then(|n| n.str("prefix")).unwrap_or_else(|| "ottd".into());
    if !valid_prefix(&prefix) {
        match &naming {
            Some(n) => n.error("prefix", PREFIX_RULE),
            None => t.error("naming", PREFIX_RULE),
        }
    }
    let mut tags = Vec::new();
    if let Some(tt) = t.table("tags") {
        for key in tt.keys() {
            if let Some(v) = tt.str(key) {
                if key.starts_with("ottd:") || key.starts_with("aws:") {
                    tt.error(key, "tags starting with ottd: or aws: are reserved");
                } else {
                    tags.push((key.to_string(), v));
                }
            }
        }
    }
    let roles = t.table("roles");
    let arn = |key: &str| {
        let v = roles.as_ref().and_then(|r| r.str(key)).filter(|v| !v.is_empty());
        if let (Some(v), Some(r)) = (&v, &roles) {
            if !v.starts_with("arn:") || !v.contains(":role/") {
                r.error(key, format!("`{v}` is not an IAM role ARN"));
            }
        }
        v
    };
    let medialive_role_arn = arn("medialive");
    let mediapackage_role_arn = arn("mediapackage");

    let engine = t.table("engine");
    let dur = |t: &Option<Table<'_, '_, '_>>, key: &str, range: &RangeInclusive<Duration>, dflt: u64| {
        t.as_ref().and_then(|e| e.duration_in(key, range)).unwrap_or(Duration::from_secs(dflt))
    };
    let engine_settings = EngineSettings {
        start_timeout: dur(&engine, "start_timeout", &limits::START_TIMEOUT, 15 * 60),
        stop_timeout: dur(&engine, "stop_timeout", &limits::STOP_TIMEOUT, 10 * 60),
        poll_interval: dur(&engine, "poll_interval", &limits::POLL_INTERVAL, 5),
        distribution_wait: dur(&engine, "distribution_wait", &limits::DISTRIBUTION_WAIT, 30 * 60),
        max_attempts: engine
            .as_ref()
            .and_then(|e| e.int_within("max_attempts", &limits::MAX_ATTEMPTS))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(5),
        call_timeout: dur(&engine, "call_timeout", &limits::CALL_TIMEOUT, 60),
    };
    let daemon = t.table("daemon");
    let listen = daemon.as_ref().and_then(|d| {
        let v = d.str("listen")?;
        match v.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                d.error("listen", format!("`{v}` is not an address:port such as 127.0.0.1:9180"));
                None
            }
        }
    });
    let daemon_settings = DaemonSettings {
        listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9180))),
        max_idle_running: dur(&daemon, "max_idle_running", &limits::MAX_IDLE_RUNNING, 10 * 60),
        resync_interval: dur(&daemon, "resync_interval", &limits::RESYNC_INTERVAL, 60),
        upkeep: daemon
            .as_ref()
            .and_then(|d| {
                let expr = d.str("upkeep")?;
                crate::schedule::timing::parse_cron(&expr).map_err(|e| d.error("upkeep", e)).ok()?;
                Some(expr)
            })
            .unwrap_or_else(|| DEFAULT_UPKEEP.to_string()),
        keep_step_log: dur(&daemon, "keep_step_log", &limits::KEEP_STEP_LOG, 90 * 24 * 3600),
        public_url: daemon.as_ref().and_then(|d| {
            let v = d.str("public_url")?;
            super::preview::public_url(&v).map_err(|e| d.error("public_url", e)).ok()
        }),
    };
    let state = state_backend(t);
    let lease = lease_settings(t);
    let cost = t.table("cost");
    let prices = cost.as_ref().and_then(|c| c.str("prices"));
    let cost = CostSettings {
        explicit: prices.is_some(),
        prices: super::reader::relative_to(base, prices.unwrap_or_else(|| "prices.toml".to_string())),
    };
    Settings {
        file: file.to_path_buf(),
        region,
        profile,
        state_path,
        default_workflow,
        schedules_dir,
        profiles_dir,
        prefix,
        tags,
        medialive_role_arn,
        mediapackage_role_arn,
        engine: engine_settings,
        daemon: daemon_settings,
        state,
        lease,
        alerts: super::alerts::compile(t.table("alerts").as_ref()),
        chat: super::chat::compile(t.table("chat").as_ref(), base),
        probe: super::probe::compile(t.table("probe").as_ref()),
        cost,
        preview: super::preview::compile(t.table("preview").as_ref(), base),
    }
}

fn state_backend(t: &Table<'_, '_, '_>) -> StateBackend {
    let Some(st) = t.table("state") else { return StateBackend::Sqlite };
    let table = st.str("table");
    match st.str("backend").as_deref() {
        None | Some("sqlite") => {
            if table.is_some() {
                st.error("table", "only used with backend = \"dynamodb\"");
            }
            StateBackend::Sqlite
        }
        Some("dynamodb") => {
            let table = table.unwrap_or_else(|| DEFAULT_TABLE.to_string());
            // DynamoDB's rule for table names.
            let ok = (3..=255).contains(&table.len())
                && table.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !ok {
                st.error("table", format!("`{table}` is not a DynamoDB table name (3-255 of a-z, A-Z, 0-9, _ - .)"));
            }
            StateBackend::Dynamodb { table }
        }
        Some(other) => {
            st.error("backend", format!("`{other}` is not a state backend: sqlite or dynamodb"));
            StateBackend::Sqlite
        }
    }
}

fn lease_settings(t: &Table<'_, '_, '_>) -> crate::lease::LeaseSettings {
    use crate::lease::{LeaseSettings, DURATION_RANGE, RETRY_RANGE};
    let d = LeaseSettings::default();
    let Some(l) = t.table("lease") else { return d };
    let s = LeaseSettings {
        duration: l.duration_in("duration", &(DURATION_RANGE.0..=DURATION_RANGE.1)).unwrap_or(d.duration),
        renew_deadline: l
            .duration_in("renew_deadline", &(RETRY_RANGE.0..=DURATION_RANGE.1))
            .unwrap_or(d.renew_deadline),
        retry: l.duration_in("retry", &(RETRY_RANGE.0..=RETRY_RANGE.1)).unwrap_or(d.retry),
    };
    for (field, why) in s.problems() {
        if field != "duration" && field != "retry" {
            l.error(field, why);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_config_file_and_errors_are_positioned() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ottd.toml");
        std::fs::write(
            &path,
            "[naming]\nprefix = \"Bad_Prefix\"\n[roles]\nmedialive = \"nope\"\n[engine]\npoll_interval = \"soon\"\n[daemon]\nupkeep = \"0 30 4 * *\"\n",
        )
        .expect("write");
        let err = Settings::load(&path).expect_err("invalid").to_string();
        assert!(err.contains("ottd.toml:2:10: naming.prefix: must be 1-12 characters"), "{err}");
        assert!(err.contains("ottd.toml:4:13: roles.medialive: `nope` is not an IAM role ARN"), "{err}");
        assert!(err.contains("engine.poll_interval: `soon` is not a duration"), "{err}");
        assert!(err.contains("ottd.toml:8:10: daemon.upkeep: `0 30 4 * *` needs 6 fields"), "{err}");

        std::fs::write(&path, "[daemon]\nlisten = \"127.0.0.1:9180\"\npublic_url = \"ottd.example.net\"\n")
            .expect("write");
        let err = Settings::load(&path).expect_err("invalid").to_string();
        assert!(err.contains("ottd.toml:3:14: daemon.public_url: `ottd.example.net` is not a URL"), "{err}");

        std::fs::write(&path, "[paths]\nstate = \"state/ottd.db\"\n").expect("write");
        let s = Settings::load(&path).expect("valid");
        assert_eq!(s.state_path, dir.path().join("state/ottd.db"));
        assert_eq!(s.prefix, "ottd");
        assert_eq!(s.daemon.base_url(), "http://127.0.0.1:9180", "no public_url: the listen address");
        let wild: SocketAddr = "0.0.0.0:9180".parse().expect("addr");
        assert_eq!(s.daemon.link_base(wild, Some("live-1")), "http://live-1:9180", "never a link to 0.0.0.0");
        assert_eq!(s.daemon.link_base(wild, None), "http://127.0.0.1:9180");
        assert_eq!(s.daemon.link_base("[::]:9180".parse().expect("addr"), None), "http://[::1]:9180");
        let public = DaemonSettings { public_url: Some("https://ottd.example.net".into()), ..s.daemon.clone() };
        assert_eq!(public.link_base(wild, Some("live-1")), "https://ottd.example.net");
        assert_eq!(s.preview.assets, dir.path().join("../web/node_modules"));
        assert_eq!(s.engine.start_timeout, Duration::from_secs(900));
        assert_eq!(
            (s.daemon.upkeep.as_str(), s.daemon.keep_step_log),
            (DEFAULT_UPKEEP, Duration::from_secs(90 * 86400))
        );
    }

    #[test]
    fn values_the_daemon_cannot_live_with_are_refused_at_load() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ottd.toml");
        let text = "[engine]\npoll_interval = \"0s\"\ncall_timeout = \"1ns\"\nmax_attempts = 0\n[daemon]\nresync_interval = \"0s\"\nmax_idle_running = \"999999999999d\"\nkeep_step_log = \"11y\"\n";
        std::fs::write(&path, text).expect("write");
        let err = Settings::load(&path).expect_err("invalid").to_string();
        let name = path.display();
        let want = [
            format!("{name}:2:17: engine.poll_interval: `0s` is out of range: must be between 100ms and 5m"),
            format!("{name}:3:16: engine.call_timeout: `1ns` is out of range: must be between 1s and 10m"),
            format!("{name}:4:16: engine.max_attempts: 0 is out of range 1..=10"),
            format!("{name}:6:19: daemon.resync_interval: `0s` is out of range: must be between 1s and 1day"),
            format!(
                "{name}:7:20: daemon.max_idle_running: `999999999999d` is out of range: must be between 1m and 7days"
            ),
            format!("{name}:8:17: daemon.keep_step_log: `11y` is out of range: must be between 1day and 10years"),
        ];
        assert_eq!(err.lines().collect::<Vec<_>>(), want, "{err}");
    }

    #[test]
    fn lease_settings_and_the_state_backend_are_checked_with_file_line_and_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ottd.toml");
        let text =
            "[lease]\nduration = \"10s\"\nrenew_deadline = \"10s\"\nretry = \"1ms\"\n[state]\nbackend = \"postgres\"\n";
        std::fs::write(&path, text).expect("write");
        let err = Settings::load(&path).expect_err("invalid").to_string();
        let name = path.display();
        assert!(err.contains(&format!("{name}:4:9: lease.retry: `1ms` is out of range")), "{err}");
        assert!(err.contains("lease.renew_deadline: must be shorter than duration (10s)"), "{err}");
        assert!(err.contains(&format!("{name}:6:11: state.backend: `postgres` is not a state backend")), "{err}");

        std::fs::write(&path, "[state]\nbackend = \"dynamodb\"\n[lease]\nduration = \"30s\"\n").expect("write");
        let s = Settings::load(&path).expect("valid");
        assert_eq!(s.state, StateBackend::Dynamodb { table: DEFAULT_TABLE.into() });
        assert_eq!(s.lease.duration, Duration::from_secs(30));
        assert_eq!(s.lease.renew_deadline, Duration::from_secs(10), "the others keep their defaults");
        std::fs::write(&path, "[state]\ntable = \"x\"\n").expect("write");
        let err = Settings::load(&path).expect_err("a table without dynamodb").to_string();
        assert!(err.contains("state.table: only used with backend = \"dynamodb\""), "{err}");
    }

    #[test]
    fn the_defaults_lie_within_their_ranges_and_the_bounds_themselves_are_accepted() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ottd.toml");
        std::fs::write(&path, "").expect("write");
        let s = Settings::load(&path).expect("defaults");
        let (e, d) = (&s.engine, &s.daemon);
        assert!(limits::START_TIMEOUT.contains(&e.start_timeout) && limits::STOP_TIMEOUT.contains(&e.stop_timeout));
        assert!(limits::POLL_INTERVAL.contains(&e.poll_interval) && limits::CALL_TIMEOUT.contains(&e.call_timeout));
        assert!(limits::DISTRIBUTION_WAIT.contains(&e.distribution_wait));
        assert!(limits::MAX_ATTEMPTS.contains(&i64::from(e.max_attempts)));
        assert!(limits::MAX_IDLE_RUNNING.contains(&d.max_idle_running));
        assert!(limits::RESYNC_INTERVAL.contains(&d.resync_interval));
        assert!(limits::KEEP_STEP_LOG.contains(&d.keep_step_log));

        let text = "[engine]\npoll_interval = \"100ms\"\nstart_timeout = \"2h\"\n[daemon]\nresync_interval = \"1s\"\nkeep_step_log = \"10y\"\n";
        std::fs::write(&path, text).expect("write");
        let s = Settings::load(&path).unwrap_or_else(|e| panic!("bounds are valid: {e}"));
        assert_eq!(s.engine.poll_interval, Duration::from_millis(100));
        assert_eq!(s.daemon.keep_step_log, *limits::KEEP_STEP_LOG.end());
    }
}
