//! When a timed event happens: one-off windows or cron occurrences in an IANA time zone, with
//! lead and tail times. Every instant is computed here, in UTC, from the event's own zone
//! (croner + chrono-tz handle DST); the cron library's scheduler only provides wake-ups.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::{Cron, JobType};

use crate::config::doc::Value;
use crate::config::reader::Table;

#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// One window, `start` to `end`.
    Once { start: DateTime<Utc>, end: DateTime<Utc> },
    /// A window of `duration` at every cron occurrence (6 fields, seconds first), in `tz`.
    /// The parsed expression is shared by every event that uses it ([`parse_cron`]).
    Recurring { cron: Arc<Cron>, expr: String, duration: Duration },
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

/// Parsed cron expressions by their text. croner keeps a 5 KB table of years in every parsed
/// expression and a schedule may give thousands of events the same one, so they share it; an
/// entry lives as long as some event uses it.
static PARSED: LazyLock<Mutex<HashMap<String, Weak<Cron>>>> = LazyLock::new(Mutex::default);

/// Parse a 6-field cron expression (seconds first), or share the one already parsed.
pub fn parse_cron(expr: &str) -> Result<Arc<Cron>, String> {
    let mut parsed = PARSED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(cron) = parsed.get(expr).and_then(Weak::upgrade) {
        return Ok(cron);
    }
    let cron = Arc::new(parse_cron_text(expr)?);
    // Forget the expressions no event uses any more, at each doubling of the table.
    if parsed.len() >= 64 && parsed.len().is_power_of_two() {
        parsed.retain(|_, c| c.strong_count() > 0);
    }
    parsed.insert(expr.to_string(), Arc::downgrade(&cron));
    Ok(cron)
}

fn parse_cron_text(expr: &str) -> Result<Cron, String> {
    if expr.split_whitespace().count() != 6 && !expr.trim_start().starts_with('@') {
        return Err(format!("`{expr}` needs 6 fields: seconds minutes hours day-of-month month day-of-week"));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))?;
    // A pattern no date matches (`0 0 0 30 2 *`) would send every later search to croner's
    // limit (a quarter of a second each).
    if cron.find_next_occurrence(&DateTime::<Utc>::UNIX_EPOCH, false).is_err() {
        return Err(format!("`{expr}` never matches any date"));
    }
    Ok(cron)
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

/// What each timing key may be (inclusive); `ottd validate` refuses anything else, naming the
/// key. A week bounds every lead and tail time, so no window arithmetic comes near the ends of
/// time (it saturates there anyway).
pub mod limits {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    const DAY: u64 = 24 * 3600;

    /// `deploy_before`, `start_before`, `stop_after`, `teardown_after`.
    pub const LEAD: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(7 * DAY);
    /// `duration` of a recurring event's occurrence.
    pub const DURATION: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(7 * DAY);
    /// `max_runtime`.
    pub const MAX_RUNTIME: RangeInclusive<Duration> = Duration::from_secs(60)..=Duration::from_secs(7 * DAY);
}

/// The event's `timezone`: `Ok(None)` when it has none, `Err` when it has a bad one (reported).
type Zone = Result<Option<Tz>, ()>;

fn zone(t: &Table<'_, '_, '_>) -> Zone {
    let has = t.has("timezone");
    match t.str("timezone") {
        None if has => Err(()),
        None => Ok(None),
        Some(name) => name.parse::<Tz>().map(Some).map_err(|_| {
            t.error("timezone", format!("`{name}` is not an IANA time zone such as Europe/Paris"));
        }),
    }
}

fn instant(t: &Table<'_, '_, '_>, key: &str, tz: Zone) -> Option<DateTime<Utc>> {
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
        (Ok(n), Ok(Some(tz))) => resolve_local(n, tz).map_err(|e| t.error(key, e)).ok(),
        (Ok(_), Ok(None)) => {
            t.error(key, "a local time needs `timezone` (an IANA name such as Europe/Paris) or an offset");
            None
        }
        // The zone is the problem, already reported.
        (Ok(_), Err(())) => None,
        (Err(_), _) => {
            t.error(key, format!("`{text}` is not an RFC 3339 date-time or a local time YYYY-MM-DDTHH:MM:SS"));
            None
        }
    }
}

/// Read the timing keys of an `[[event]]` table. `Some(None)` = on-demand event.
///
/// Every key is read whatever else is wrong, so one problem (a bad zone, start with cron) is
/// reported once instead of also as a list of "unknown" keys.
pub fn read(t: &Table<'_, '_, '_>) -> Option<Option<Timing>> {
    let tz = zone(t);
    let once = t.has("start") || t.has("end");
    let recurring = t.has("cron") || t.has("duration");
    // `None`: present but refused (reported); absent keys take their default.
    let lead = |k: &str, dflt: u64| match t.has(k) {
        true => t.duration_in(k, &limits::LEAD),
        false => Some(Duration::from_secs(dflt)),
    };
    let deploy_before = lead("deploy_before", 30 * 60);
    let start_before = lead("start_before", 10 * 60);
    let stop_after = lead("stop_after", 0);
    let teardown_after = lead("teardown_after", 5 * 60);
    let keep_deployed = t.bool("keep_deployed");
    let max_runtime = t.duration_in("max_runtime", &limits::MAX_RUNTIME);
    let adaptive_lead = t.bool("adaptive_lead").unwrap_or(false);
    if let (Some(start), Some(deploy)) = (start_before, deploy_before) {
        if start > deploy {
            t.error("start_before", "must not be longer than deploy_before (a channel is deployed before it starts)");
        }
    }
    let when = match (once, recurring) {
        (false, false) => {
            for k in ["deploy_before", "start_before", "stop_after", "teardown_after", "keep_deployed", "max_runtime"] {
                if t.has(k) {
                    t.error(k, "only timed events (start/end or cron/duration) take lead and tail times");
                }
            }
            return tz.ok().map(|_| None);
        }
        (true, true) => {
            for k in ["start", "end", "cron", "duration"] {
                t.raw(k);
            }
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
            if keep_deployed.is_some() {
                t.error("keep_deployed", "only recurring events take keep_deployed");
            }
            let (start, end) = (start?, end?);
            if end <= start {
                t.error("end", "must be after start");
                return None;
            }
            When::Once { start, end }
        }
        (false, true) => {
            let expr = t.req_str("cron");
            let duration = match t.has("duration") {
                true => t.duration_in("duration", &limits::DURATION),
                false => {
                    t.error("duration", "required key is missing");
                    None
                }
            };
            if tz == Ok(None) {
                t.error("timezone", "a recurring event needs a time zone (an IANA name such as Europe/Paris, or UTC)");
            }
            let cron = expr.as_deref().map(parse_cron).transpose().map_err(|e| t.error("cron", e)).ok()?;
            When::Recurring { cron: cron?, expr: expr?, duration: duration? }
        }
    };
    Some(Some(Timing {
        when,
        tz: tz.ok()?.unwrap_or(chrono_tz::UTC),
        deploy_before: deploy_before?,
        start_before: start_before?,
        stop_after: stop_after?,
        teardown_after: teardown_after?,
        keep_deployed: keep_deployed.unwrap_or(false),
        max_runtime,
        adaptive_lead,
    }))
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

// Lead and tail times come from files: an absurd one (`300000 years`) saturates at the ends of
// time instead of overflowing.
fn plus(t: DateTime<Utc>, d: chrono::Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn minus(t: DateTime<Utc>, d: chrono::Duration) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Timing {
    /// How long one occurrence is on air.
    fn length(&self) -> chrono::Duration {
        match &self.when {
            // Both ends are instants chrono represents: their distance cannot overflow.
            When::Once { start, end } => end.signed_duration_since(*start),
            When::Recurring { duration, .. } => chrono(*duration),
        }
    }

    pub fn window_for(&self, on_air: DateTime<Utc>, off_air: DateTime<Utc>) -> Window {
        let stop_at = plus(off_air, chrono(self.stop_after));
        Window {
            deploy_at: minus(on_air, chrono(self.deploy_before)),
            start_at: minus(on_air, chrono(self.start_before)),
            on_air,
            off_air,
            stop_at,
            teardown_at: plus(stop_at, chrono(self.teardown_after)),
        }
    }

    /// The window of the occurrence on air at `on_air`. When it would overlap the next
    /// occurrence (on air at `next`), its end is cut there: `off_air`, `stop_at` and
    /// `teardown_at` never pass `next`. The next window has started by then (its `start_at`
    /// and `deploy_at` come before its on-air time), so the cut never leaves a gap.
    pub fn window_at(&self, on_air: DateTime<Utc>, next: Option<DateTime<Utc>>) -> Window {
        let mut w = self.window_for(on_air, plus(on_air, self.length()));
        if let Some(next) = next.filter(|n| *n > on_air) {
            w.off_air = w.off_air.min(next);
            w.stop_at = w.stop_at.min(next);
            w.teardown_at = w.teardown_at.min(next);
        }
        w
    }

    /// Windows whose teardown is after `from`, in order, at most `limit` of them, each cut at
    /// the next occurrence (see [`Timing::window_at`]).
    pub fn windows_from(&self, from: DateTime<Utc>, limit: usize) -> Vec<Window> {
        // An occurrence further back than its own tail has ended (cutting only shortens).
        let tail = [self.stop_after, self.teardown_after]
            .into_iter()
            .try_fold(self.length(), |sum, d| sum.checked_add(&chrono(d)))
            .unwrap_or(chrono::Duration::MAX);
        let back = minus(minus(from, tail), chrono::Duration::seconds(1));
        let mut occurrences = self.occurrences_after(back).peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(on) = occurrences.next() else { break };
            let w = self.window_at(on, occurrences.peek().copied());
            if w.teardown_at > from {
                out.push(w);
            }
        }
        out
    }

    /// On-air instants strictly after `after`, in time order, each once.
    pub fn occurrences_after(&self, after: DateTime<Utc>) -> Occurrences<'_> {
        let source = match &self.when {
            When::Once { start, .. } => Source::Once(Some(*start)),
            When::Recurring { cron, .. } => Source::Cron {
                cron,
                fixed: cron.determine_job_type() == JobType::FixedTime,
                cursor: Some(fold_start(wall(after, self.tz), self.tz)),
            },
        };
        Occurrences { source, tz: self.tz, after, ready: BTreeSet::new(), floor: None, steps: 0 }
    }

    /// The last on-air instant at or before `now`, if any.
    pub fn occurrence_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cron = match &self.when {
            When::Once { start, .. } => return Some(*start).filter(|s| *s <= now),
            When::Recurring { cron, .. } => cron,
        };
        let fixed = cron.determine_job_type() == JobType::FixedTime;
        // Walk back through wall-clock occurrences. Inside a repeated hour, a later wall-clock
        // time can be an earlier instant, so the walk starts at the end of that hour and stops
        // only at an unrepeated occurrence at or before `now`: nothing earlier can beat it.
        let mut cursor = fold_end(wall(now, self.tz), self.tz);
        let mut best: Option<DateTime<Utc>> = None;
        for _ in 0..MAX_STEPS {
            let Ok(hit) = cron.find_previous_occurrence(&frame(cursor), true) else { break };
            let hit = hit.naive_utc();
            let (first, second) = instants(hit, self.tz, fixed);
            for t in [first, second].into_iter().flatten().filter(|t| *t <= now) {
                best = best.max(Some(t));
            }
            if second.is_none() && first.is_some_and(|t| t <= now) && !is_repeated(hit, self.tz) {
                break;
            }
            match hit.checked_sub_signed(chrono::Duration::seconds(1)) {
                Some(c) => cursor = c,
                None => break,
            }
        }
        best
    }
}

/// Bound on croner searches per call (a whole repeated hour of an every-second cron is 7,200).
const MAX_STEPS: u32 = 100_000;
/// Longest run of skipped or repeated wall-clock time looked across (Samoa skipped a day).
const MAX_SHIFT_MINUTES: u32 = 25 * 60;

/// Occurrences of a timing after an instant; see [`Timing::occurrences_after`].
///
/// croner's own time-zone handling is not used: in a repeated hour it yields instants out of
/// order, and from a start inside that hour it misses the second reading of earlier times.
/// croner runs on wall-clock times in a zone-free frame (UTC) and each wall-clock hit is mapped
/// here, with croner's DST rules: a fixed-time cron (one second, minute and hour) fires once in
/// a repeated hour (the earlier reading) and at the end of a skipped one; an interval cron fires
/// at both readings and not at all in a skipped hour. The mapped instants are reordered through
/// a small buffer released once no later hit can come before them.
pub struct Occurrences<'a> {
    source: Source<'a>,
    tz: Tz,
    after: DateTime<Utc>,
    ready: BTreeSet<DateTime<Utc>>,
    /// Every instant still to come is at or after this; `None` once the source is exhausted.
    floor: Option<DateTime<Utc>>,
    steps: u32,
}

enum Source<'a> {
    Once(Option<DateTime<Utc>>),
    Cron { cron: &'a Cron, fixed: bool, cursor: Option<NaiveDateTime> },
}

impl Occurrences<'_> {
    /// Map the next wall-clock hit into `ready`; false when there is none.
    fn pull(&mut self) -> bool {
        self.steps += 1;
        let (hits, floor) = match &mut self.source {
            Source::Once(start) => (start.take().map(|s| [Some(s), None]), None),
            Source::Cron { cron, fixed, cursor } => {
                let Some(from) = cursor.take().filter(|_| self.steps <= MAX_STEPS) else { return false };
                let Ok(hit) = cron.find_next_occurrence(&frame(from), true) else { return false };
                let hit = hit.naive_utc();
                let (a, b) = instants(hit, self.tz, *fixed);
                // Searching from one second on: croner's own iterator skips that second.
                *cursor = hit.checked_add_signed(chrono::Duration::seconds(1));
                (Some([a, b]), cursor.and_then(|c| first_instant(c, self.tz)))
            }
        };
        let Some(hits) = hits else { return false };
        let after = self.after;
        self.ready.extend(hits.into_iter().flatten().filter(|t| *t > after));
        self.floor = floor;
        true
    }
}

impl Iterator for Occurrences<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        loop {
            if let Some(&first) = self.ready.first() {
                if self.floor.is_none_or(|f| first < f) {
                    self.ready.pop_first();
                    return Some(first);
                }
            }
            if !self.pull() {
                self.floor = None;
                return self.ready.pop_first();
            }
        }
    }
}

/// A wall-clock time as an instant of the zone-free frame croner searches in.
fn frame(naive: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&naive)
}

/// The wall-clock time of `t` in `tz`, to the second (croner works in whole seconds).
fn wall(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    // Not `naive_local()`: it panics at the ends of time, where saturated instants land.
    let utc = t.naive_utc();
    let offset = tz.offset_from_utc_datetime(&utc).fix().local_minus_utc();
    let n = utc.checked_add_signed(chrono::Duration::seconds(offset.into())).unwrap_or(utc);
    n.with_nanosecond(0).unwrap_or(n)
}

fn is_repeated(naive: NaiveDateTime, tz: Tz) -> bool {
    matches!(tz.from_local_datetime(&naive), LocalResult::Ambiguous(..))
}

/// The first wall-clock minute of the repeated stretch `naive` is in (`naive` itself if none).
fn fold_start(naive: NaiveDateTime, tz: Tz) -> NaiveDateTime {
    walk(naive, tz, -1)
}

/// The first wall-clock time after the repeated stretch `naive` is in (`naive` itself if none).
fn fold_end(naive: NaiveDateTime, tz: Tz) -> NaiveDateTime {
    walk(naive, tz, 1)
}

fn walk(naive: NaiveDateTime, tz: Tz, minutes: i64) -> NaiveDateTime {
    let mut n = naive;
    for _ in 0..MAX_SHIFT_MINUTES {
        if !is_repeated(n, tz) {
            break;
        }
        match n.checked_add_signed(chrono::Duration::minutes(minutes)) {
            Some(m) => n = m,
            None => break,
        }
    }
    n
}

/// The first instant whose wall-clock time is `naive` or later: its earlier reading when
/// repeated, the end of the gap when skipped.
fn first_instant(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    if let Some(t) = tz.from_local_datetime(&naive).earliest() {
        return Some(t.with_timezone(&Utc));
    }
    let valid = |n: NaiveDateTime| tz.from_local_datetime(&n).earliest().is_some();
    let mut n = naive;
    for _ in 0..MAX_SHIFT_MINUTES {
        n = n.checked_add_signed(chrono::Duration::minutes(1))?;
        if valid(n) {
            // Back to the gap's end, to the second.
            for _ in 0..60 {
                match n.checked_sub_signed(chrono::Duration::seconds(1)) {
                    Some(p) if valid(p) => n = p,
                    _ => break,
                }
            }
            return tz.from_local_datetime(&n).earliest().map(|t| t.with_timezone(&Utc));
        }
    }
    None
}

/// The instants a wall-clock hit fires at (see [`Occurrences`] for the DST rules).
fn instants(naive: NaiveDateTime, tz: Tz, fixed: bool) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => (Some(t.with_timezone(&Utc)), None),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            let (early, late) = (a.min(b), a.max(b));
            (Some(early), Some(late).filter(|_| !fixed))
        }
        LocalResult::None if fixed => (first_instant(naive, tz), None),
        LocalResult::None => (None, None),
    }
}
