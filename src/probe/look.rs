//! One look at an event's streams: for each packaging, at the origin (with the CDN
//! authorization header, as CloudFront sends it) and through CloudFront, fetch what a player
//! would and judge it against the previous look. The fetching goes through [`Fetch`], so this
//! runs on recorded answers in unit tests; `fetch` is the HTTP edge.
//!
//! Cheap on purpose: an HLS look fetches the lowest and the highest variant's media playlists
//! (the multivariant playlist only every [`VARIANTS_EVERY`] looks) and the first bytes of the
//! newest segment only when it is new; a DASH look fetches the MPD.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::dash::Mpd;
use super::hls::{self, MediaPlaylist};
use super::{Hop, Verdict};

/// How a packaging is read: HLS (also CMAF's HLS manifests) or DASH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    Hls,
    Dash,
}

/// One packaging of an event, at both hops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stream {
    /// `HLS`, `DASH`, `CMAF`: what the operator reads.
    pub label: &'static str,
    pub format: Format,
    /// MediaPackage's URL of the manifest.
    pub origin: String,
    /// The same manifest through CloudFront.
    pub cdn: String,
}

/// What the probe looks at for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub streams: Vec<Stream>,
    /// The header CloudFront adds towards MediaPackage (name, value), sent at the origin hop.
    pub cdn_header: Option<(String, String)>,
}

/// One answer: the status (0 when there was none: refused, timed out, unreadable), the body
/// (or its first bytes), and why there was no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
    pub error: Option<String>,
}

pub type Fetching<'a> = Pin<Box<dyn Future<Output = Fetched> + Send + 'a>>;

/// GET a URL with extra headers; `first_bytes` asks for a range from the start.
pub trait Fetch: Send + Sync {
    fn get<'a>(&'a self, url: &'a str, headers: &'a [(String, String)], first_bytes: Option<u64>) -> Fetching<'a>;
}

/// What one hop of one stream showed at one look.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum HopState {
    /// Advancing and fresh; `age` is now − the newest segment's end, when the stream dates it.
    Live {
        age: Option<Duration>,
        restarted: bool,
    },
    /// Nothing to compare with yet, or looked again too soon: look again after this long.
    Looking {
        after: Duration,
    },
    Stale {
        why: String,
    },
    /// An answer that is not a stream: the status (0: no answer at all) and why.
    Failed {
        status: u16,
        why: String,
    },
    Ended,
}

/// One hop of one stream at one look, with what it cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HopLook {
    pub stream: &'static str,
    pub hop: Hop,
    pub state: HopState,
    /// Time spent fetching at this hop.
    pub latency: Duration,
    pub requests: u32,
    pub bytes: u64,
    /// The stream's target (or segment) duration, seconds, once known.
    pub target_duration: Option<u64>,
}

/// The multivariant playlist is fetched again every this many looks (variants rarely change).
pub const VARIANTS_EVERY: u32 = 10;

/// Bytes asked of a segment: four MPEG-TS packets, or an fMP4 segment's first boxes.
pub const SEGMENT_BYTES: u64 = 4 * 188;

/// A live hop's newest segment is checked for media bytes every this many looks.
pub const SEGMENT_CHECK_EVERY: u32 = 10;

/// How long until a new segment is due after one ending at `newest_end` (of `duration`), with
/// a little margin; the first look at a stream looks again then rather than a whole settle
/// later, so "on air" comes about one segment after the stream is playable.
fn next_segment_in(
    newest_end: Option<DateTime<Utc>>,
    duration: Duration,
    now: DateTime<Utc>,
    settle: Duration,
) -> Duration {
    let Some(end) = newest_end else { return settle };
    let due = end + chrono::Duration::from_std(duration + Duration::from_millis(150)).unwrap_or_default();
    (due - now).to_std().unwrap_or_default().clamp(Duration::from_millis(200), settle)
}

/// A media playlist as last looked at: the look it is compared with, and the last judgement
/// of it (a look too soon to say anything new repeats it).
struct Seen {
    playlist: MediaPlaylist,
    at: Instant,
    last: Option<HopState>,
}

#[derive(Default)]
struct HopMemory {
    /// Variant playlist URLs and the looks since they were read.
    variants: Option<(Vec<String>, u32)>,
    playlists: HashMap<String, Seen>,
    /// Looks at this hop so far (the highest variant is read every other one).
    looks: u64,
    mpd: Option<(Mpd, Instant)>,
    /// Looks since the newest segment was last checked for media bytes (none: never).
    since_segment_check: Option<u32>,
    /// The last judgement of movement (live, stale, ended): a look too soon after it to say
    /// anything new repeats it rather than "looking".
    last: Option<HopState>,
}

impl HopMemory {
    /// What a look says, given what the previous ones said.
    fn settle(&mut self, state: HopState) -> HopState {
        match state {
            HopState::Looking { .. } => self.last.clone().unwrap_or(state),
            HopState::Failed { .. } => {
                self.last = None;
                state
            }
            judged => {
                self.last = Some(judged.clone());
                judged
            }
        }
    }
}

/// The memory of previous looks at one event's streams.
#[derive(Default)]
pub struct Watcher {
    memory: HashMap<(String, Hop), HopMemory>,
}

struct Cost {
    requests: u32,
    bytes: u64,
}

async fn get(
    fetch: &dyn Fetch,
    url: &str,
    headers: &[(String, String)],
    range: Option<u64>,
    cost: &mut Cost,
) -> Fetched {
    let f = fetch.get(url, headers, range).await;
    cost.requests += 1;
    cost.bytes += f.body.len() as u64;
    f
}

fn failed(what: &str, f: &Fetched) -> HopState {
    let why = match (&f.error, f.status) {
        (Some(e), _) => format!("{what}: {e}"),
        (None, s) => format!("{what} answered {s}"),
    };
    HopState::Failed { status: f.status, why }
}

fn join(base: &str, uri: &str) -> String {
    url::Url::parse(base).and_then(|b| b.join(uri)).map(|u| u.to_string()).unwrap_or_else(|_| uri.to_string())
}

fn text(f: &Fetched) -> String {
    String::from_utf8_lossy(&f.body).into_owned()
}

/// The worse of two states of one hop: failed, stale, ended, looking, live.
fn worse(a: HopState, b: HopState) -> HopState {
    fn rank(s: &HopState) -> u8 {
        match s {
            HopState::Failed { .. } => 4,
            HopState::Stale { .. } => 3,
            HopState::Ended => 2,
            HopState::Looking { .. } => 1,
            HopState::Live { .. } => 0,
        }
    }
    match (rank(&a), rank(&b)) {
        (x, y) if y > x => b,
        (x, y) if x > y => a,
        _ => match (a, b) {
            // Two lives: the older newest segment; a restart on either side counts.
            (HopState::Live { age: x, restarted: r1 }, HopState::Live { age: y, restarted: r2 }) => {
                HopState::Live { age: x.max(y), restarted: r1 || r2 }
            }
            (HopState::Looking { after: x }, HopState::Looking { after: y }) => HopState::Looking { after: x.min(y) },
            (a, _) => a,
        },
    }
}

fn from_verdict(v: Verdict) -> HopState {
    match v {
        Verdict::Live { age, restarted, .. } => HopState::Live { age, restarted },
        Verdict::Stale { why, .. } => HopState::Stale { why },
        Verdict::Ended => HopState::Ended,
        Verdict::Again { after } => HopState::Looking { after },
    }
}

impl Watcher {
    /// Look once at every stream of `target` at both hops. `now` is the wall clock (freshness),
    /// `at` the monotonic one (how far apart two looks were).
    pub async fn look(
        &mut self,
        fetch: &dyn Fetch,
        target: &Target,
        now: DateTime<Utc>,
        at: Instant,
        cdn_ttl: Duration,
    ) -> Vec<HopLook> {
        let mut out = Vec::new();
        for s in &target.streams {
            for hop in [Hop::Origin, Hop::Cdn] {
                let (url, headers, ttl) = match hop {
                    Hop::Origin => (&s.origin, target.cdn_header.iter().cloned().collect::<Vec<_>>(), Duration::ZERO),
                    Hop::Cdn => (&s.cdn, Vec::new(), cdn_ttl),
                };
                let memory = self.memory.entry((s.label.to_string(), hop)).or_default();
                let started = Instant::now();
                let mut cost = Cost { requests: 0, bytes: 0 };
                let hop_look = At { fetch, url, headers: &headers, now, at, ttl };
                let (state, target_duration) = match s.format {
                    Format::Hls => look_hls(&hop_look, memory, &mut cost).await,
                    Format::Dash => look_dash(&hop_look, memory, &mut cost).await,
                };
                let state = memory.settle(state);
                out.push(HopLook {
                    stream: s.label,
                    hop,
                    state,
                    latency: started.elapsed(),
                    requests: cost.requests,
                    bytes: cost.bytes,
                    target_duration,
                });
            }
        }
        out
    }
}

/// One hop's look: where, with which headers, at which instants, and the hop's cache time.
struct At<'a> {
    fetch: &'a dyn Fetch,
    url: &'a str,
    headers: &'a [(String, String)],
    now: DateTime<Utc>,
    at: Instant,
    ttl: Duration,
}

async fn look_hls(hop: &At<'_>, memory: &mut HopMemory, cost: &mut Cost) -> (HopState, Option<u64>) {
    let At { fetch, url, headers, now, at, ttl } = *hop;
    let fresh_variants = memory.variants.as_ref().is_none_or(|(_, n)| *n >= VARIANTS_EVERY);
    let playlists: Vec<String> = if fresh_variants {
        let f = get(fetch, url, headers, None, cost).await;
        if f.status != 200 {
            memory.variants = None;
            return (failed("the playlist", &f), None);
        }
        let body = text(&f);
        let urls = if hls::is_multivariant(&body) {
            match hls::variants(&body) {
                Ok(v) => match hls::extremes(&v) {
                    Some((low, high)) if low.uri == high.uri => vec![join(url, &low.uri)],
                    Some((low, high)) => vec![join(url, &low.uri), join(url, &high.uri)],
                    None => Vec::new(),
                },
                Err(e) => return (HopState::Failed { status: 200, why: format!("the playlist: {e}") }, None),
            }
        } else {
            vec![url.to_string()]
        };
        memory.variants = Some((urls.clone(), 0));
        urls
    } else {
        match memory.variants.as_mut() {
            Some((urls, n)) => {
                *n += 1;
                urls.clone()
            }
            None => Vec::new(),
        }
    };
    let mut state: Option<HopState> = None;
    let mut target = None;
    let mut newest_of_lowest: Option<(String, bool)> = None;
    memory.looks += 1;
    // The lowest variant at every look, the highest at every other one (the same encoder
    // feeds both: the lowest tells whether the stream moves; the highest, that it exists).
    let every_other = memory.looks % 2 == 1;
    for (i, p) in playlists.iter().enumerate() {
        if i > 0 && !every_other && memory.playlists.contains_key(p) {
            continue;
        }
        let f = get(fetch, p, headers, None, cost).await;
        if f.status != 200 {
            // A variant gone: read the multivariant playlist again next time.
            memory.variants = None;
            let s = failed("a variant playlist", &f);
            state = Some(state.map_or(s.clone(), |a| worse(a, s)));
            continue;
        }
        let playlist = match MediaPlaylist::parse(&text(&f)) {
            Ok(pl) => pl,
            Err(e) => {
                let s = HopState::Failed { status: 200, why: format!("a variant playlist: {e}") };
                state = Some(state.map_or(s.clone(), |a| worse(a, s)));
                continue;
            }
        };
        target = Some(playlist.target_duration);
        if i == 0 {
            newest_of_lowest = playlist.segments.last().map(|s| (join(p, &s.uri), playlist.map.is_some()));
        }
        let s = match memory.playlists.get_mut(p) {
            None => {
                let settle = super::settle(playlist.target_duration.max(1));
                let last = playlist.segments.last().map_or(0.0, |s| s.duration);
                let after = next_segment_in(playlist.newest_end(), Duration::from_secs_f64(last), now, settle);
                memory.playlists.insert(p.clone(), Seen { playlist, at, last: None });
                HopState::Looking { after }
            }
            Some(seen) => {
                let v = from_verdict(super::judge(
                    &seen.playlist,
                    &playlist,
                    at.saturating_duration_since(seen.at),
                    now,
                    ttl,
                ));
                match v {
                    // Too soon to say: compare the next look with the same earlier one.
                    HopState::Looking { .. } => seen.last.clone().unwrap_or(v),
                    judged => {
                        *seen = Seen { playlist, at, last: Some(judged.clone()) };
                        judged
                    }
                }
            }
        };
        state = Some(state.map_or(s.clone(), |a| worse(a, s)));
    }
    let mut state = state.unwrap_or(HopState::Failed { status: 200, why: "the playlist lists no variant".into() });
    // The newest segment must be media, not an error page: its first bytes, at the first
    // live look and then every SEGMENT_CHECK_EVERY looks (a playlist that moves is the
    // packager's; the bytes behind it change only with a CDN behaviour or an origin fault).
    if let (HopState::Live { .. }, Some((segment, _))) = (&state, &newest_of_lowest) {
        let due = memory.since_segment_check.is_none_or(|n| n + 1 >= SEGMENT_CHECK_EVERY);
        if due {
            let f = get(fetch, segment, headers, Some(SEGMENT_BYTES), cost).await;
            if f.status != 200 && f.status != 206 {
                state = failed("the newest segment", &f);
                memory.since_segment_check = None;
            } else if !hls::looks_like_media(&f.body) {
                state = HopState::Failed { status: f.status, why: "the newest segment is not media".into() };
                memory.since_segment_check = None;
            } else {
                memory.since_segment_check = Some(0);
            }
        } else {
            memory.since_segment_check = memory.since_segment_check.map(|n| n + 1);
        }
    } else if !matches!(state, HopState::Live { .. }) {
        memory.since_segment_check = None;
    }
    (state, target)
}

async fn look_dash(hop: &At<'_>, memory: &mut HopMemory, cost: &mut Cost) -> (HopState, Option<u64>) {
    let At { fetch, url, headers, now, at, ttl } = *hop;
    let f = get(fetch, url, headers, None, cost).await;
    if f.status != 200 {
        return (failed("the MPD", &f), None);
    }
    let mpd = match Mpd::parse(&text(&f)) {
        Ok(m) => m,
        Err(e) => return (HopState::Failed { status: 200, why: format!("the MPD: {e}") }, None),
    };
    let target = mpd.segment_duration.map(|d| d.as_secs_f64().ceil().max(1.0) as u64);
    let state = match &memory.mpd {
        None => {
            let settle = super::settle(target.unwrap_or(2));
            let segment = mpd.segment_duration.unwrap_or(Duration::from_secs(2));
            HopState::Looking { after: next_segment_in(mpd.live_edge, segment, mpd.utc_timing.unwrap_or(now), settle) }
        }
        Some((before, when)) => {
            from_verdict(super::dash::judge(before, &mpd, at.saturating_duration_since(*when), now, ttl))
        }
    };
    if !matches!(state, HopState::Looking { .. }) || memory.mpd.is_none() {
        memory.mpd = Some((mpd, at));
    }
    (state, target)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// One request: URL, headers, bytes asked for.
    pub type Asked = (String, Vec<(String, String)>, Option<u64>);

    /// Recorded answers by URL, changed by the test between looks; every request is counted.
    #[derive(Default)]
    pub struct Recorded {
        pub answers: Mutex<HashMap<String, (u16, Vec<u8>)>>,
        pub asked: Mutex<Vec<Asked>>,
    }

    impl Recorded {
        pub fn answer(&self, url: &str, status: u16, body: impl Into<Vec<u8>>) {
            self.answers.lock().expect("lock").insert(url.to_string(), (status, body.into()));
        }
    }

    impl Fetch for Recorded {
        fn get<'a>(&'a self, url: &'a str, headers: &'a [(String, String)], first_bytes: Option<u64>) -> Fetching<'a> {
            self.asked.lock().expect("lock").push((url.to_string(), headers.to_vec(), first_bytes));
            let (status, mut body) =
                self.answers.lock().expect("lock").get(url).cloned().unwrap_or((404, b"Not Found".to_vec()));
            if let Some(n) = first_bytes {
                body.truncate(n as usize);
            }
            Box::pin(async move { Fetched { status, body, error: None } })
        }
    }

    const MASTER: &str = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=600000,RESOLUTION=320x180\nhi.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=160x90\nlo.m3u8\n";

    fn media(seq: u64, pdt: &str) -> String {
        format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{seq}\n#EXT-X-PROGRAM-DATE-TIME:{pdt}\n#EXTINF:2.0,\nseg{seq}.ts\n#EXTINF:2.0,\nseg{}.ts\n",
            seq + 1
        )
    }

    fn ts() -> Vec<u8> {
        let mut v = vec![0u8; 188 * 4];
        for p in 0..4 {
            v[p * 188] = 0x47;
        }
        v
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    const O: &str = "https://o.mediapackage.us-east-1.amazonaws.com/e1/index.m3u8";
    const C: &str = "https://d1.cloudfront.net/e1/index.m3u8";

    fn target() -> Target {
        Target {
            streams: vec![Stream { label: "HLS", format: Format::Hls, origin: O.into(), cdn: C.into() }],
            cdn_header: Some(("X-MediaPackage-CDNIdentifier".into(), "s3cret".into())),
        }
    }

    /// Both hops serve the stream at sequence `seq`, its first segment dated `pdt`.
    fn serve(r: &Recorded, seq: u64, pdt: &str) {
        for base in ["https://o.mediapackage.us-east-1.amazonaws.com/e1", "https://d1.cloudfront.net/e1"] {
            r.answer(&format!("{base}/index.m3u8"), 200, MASTER);
            r.answer(&format!("{base}/lo.m3u8"), 200, media(seq, pdt));
            r.answer(&format!("{base}/hi.m3u8"), 200, media(seq, pdt));
            r.answer(&format!("{base}/seg{}.ts", seq + 1), 200, ts());
        }
    }

    #[tokio::test]
    async fn two_looks_a_settle_apart_see_live_at_both_hops_and_the_origin_gets_the_cdn_header() {
        let r = Recorded::default();
        let mut w = Watcher::default();
        let t0 = Instant::now();
        serve(&r, 10, "2026-12-04T20:00:20.000Z");
        let first = w.look(&r, &target(), at("2026-12-04T20:00:24Z"), t0, Duration::ZERO).await;
        assert!(first.iter().all(|l| matches!(l.state, HopState::Looking { .. })), "{first:?}");
        serve(&r, 12, "2026-12-04T20:00:24.000Z");
        let second =
            w.look(&r, &target(), at("2026-12-04T20:00:28.500Z"), t0 + Duration::from_secs(4), Duration::ZERO).await;
        for l in &second {
            assert_eq!(
                l.state,
                HopState::Live { age: Some(Duration::from_millis(500)), restarted: false },
                "{:?}",
                l.hop
            );
            assert_eq!(l.target_duration, Some(2));
        }
        let asked = r.asked.lock().expect("lock");
        for (url, headers, _) in asked.iter() {
            let has = headers.iter().any(|(k, v)| k == "X-MediaPackage-CDNIdentifier" && v == "s3cret");
            assert_eq!(has, url.contains("mediapackage"), "{url}: the header goes to the origin only");
        }
        // The newest segment was checked once per hop, by its first bytes only.
        let ranged: Vec<_> = asked.iter().filter(|(u, _, _)| u.ends_with("seg13.ts")).collect();
        assert_eq!(ranged.len(), 2);
        assert!(ranged.iter().all(|(_, _, r)| *r == Some(SEGMENT_BYTES)));
    }

    async fn look(w: &mut Watcher, r: &Recorded, secs: u64) -> Vec<HopState> {
        let base = Instant::now() - Duration::from_secs(3600);
        let now = at("2026-12-04T20:00:24Z") + chrono::Duration::seconds(secs as i64);
        let looks = w.look(r, &target(), now, base + Duration::from_secs(secs), Duration::ZERO).await;
        looks.into_iter().map(|l| l.state).collect()
    }

    #[tokio::test]
    async fn a_look_too_soon_after_a_live_one_says_live_and_a_stream_frozen_across_a_failure_is_stale() {
        let r = Recorded::default();
        let mut w = Watcher::default();
        serve(&r, 10, "2026-12-04T20:00:20.000Z");
        look(&mut w, &r, 0).await;
        serve(&r, 12, "2026-12-04T20:00:24.000Z");
        assert!(look(&mut w, &r, 4).await.iter().all(|s| matches!(s, HopState::Live { .. })));
        // One second later nothing moved: too soon to say, so it is still live.
        assert!(look(&mut w, &r, 5).await.iter().all(|s| matches!(s, HopState::Live { .. })));
        r.answer(O, 503, "busy");
        r.answer(C, 503, "busy");
        for ((_, _), m) in w.memory.iter_mut() {
            m.variants = None;
        }
        assert!(look(&mut w, &r, 6).await.iter().all(|s| matches!(s, HopState::Failed { status: 503, .. })));
        // Back, but still at the segment it showed before the failure, 5 s ago: stale.
        serve(&r, 12, "2026-12-04T20:00:24.000Z");
        let after = look(&mut w, &r, 9).await;
        assert!(after.iter().all(|s| matches!(s, HopState::Stale { .. })), "{after:?}");
        serve(&r, 18, "2026-12-04T20:00:31.000Z");
        assert!(look(&mut w, &r, 11).await.iter().all(|s| matches!(s, HopState::Live { .. })));
    }

    #[tokio::test]
    async fn a_cdn_403_fails_that_hop_only_and_an_error_page_is_not_media() {
        let r = Recorded::default();
        let mut w = Watcher::default();
        let t0 = Instant::now();
        serve(&r, 10, "2026-12-04T20:00:20.000Z");
        w.look(&r, &target(), at("2026-12-04T20:00:24Z"), t0, Duration::ZERO).await;
        serve(&r, 12, "2026-12-04T20:00:24.000Z");
        r.answer(C, 403, "<Error>AccessDenied</Error>");
        r.answer("https://o.mediapackage.us-east-1.amazonaws.com/e1/seg13.ts", 200, "<html>oops</html>".repeat(10));
        // Variants are cached: force a fresh read of the multivariant playlist at the CDN.
        for ((_, hop), m) in w.memory.iter_mut() {
            if *hop == Hop::Cdn {
                m.variants = None;
            }
        }
        let looks =
            w.look(&r, &target(), at("2026-12-04T20:00:28Z"), t0 + Duration::from_secs(4), Duration::ZERO).await;
        let by = |h: Hop| looks.iter().find(|l| l.hop == h).map(|l| l.state.clone()).expect("hop");
        assert_eq!(by(Hop::Cdn), HopState::Failed { status: 403, why: "the playlist answered 403".into() });
        assert!(matches!(by(Hop::Origin), HopState::Failed { status: 200, ref why } if why.contains("not media")));
    }
}
