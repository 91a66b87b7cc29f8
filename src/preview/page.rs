//! The preview page's HTML, its Content-Security-Policy, and the JSON its script polls: pure
//! functions of what the handlers read, tested without a server.
//!
//! The page holds no inline script or style. Everything it needs to know (the playback URLs,
//! where to poll) is in `data-` attributes that `preview.js` reads, so the policy can forbid
//! inline code entirely and allow media only from the event's CloudFront host.

use serde::Serialize;

use super::assets::{Player, CDN_ORIGIN};
use crate::daemon::stream_watch::Latest;

/// Where the page loads a player from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `/preview/assets/<file>`, from `[preview] assets`.
    Local,
    /// The pinned file on the CDN (`player_cdn = true`, and the local file is missing).
    Cdn,
    /// Nowhere: the page says the player is unavailable.
    Missing,
}

/// What one page shows.
#[derive(Debug, Clone)]
pub struct Page<'a> {
    pub event: &'a str,
    /// The token, for the state URL the script polls (the page's own URL has it too).
    pub token: &'a str,
    /// The CloudFront host the players fetch from (none: not deployed).
    pub domain: Option<&'a str>,
    pub hls: Option<&'a str>,
    pub dash: Option<&'a str>,
    pub hls_from: Source,
    pub dash_from: Source,
}

/// Whether `host` may go into the policy as `https://<host>`: a DNS name (and port) only, so
/// no value from the state can add a directive.
pub fn valid_host(host: &str) -> bool {
    let (name, port) = host.rsplit_once(':').map_or((host, None), |(n, p)| (n, Some(p)));
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !name.starts_with(['.', '-'])
        && port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
}

/// The page's Content-Security-Policy: scripts and style from the daemon only (and the CDN
/// when a player comes from it), media and requests to the daemon and the event's CloudFront
/// host, `blob:` for Media Source Extensions and hls.js's transmuxing worker, nothing else.
pub fn csp(domain: Option<&str>, cdn: bool) -> String {
    let cdn = if cdn { format!(" {CDN_ORIGIN}") } else { String::new() };
    let media = domain.filter(|d| valid_host(d)).map(|d| format!(" https://{d}")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'{cdn}; style-src 'self'; img-src 'self'; \
         media-src blob:{media}; connect-src 'self'{media}; worker-src blob:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Text for HTML content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn script(p: Player, from: Source) -> String {
    match from {
        Source::Local => format!("<script src=\"assets/{}\"></script>\n", p.file()),
        Source::Cdn => format!(
            "<script src=\"{}\" integrity=\"{}\" crossorigin=\"anonymous\"></script>\n",
            escape(&p.cdn_url()),
            p.integrity()
        ),
        Source::Missing => String::new(),
    }
}

fn player(p: Player, id: &str, format: &str, url: Option<&str>, from: Source) -> String {
    let from_label = match from {
        Source::Local => "local",
        Source::Cdn => "cdn",
        Source::Missing => "missing",
    };
    let version = p.package().1;
    format!(
        r#"<article class="player" id="{id}" data-src="{src}" data-player="{from_label}">
<h2>{format} <small>{label} {version}</small></h2>
<video muted autoplay playsinline controls></video>
<dl>
<dt>player</dt><dd class="status">starting</dd>
<dt>position</dt><dd class="time">–</dd>
<dt>latency</dt><dd class="latency">–</dd>
</dl>
<p class="url">{url}</p>
</article>
"#,
        src = escape(url.unwrap_or("")),
        label = escape(p.label()),
        url = escape(url.unwrap_or("no playback URL: the event is not deployed")),
        version = escape(version),
        format = format,
        id = id,
        from_label = from_label,
    )
}

/// The page: two players side by side, the probe's word, the latencies.
pub fn render(p: &Page<'_>) -> String {
    let event = escape(p.event);
    let state_url = format!(
        "{}/state?t={}",
        crate::engine::report::encode_query_value(p.event),
        crate::engine::report::encode_query_value(p.token)
    );
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{event} · ottd preview</title>
<link rel="stylesheet" href="assets/preview.css">
</head>
<body>
<main id="preview" data-event="{event}" data-state="{state}" data-domain="{domain}">
<header>
<h1>{event} <small>preview</small></h1>
<p class="probe">probe: <span id="probe-state" class="state">waiting</span> <span id="probe-diagnosis"></span></p>
<p class="meta"><span id="phase"></span> <span id="probe-at"></span></p>
</header>
<section class="players">
{hls}{dash}</section>
<footer>The probe's word is ottd's own look at the origin and CloudFront; the players show what a viewer sees.</footer>
</main>
{hls_script}{dash_script}<script src="assets/preview.js"></script>
</body>
</html>
"#,
        state = escape(&state_url),
        domain = escape(p.domain.unwrap_or("")),
        hls = player(Player::Hls, "hls", "HLS", p.hls, p.hls_from),
        dash = player(Player::Dash, "dash", "DASH", p.dash, p.dash_from),
        hls_script = script(Player::Hls, p.hls_from),
        dash_script = script(Player::Dash, p.dash_from),
    )
}

/// What `GET /preview/<event>/state` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateView {
    pub event: String,
    /// The event's phase in the state (none: never deployed).
    pub phase: Option<&'static str>,
    /// The CloudFront host the playback URLs use (none: not deployed); the page reloads
    /// itself when it changes, for its policy and players.
    pub domain: Option<String>,
    /// The stream probe's latest word (none: the probe is off, or has not looked yet).
    pub probe: Option<ProbeView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeView {
    /// `live`, `not yet`, `stale` or `broken`.
    pub state: &'static str,
    pub diagnosis: String,
    /// When it looked (RFC 3339).
    pub at: String,
    /// Stale or broken since.
    pub since: Option<String>,
    /// Live: how old the newest segment was, in seconds.
    pub age_s: Option<f64>,
}

impl From<&Latest> for ProbeView {
    fn from(l: &Latest) -> ProbeView {
        let age_s = match &l.state {
            crate::probe::OnAir::Live { age } => age.map(|a| a.as_secs_f64()),
            _ => None,
        };
        ProbeView {
            state: l.state.label(),
            diagnosis: l.diagnosis.clone(),
            at: l.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            since: l.since.map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            age_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page<'a>(domain: Option<&'a str>) -> Page<'a> {
        Page {
            event: "final",
            token: "ab12",
            domain,
            hls: domain.map(|_| "https://d1.cloudfront.net/out/v1/h/index.m3u8"),
            dash: domain.map(|_| "https://d1.cloudfront.net/out/v1/d/index.mpd?a=1&b=\"2\""),
            hls_from: Source::Local,
            dash_from: Source::Local,
        }
    }

    #[test]
    fn the_policy_allows_media_only_from_the_cloudfront_host_and_no_inline_code() {
        let c = csp(Some("d1.cloudfront.net"), false);
        assert!(c.starts_with("default-src 'none'; script-src 'self'; style-src 'self';"), "{c}");
        assert!(c.contains("media-src blob: https://d1.cloudfront.net;"), "{c}");
        assert!(c.contains("connect-src 'self' https://d1.cloudfront.net;"), "{c}");
        assert!(c.contains("worker-src blob:;") && c.contains("frame-ancestors 'none'"), "{c}");
        assert!(!c.contains("unsafe-inline") && !c.contains("unsafe-eval"), "{c}");
        assert!(csp(Some("d1.cloudfront.net"), true).contains("script-src 'self' https://cdn.jsdelivr.net;"));
        assert!(csp(None, false).contains("media-src blob:; connect-src 'self';"), "not deployed: no media host");
        let sneaky = csp(Some("x.net; script-src *"), false);
        assert!(!sneaky.contains("x.net"), "a host that is not a host name stays out: {sneaky}");
    }

    #[test]
    fn hosts_are_names_and_ports_only() {
        assert!(valid_host("d111abcdef8.cloudfront.net"));
        assert!(valid_host("127.0.0.1:8443"));
        for bad in ["", "a b", "x;y", "x/y", "-x", "x:", "x:123456", "x:y", "https://x"] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn the_page_has_both_players_no_inline_script_and_escapes_what_it_shows() {
        let html = render(&page(Some("d1.cloudfront.net")));
        assert!(
            html.contains(
                r#"<article class="player" id="hls" data-src="https://d1.cloudfront.net/out/v1/h/index.m3u8""#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"data-src="https://d1.cloudfront.net/out/v1/d/index.mpd?a=1&amp;b=&quot;2&quot;""#),
            "{html}"
        );
        assert!(html.contains(r#"data-state="final/state?t=ab12""#), "{html}");
        assert!(html.contains(r#"<script src="assets/hls.light.min.js"></script>"#));
        assert!(html.contains(r#"<script src="assets/dash.all.min.js"></script>"#));
        // Every <script> has a src: nothing inline.
        assert_eq!(html.matches("<script").count(), html.matches("<script src=").count());
        assert!(!html.contains("style="), "no inline style");
        assert!(!html.contains("{format}") && !html.contains("{src}"), "every placeholder filled");
        let none = render(&page(None));
        assert!(none.contains("no playback URL: the event is not deployed"), "{none}");
        assert!(none.contains(r#"data-domain="""#));
    }

    #[test]
    fn a_missing_player_has_no_script_and_a_cdn_one_is_pinned_by_its_hash() {
        let mut p = page(Some("d1.cloudfront.net"));
        p.hls_from = Source::Missing;
        p.dash_from = Source::Cdn;
        let html = render(&p);
        assert!(!html.contains("hls.light.min.js"), "{html}");
        assert!(
            html.contains(r#"id="hls" data-src="https://d1.cloudfront.net/out/v1/h/index.m3u8" data-player="missing""#)
        );
        assert!(html.contains(&format!(
            r#"<script src="https://cdn.jsdelivr.net/npm/dashjs@5.2.1/dist/modern/umd/dash.all.min.js" integrity="{}" crossorigin="anonymous">"#,
            Player::Dash.integrity()
        )));
    }

    #[test]
    fn the_probe_view_says_the_state_as_a_word() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-18T20:00:00Z").expect("t").with_timezone(&chrono::Utc);
        let l = Latest {
            state: crate::probe::OnAir::Live { age: Some(std::time::Duration::from_millis(1500)) },
            diagnosis: "HLS live".into(),
            at,
            since: None,
        };
        let v = ProbeView::from(&l);
        assert_eq!((v.state, v.age_s, v.at.as_str()), ("live", Some(1.5), "2026-12-18T20:00:00Z"));
        let j = serde_json::to_value(StateView {
            event: "final".into(),
            phase: Some("running"),
            domain: None,
            probe: Some(v),
        })
        .expect("json");
        assert_eq!(j["probe"]["state"], "live");
        assert_eq!(j["phase"], "running");
    }
}
