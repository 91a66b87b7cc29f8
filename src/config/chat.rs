//! `[chat]` of ottd.toml: the Slack and Discord adapters, who may do what, and which commands
//! need a confirmation or a second person. Tokens and secrets are never here: they come from
//! the environment or from `secrets_file` (read by chat's secrets module). The grants and
//! approval rules are plain data ([`super::grants`]).
//!
//! ```toml
//! [chat]
//! secrets_file = "/etc/ottd/chat.env"   # KEY=value lines (systemd EnvironmentFile format)
//! confirm_within = "2m"                 # a confirmation button works this long
//! approve_within = "15m"                # an approval request stays open this long
//! [chat.approval]                       # commands that need a second person
//! teardown = "always"                   # always | in-window | never
//! stop = "in-window"
//! [chat.slack]
//! mode = "socket"                       # socket | http | both
//! api_url = "https://slack.com/api"
//! watchdog = "30s"                      # reconnect when the socket is silent this long
//! team_id = "T0123ABCD"                 # our workspace: required by a slack:* grant
//! enterprise_id = "E0123ABCD"           # optional: our Enterprise Grid org
//! response_hosts = ["https://hooks.slack.com", "https://*.slack.com"]   # where follow-ups may go
//! max_in_flight = 32                    # requests handled at once; past it, "busy"
//! [chat.discord]
//! gateway = true                        # the serenity gateway client (else HTTP interactions only)
//! shard_down = "60s"                    # rebuild the client when its shard is down this long
//! shard_silent = "150s"                 # or its record has not changed this long
//! api_url = "https://discord.com/api/v10"
//! guild_id = "123456789012345678"       # /ott is registered in this guild; required by discord:*
//! max_in_flight = 32                    # interactions handled at once; past it, "busy"
//! [[chat.grant]]
//! role = "operator"                     # viewer | operator | admin
//! who = ["slack:group:S0LIVEOPS", "discord:role:1234"]
//! events = ["final", "semi-*"]          # optional: only these events
//! channels = ["slack:C0FINALS"]         # optional: only asked in these channels
//! ```

use std::path::PathBuf;
use std::time::Duration;

use super::grants::{Access, Approvals, Grant, Platform, Principal, Role, Rule};
use super::reader::Table;

pub mod limits {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    /// `chat.confirm_within`.
    pub const CONFIRM_WITHIN: RangeInclusive<Duration> = Duration::from_secs(10)..=Duration::from_secs(3600);
    /// `chat.approve_within`: Slack's `response_url` works 30 min, Discord's token 15 min;
    /// approvals are answered with the clicker's own interaction, so longer is fine.
    pub const APPROVE_WITHIN: RangeInclusive<Duration> = Duration::from_secs(60)..=Duration::from_secs(24 * 3600);
    /// `chat.slack.watchdog`.
    pub const WATCHDOG: RangeInclusive<Duration> = Duration::from_secs(2)..=Duration::from_secs(600);
    /// `chat.discord.shard_down`: how long the gateway's shard may stay disconnected.
    pub const SHARD_DOWN: RangeInclusive<Duration> = Duration::from_secs(5)..=Duration::from_secs(3600);
    /// `chat.discord.shard_silent`: how long the shard's record may stay unchanged (keep it
    /// well above Discord's heartbeat interval, about 41 s).
    pub const SHARD_SILENT: RangeInclusive<Duration> = Duration::from_secs(5)..=Duration::from_secs(3600);
    /// `chat.slack.max_in_flight`, `chat.discord.max_in_flight`: requests one adapter handles
    /// at once, each from its arrival to its last follow-up.
    pub const MAX_IN_FLIGHT: RangeInclusive<i64> = 1..=1024;
}

/// `max_in_flight`'s default: far above a live-ops team's pace, far below what would let
/// one person's burst of commands fan out into hundreds of AWS calls.
pub const MAX_IN_FLIGHT: usize = 32;
/// Where Slack's `response_url`s point (`*.` matches any subdomain).
pub const SLACK_RESPONSE_HOSTS: [&str; 2] = ["https://hooks.slack.com", "https://*.slack.com"];

pub const SLACK_API: &str = "https://slack.com/api";
pub const DISCORD_API: &str = "https://discord.com/api/v10";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SlackMode {
    /// Socket Mode: the daemon opens a WebSocket to Slack (no public URL needed).
    Socket,
    /// `POST /slack/commands` and `/slack/interactions` on the daemon's listener.
    Http,
    Both,
}

impl SlackMode {
    pub fn socket(self) -> bool {
        matches!(self, SlackMode::Socket | SlackMode::Both)
    }

    pub fn http(self) -> bool {
        matches!(self, SlackMode::Http | SlackMode::Both)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlackSettings {
    pub mode: SlackMode,
    /// Web API base (tests point it at a local stand-in).
    pub api_url: String,
    pub watchdog: Duration,
    /// Our workspace: requests from any other are refused. Required when a grant names
    /// `slack:*` (else "anyone" would be anyone who can invoke the app: other workspaces,
    /// Slack Connect guests).
    pub team_id: Option<String>,
    /// Our Enterprise Grid organization, when there is one: requests from others are refused.
    pub enterprise_id: Option<String>,
    /// Origins (`https://hooks.slack.com`, `https://*.slack.com`) follow-ups may be posted to:
    /// a `response_url` is taken from the request, and ottd must not post wherever it says.
    pub response_hosts: Vec<String>,
    /// Requests handled at once (see [`limits::MAX_IN_FLIGHT`]).
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DiscordSettings {
    pub gateway: bool,
    /// The gateway client is rebuilt when its shard stays disconnected this long…
    pub shard_down: Duration,
    /// …or its record (stage, heartbeat latency) does not change this long.
    pub shard_silent: Duration,
    /// HTTP API base, version included (tests point it at a local stand-in).
    pub api_url: String,
    /// Our server: interactions from any other, or from DMs, are refused. Required when a
    /// grant names `discord:*`.
    pub guild_id: Option<u64>,
    /// Interactions handled at once (see [`limits::MAX_IN_FLIGHT`]).
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChatSettings {
    pub secrets_file: Option<PathBuf>,
    pub access: Access,
    pub approvals: Approvals,
    pub slack: SlackSettings,
    pub discord: DiscordSettings,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            secrets_file: None,
            access: Access::default(),
            approvals: Approvals::default(),
            slack: SlackSettings {
                mode: SlackMode::Socket,
                api_url: SLACK_API.into(),
                watchdog: Duration::from_secs(30),
                team_id: None,
                enterprise_id: None,
                response_hosts: SLACK_RESPONSE_HOSTS.map(String::from).to_vec(),
                max_in_flight: MAX_IN_FLIGHT,
            },
            discord: DiscordSettings {
                gateway: true,
                shard_down: Duration::from_secs(60),
                shard_silent: Duration::from_secs(150),
                api_url: DISCORD_API.into(),
                guild_id: None,
                max_in_flight: MAX_IN_FLIGHT,
            },
        }
    }
}

/// One allowed origin of `[chat.slack] response_hosts` (chat's `response_url` module decides
/// which URLs it admits): a scheme, a host (or any subdomain of one, `*.slack.com`), a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub(crate) scheme: String,
    pub(crate) host: String,
    /// `*.host`: any subdomain of `host`, not `host` itself.
    pub(crate) subdomains: bool,
    /// The scheme's default when the origin names none.
    pub(crate) port: u16,
}

impl Origin {
    /// `https://hooks.slack.com`, `https://*.slack.com`, `http://127.0.0.1:8080`; `None` for
    /// anything else (a path, a query, credentials, another scheme).
    pub fn parse(s: &str) -> Option<Origin> {
        let (scheme, rest) = s.split_once("://")?;
        if !matches!(scheme, "http" | "https") || rest.is_empty() {
            return None;
        }
        let (subdomains, rest) = match rest.strip_prefix("*.") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        // Let the URL parser judge the host and port; anything past them is refused.
        let url = url::Url::parse(&format!("{scheme}://{rest}")).ok()?;
        let bare = url.path() == "/" && !rest.ends_with('/');
        if !bare || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return None;
        }
        let host = url.host_str()?.to_string();
        Some(Origin { scheme: scheme.to_string(), host, subdomains, port: url.port_or_known_default()? })
    }
}

const COMMANDS: [&str; 6] = ["deploy", "start", "stop", "teardown", "hold", "restart"];

pub fn compile(t: Option<&Table<'_, '_, '_>>, base: &std::path::Path) -> ChatSettings {
    let mut s = ChatSettings::default();
    let Some(t) = t else { return s };
    s.secrets_file = t.str("secrets_file").map(|p| super::reader::relative_to(base, p));
    if let Some(d) = t.duration_in("confirm_within", &limits::CONFIRM_WITHIN) {
        s.approvals.confirm_within = d;
    }
    if let Some(d) = t.duration_in("approve_within", &limits::APPROVE_WITHIN) {
        s.approvals.approve_within = d;
    }
    if let Some(a) = t.table("approval") {
        for command in a.keys() {
            if !COMMANDS.contains(&command) {
                a.error(command, format!("not a command that changes AWS (one of: {})", COMMANDS.join(", ")));
                continue;
            }
            if let Some(rule) = a.one_of(command, &Rule::NAMES).and_then(|r| Rule::parse(&r)) {
                s.approvals.rules.insert(command.to_string(), rule);
            }
        }
    }
    if let Some(sl) = t.table("slack") {
        if let Some(m) = sl.one_of("mode", &["socket", "http", "both"]) {
            s.slack.mode = match m.as_str() {
                "http" => SlackMode::Http,
                "both" => SlackMode::Both,
                _ => SlackMode::Socket,
            };
        }
        if let Some(u) = base_url(&sl, "api_url") {
            s.slack.api_url = u;
        }
        if let Some(d) = sl.duration_in("watchdog", &limits::WATCHDOG) {
            s.slack.watchdog = d;
        }
        s.slack.team_id = slack_id(&sl, "team_id", "team");
        s.slack.enterprise_id = slack_id(&sl, "enterprise_id", "Enterprise Grid organization");
        if let Some(hosts) = sl.strings("response_hosts") {
            for h in &hosts {
                if Origin::parse(h).is_none() {
                    sl.error(
                        "response_hosts",
                        format!("`{h}` is not an origin like https://hooks.slack.com or https://*.slack.com"),
                    );
                }
            }
            s.slack.response_hosts = hosts;
        }
        if let Some(n) = sl.int_within("max_in_flight", &limits::MAX_IN_FLIGHT) {
            s.slack.max_in_flight = usize::try_from(n).unwrap_or(MAX_IN_FLIGHT);
        }
    }
    if let Some(d) = t.table("discord") {
        s.discord.gateway = d.bool("gateway").unwrap_or(true);
        if let Some(v) = d.duration_in("shard_down", &limits::SHARD_DOWN) {
            s.discord.shard_down = v;
        }
        if let Some(v) = d.duration_in("shard_silent", &limits::SHARD_SILENT) {
            s.discord.shard_silent = v;
        }
        if let Some(u) = base_url(&d, "api_url") {
            s.discord.api_url = u;
        }
        if let Some(g) = d.str("guild_id") {
            match g.parse::<u64>() {
                Ok(id) if id > 0 => s.discord.guild_id = Some(id),
                _ => d.error("guild_id", format!("`{g}` is not a Discord id (a number, as a string)")),
            }
        }
        if let Some(n) = d.int_within("max_in_flight", &limits::MAX_IN_FLIGHT) {
            s.discord.max_in_flight = usize::try_from(n).unwrap_or(MAX_IN_FLIGHT);
        }
    }
    let scoped = Scoped { slack: s.slack.team_id.is_some(), discord: s.discord.guild_id.is_some() };
    s.access.grants = t.tables("grant").iter().filter_map(|g| grant(g, scoped)).collect();
    s
}

/// A Slack id (`T…`, `E…`): letters and digits.
fn slack_id(t: &Table<'_, '_, '_>, key: &str, what: &str) -> Option<String> {
    let id = t.str(key)?;
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Some(id)
    } else {
        t.error(key, format!("`{id}` is not a Slack {what} id (letters and digits, as Slack shows it)"));
        None
    }
}

/// Which platforms have their workspace or guild configured, so `*` grants mean "ours".
#[derive(Clone, Copy)]
struct Scoped {
    slack: bool,
    discord: bool,
}

fn base_url(t: &Table<'_, '_, '_>, key: &str) -> Option<String> {
    let u = t.str(key)?;
    match url::Url::parse(&u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => Some(u.trim_end_matches('/').into()),
        _ => {
            t.error(key, format!("`{u}` is not an http(s) URL"));
            None
        }
    }
}

fn grant(t: &Table<'_, '_, '_>, scoped: Scoped) -> Option<Grant> {
    if !t.has("role") {
        t.error("role", "required key is missing: viewer, operator or admin");
    }
    let role = t.one_of("role", &["viewer", "operator", "admin"]).and_then(|r| Role::parse(&r));
    if !t.has("who") {
        t.error("who", "required key is missing: e.g. [\"slack:U0123\", \"slack:group:S0123\", \"discord:role:123\"]");
    }
    let mut who = Vec::new();
    for w in t.strings("who").unwrap_or_default() {
        match Principal::parse(&w) {
            Some(p) => who.push(p),
            None => t.error(
                "who",
                format!("`{w}` names nobody: use slack:USERID, slack:group:GROUPID, slack:*, discord:USERID, discord:role:ROLEID or discord:*"),
            ),
        }
    }
    for p in &who {
        match p {
            Principal::Anyone(Platform::Slack) if !scoped.slack => t.error(
                "who",
                "`slack:*` needs [chat.slack] team_id: without it, anyone who can invoke the app (other workspaces, Slack Connect guests) is granted",
            ),
            Principal::Anyone(Platform::Discord) if !scoped.discord => t.error(
                "who",
                "`discord:*` needs [chat.discord] guild_id: without it, anyone in any server with the app, or in a DM, is granted",
            ),
            _ => {}
        }
    }
    let events = t.strings("events");
    let channels = t.strings("channels");
    for c in channels.iter().flatten() {
        if Principal::parse(c).is_none_or(|p| !matches!(p, Principal::User(..))) {
            t.error("channels", format!("`{c}` is not a channel: use slack:CHANNELID or discord:CHANNELID"));
        }
    }
    let role = role?;
    (!who.is_empty()).then_some(Grant { role, who, events, channels })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::doc::Source;
    use crate::config::reader::Ctx;

    fn load(text: &str) -> (ChatSettings, String) {
        let src = Source::inline("o.toml", text);
        let root = src.parse_toml().expect("parse");
        let ctx = Ctx::new(&src);
        let s = {
            let t = ctx.root(&root);
            compile(t.table("chat").as_ref(), std::path::Path::new("/etc/ottd"))
        };
        (s, ctx.into_diags().to_string())
    }

    #[test]
    fn defaults_deny_every_change_and_need_a_second_person_for_teardown() {
        let (s, diags) = load("");
        assert_eq!(diags, "");
        assert!(s.access.grants.is_empty());
        assert_eq!(s.approvals.rules.get("teardown"), Some(&Rule::Always));
        assert_eq!(s.approvals.rules.get("stop"), Some(&Rule::InWindow));
        assert_eq!(s.slack.mode, SlackMode::Socket);
    }

    #[test]
    fn a_full_table_reads_and_errors_are_positioned() {
        let text = r#"[chat]
secrets_file = "chat.env"
approve_within = "30m"
[chat.approval]
stop = "never"
deploy = "always"
[chat.slack]
mode = "both"
api_url = "http://127.0.0.1:9/api/"
[chat.discord]
gateway = false
guild_id = "42"
[[chat.grant]]
role = "operator"
who = ["slack:group:S1", "discord:role:7"]
events = ["final"]
channels = ["slack:C1"]
"#;
        let (s, diags) = load(text);
        assert_eq!(diags, "");
        assert_eq!(s.secrets_file, Some(PathBuf::from("/etc/ottd/chat.env")));
        assert_eq!(s.approvals.approve_within, Duration::from_secs(1800));
        assert_eq!(s.approvals.rules.get("stop"), Some(&Rule::Never));
        assert_eq!(s.approvals.rules.get("deploy"), Some(&Rule::Always));
        assert_eq!((s.slack.mode, s.slack.api_url.as_str()), (SlackMode::Both, "http://127.0.0.1:9/api"));
        assert_eq!((s.discord.gateway, s.discord.guild_id), (false, Some(42)));
        assert_eq!(s.access.grants.len(), 1);
        assert_eq!(s.access.grants[0].role, Role::Operator);

        let bad = r#"[chat]
confirm_within = "1s"
[chat.approval]
status = "always"
stop = "sometimes"
[chat.discord]
guild_id = "my-guild"
[[chat.grant]]
role = "boss"
who = ["alice"]
"#;
        let (s, diags) = load(bad);
        assert!(diags.contains("o.toml:2:18: chat.confirm_within:"), "{diags}");
        assert!(diags.contains("chat.approval.status: not a command that changes AWS"), "{diags}");
        assert!(diags.contains("o.toml:5:8: chat.approval.stop:"), "{diags}");
        assert!(diags.contains("chat.discord.guild_id: `my-guild` is not a Discord id"), "{diags}");
        assert!(diags.contains("chat.grant[0].role:") || diags.contains("chat.grant.role:"), "{diags}");
        assert!(diags.contains("`alice` names nobody"), "{diags}");
        assert!(s.access.grants.is_empty());
    }

    #[test]
    fn a_wildcard_grant_needs_the_workspace_or_guild_it_stands_for() {
        let open = "[[chat.grant]]\nrole = \"viewer\"\nwho = [\"slack:*\", \"discord:*\"]\n";
        let (_, diags) = load(open);
        assert!(diags.contains("o.toml:3:7: chat.grant[0].who: `slack:*` needs [chat.slack] team_id"), "{diags}");
        assert!(diags.contains("`discord:*` needs [chat.discord] guild_id"), "{diags}");
        let scoped = format!("[chat.slack]\nteam_id = \"T0LIVE\"\n[chat.discord]\nguild_id = \"42\"\n{open}");
        let (s, diags) = load(&scoped);
        assert_eq!(diags, "");
        assert_eq!((s.slack.team_id.as_deref(), s.discord.guild_id), (Some("T0LIVE"), Some(42)));
        let (_, diags) = load("[chat.slack]\nteam_id = \"not a team\"\nenterprise_id = \"\"\n");
        assert!(diags.contains("chat.slack.team_id: `not a team` is not a Slack team id"), "{diags}");
        assert!(diags.contains("chat.slack.enterprise_id:"), "{diags}");
    }

    #[test]
    fn response_urls_default_to_slacks_hosts_over_https() {
        let (s, diags) = load("");
        assert_eq!(diags, "");
        assert_eq!(s.slack.response_hosts, ["https://hooks.slack.com", "https://*.slack.com"]);
        let (s, diags) = load("[chat.slack]\nresponse_hosts = [\"http://127.0.0.1:8080\"]\n");
        assert_eq!(diags, "");
        assert_eq!(s.slack.response_hosts, ["http://127.0.0.1:8080"]);
        let (_, diags) =
            load("[chat.slack]\nresponse_hosts = [\"ftp://hooks.slack.com\", \"https://hooks.slack.com/path\"]\n");
        assert!(diags.contains("`ftp://hooks.slack.com` is not"), "{diags}");
        assert!(diags.contains("`https://hooks.slack.com/path` is not"), "{diags}");
    }
}
