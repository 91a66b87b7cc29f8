//! When a timed event happens: one-off windows or cron occurrences in an IANA time zone, with
//! lead and tail times. Every instant is computed here, in UTC, from the event's own zone
//! (croner + chrono-tz handle DST); the cron library's scheduler only provides wake-ups.

use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use crate::config::doc::Value;
use crate::config::reader::Table;

#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// One window, `start` to `end`.
    Once { start: DateTime<Utc>, end: DateTime<Utc> },
    /// A window of `duration` at every cron occurrence (6 fields, seconds first), in `tz`.
    Recurring { cron: Box<Cron>, expr: String, duration: Duration },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub when: When,
    pub tz: Tz,
    /// Deploy this long before the window starts (CloudFront alone can take minutes).
    pub deploy_before: Duration,
    /// Start the channel this long before the window (MediaLive takes up to ~3-10 min).
    pub start_before: Duration,
    /// Keep running this long after the window ends.
    pub stop_after: Duration,
    /// Tear down this long after the stop.
    pub teardown_after: Duration,
    /// Recurring events: stay deployed between occurrences instead of tearing down.
    pub keep_deployed: bool,
    /// Stop the channel when it has been running this long, whatever the schedule says.
    pub max_runtime: Option<Duration>,
    /// Warn when `start_before` is shorter than the measured p95 start time plus a margin.
    pub adaptive_lead: bool,
}

/// A window with all its phase boundaries, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    pub deploy_at: DateTime<Utc>,
    pub start_at: DateTime<Utc>,
    /// Scheduled on-air time (the window itself starts here).
    pub on_air: DateTime<Utc>,
    pub off_air: DateTime<Utc>,
    pub stop_at: DateTime<Utc>,
    pub teardown_at: DateTime<Utc>,
}

pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    if expr.split_whitespace().count() != 6 && !expr.trim_start().starts_with('@') {
        return Err(format!(
            "`{expr}` needs 6 fields: seconds minutes hours day-of-month month day-of-week"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))
}

/// Resolve a wall-clock time in `tz`. A time skipped by DST is an error; a repeated one takes
/// the first (earlier) instant, as EventBridge Scheduler does.
pub fn resolve_local(naive: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, String> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, _) => Ok(a.with_timezone(&Utc)),
        LocalResult::None => Err(format!("{naive} does not exist in {tz} (skipped by a DST change)")),
    }
}

fn instant(t: &Table<'_, '_, '_>, key: &str, tz: Option<Tz>) -> Option<DateTime<Utc>> {
    let node = t.raw(key)?;
    let text = match &node.value {
        Value::Datetime(s) | Value::Str(s) => s.clone(),
        _ => {
            t.error(key, "expected a date-time such as 2026-12-18T20:00:00+01:00");
            return None;
        }
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(&text) {
        return Some(dt.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M"));
    match (naive, tz) {
        (Ok(n), Some(tz)) => resolve_local(n, tz).map_err(|e| t.error(key, e)).ok(),
        (Ok(_), None) => {
            t.error(key, "a local time needs `timezone` (an IANA name such as Europe/Paris) or an offset");
            None
        }
        (Err(_), _) => {
            t.error(key, format!("`{text}` is not an RFC 3339 date-time or a local time YYYY-MM-DDTHH:MM:SS"));
            None
        }
    }
}

/// Read the timing keys of an `[[event]]` table. `Some(None)` = on-demand event.
pub fn read(t: &Table<'_, '_, '_>) -> Option<Option<Timing>> {
    let tz_name = t.str("timezone");
    let tz = match &tz_name {
        Some(name) => match name.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                t.error("timezone", format!("`{name}` is not an IANA time zone such as Europe/Paris"));
                return None;
            }
        },
        None => None,
    };
    let once = t.has("start") || t.has("end");
    let recurring = t.has("cron") || t.has("duration");
    let dur = |k: &str, d: u64| t.duration(k).unwrap_or(Duration::from_secs(d));
    let deploy_before = dur("deploy_before", 30 * 60);
    let start_before = dur("start_before", 10 * 60);
    let stop_after = dur("stop_after", 0);
    let teardown_after = dur("teardown_after", 5 * 60);
    let keep_deployed = t.bool("keep_deployed");
    let max_runtime = t.duration("max_runtime");
    let adaptive_lead = t.bool("adaptive_lead").unwrap_or(false);
    if start_before > deploy_before {
        t.error("start_before", "must not be longer than deploy_before (a channel is deployed before it starts)");
    }
    let when = match (once, recurring) {
        (false, false) => {
            for k in ["deploy_before", "start_before", "stop_after", "teardown_after", "keep_deployed", "max_runtime"] {
                if t.has(k) {
                    t.error(k, "only timed events (start/end or cron/duration) take lead and tail times");
                }
            }
            return Some(None);
        }
        (true, true) => {
            t.error("cron", "an event is either one-off (start/end) or recurring (cron/duration), not both");
            return None;
        }
        (true, false) => {
            let start = instant(t, "start", tz);
            let end = instant(t, "end", tz);
            if !t.has("start") {
                t.error("start", "required key is missing");
            }
            if !t.has("end") {
                t.error("end", "required key is missing");
            }
            let (start, end) = (start?, end?);
            if end <= start {
                t.error("end", "must be after start");
                return None;
            }
            if keep_deployed.is_some() {
                t.error("keep_deployed", "only recurring events take keep_deployed");
            }
            When::Once { start, end }
        }
        (false, true) => {
            let expr = t.req_str("cron");
            let duration = t.duration("duration");
            if !t.has("duration") {
                t.error("duration", "required key is missing");
            }
            if tz.is_none() {
                t.error("timezone", "a recurring event needs a time zone (an IANA name such as Europe/Paris, or UTC)");
            }
            let cron = expr.as_deref().map(parse_cron).transpose().map_err(|e| t.error("cron", e)).ok()?;
            When::Recurring { cron: Box::new(cron?), expr: expr?, duration: duration? }
        }
    };
    Some(Some(Timing {
        when,
        tz: tz.unwrap_or(chrono_tz::UTC),
        deploy_before,
        start_before,
        stop_after,
        teardown_after,
        keep_deployed: keep_deployed.unwrap_or(false),
        max_runtime,
        adaptive_lead,
    }))
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Timing {
    pub fn window_for(&self, on_air: DateTime<Utc>, off_air: DateTime<Utc>) -> Window {
        Window {
            deploy_at: on_air - chrono(self.deploy_before),
            start_at: on_air - chrono(self.start_before),
            on_air,
            off_air,
            stop_at: off_air + chrono(self.stop_after),
            teardown_at: off_air + chrono(self.stop_after) + chrono(self.teardown_after),
        }
    }

    /// Windows whose teardown is after `from`, in order, at most `limit` of them.
    /// A recurring window that would overlap the next one is cut at the next start.
    pub fn windows_from(&self, from: DateTime<Utc>, limit: usize) -> Vec<Window> {
        match &self.when {
            When::Once { start, end } => {
                let w = self.window_for(*start, *end);
                if w.teardown_at > from && limit > 0 {
                    vec![w]
                } else {
                    Vec::new()
                }
            }
            When::Recurring { cron, duration, .. } => {
                // Step back far enough to catch an occurrence whose window still covers `from`.
                let span = chrono(*duration + self.stop_after + self.teardown_after + self.deploy_before);
                let back = (from - span - chrono::Duration::seconds(1)).with_timezone(&self.tz);
                let mut out = Vec::new();
                for occ in cron.iter_after(back).take(100_000) {
                    let on = occ.with_timezone(&Utc);
                    let w = self.window_for(on, on + chrono(*duration));
                    if w.teardown_at > from {
                        out.push(w);
                        if out.len() >= limit {
                            break;
                        }
                    }
                }
                out
            }
        }
    }
}
