//! The stream probe: is the stream really live, at the origin and through CloudFront? A pure
//! checker over what was fetched and when (unit-tested on recorded playlists); the fetching is
//! an edge of its own.
//!
//! HLS (RFC 8216): a media playlist is live when it has no `#EXT-X-ENDLIST`, its sequence
//! advances between two fetches taken at least a target duration apart, and its newest
//! segment ends close to now by its program date-time. A lower sequence, or a new
//! discontinuity sequence, is an encoder restart: reported, not failed.
//!
//! DASH: an MPD is live when it is `dynamic`, its publish time or live edge moves between two
//! looks, and the live edge is close to now.
//!
//! Both are looked at at the origin and through CloudFront, so [`assess`] can say which hop
//! is broken: "origin fresh, CloudFront 403: check the CDN secret / behaviour".
//!
//! Layout: [`hls`] and [`dash`] read manifests, [`look`] takes one look at an event's streams
//! through a [`look::Fetch`], [`fetch`] is the HTTP edge, and [`assess`] (here) turns a
//! look into what the operator is told.

pub mod dash;
pub mod fetch;
pub mod hls;
pub mod look;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use hls::MediaPlaylist;
use look::{HopLook, HopState};

/// Where a fetch went: straight to MediaPackage (with the CDN authorization header, as
/// CloudFront sends it), or through CloudFront as viewers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hop {
    Origin,
    Cdn,
}

/// What two looks at one media playlist say.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Verdict {
    /// Segments advance and the newest is fresh (`age`: now − the newest segment's end, when
    /// the playlist dates its segments).
    Live { sequence: u64, age: Option<Duration>, restarted: bool },
    /// The playlist did not move between looks far enough apart, or its newest segment is old.
    Stale { sequence: u64, why: String },
    /// The stream says it ended (`#EXT-X-ENDLIST`).
    Ended,
    /// Not moved, but looked at again too soon to say: look again this much later.
    Again { after: Duration },
}

/// How far apart two looks must be before "it did not move" means stale: two target
/// durations (players reload every target duration and a packager publishes about as often;
/// RFC 8216's players give a playlist 1.5 to 3 of them, and an encoder under load is late by a
/// fraction of one now and then). At the CDN hop its cache time comes on top.
pub fn settle(target_duration: u64) -> Duration {
    Duration::from_millis(target_duration.saturating_mul(2000))
}

/// The newest segment may end at most this long before now: three target durations, plus the
/// CDN's cache time for the playlist (`cdn_ttl`, zero at the origin).
pub fn freshness_limit(target_duration: u64, cdn_ttl: Duration) -> Duration {
    Duration::from_secs(target_duration.saturating_mul(3)) + cdn_ttl
}

/// Judge two looks at one media playlist: `before`, then `after` taken `apart` later, at
/// `now` (the host's clock, which must be synchronized for the freshness check).
pub fn judge(
    before: &MediaPlaylist,
    after: &MediaPlaylist,
    apart: Duration,
    now: DateTime<Utc>,
    cdn_ttl: Duration,
) -> Verdict {
    if after.ended {
        return Verdict::Ended;
    }
    let target = after.target_duration.max(1);
    let Some(sequence) = after.newest_sequence() else {
        return Verdict::Stale { sequence: after.media_sequence, why: "the playlist lists no segment".into() };
    };
    let previous = before.newest_sequence().unwrap_or(0);
    let restarted =
        after.discontinuity_sequence != before.discontinuity_sequence || after.media_sequence < before.media_sequence;
    if !restarted && sequence <= previous {
        // Quiet for as long as the looks were apart, or (by its program date-time) since the
        // newest segment ended, whichever is longer: a stream frozen just after one look is
        // called stale a settle after its last segment, not a settle after the next look.
        let wait = settle(target) + cdn_ttl;
        let quiet = after.newest_end().map_or(apart, |end| (now - end).to_std().unwrap_or_default().max(apart));
        if quiet < wait {
            return Verdict::Again { after: wait - quiet };
        }
        return Verdict::Stale {
            sequence,
            why: format!("segment {sequence} is still the newest after {:.1} s", quiet.as_secs_f64()),
        };
    }
    let age = after.newest_end().map(|end| (now - end).to_std().unwrap_or_default());
    if let Some(a) = age {
        let limit = freshness_limit(target, cdn_ttl);
        if a > limit {
            return Verdict::Stale {
                sequence,
                why: format!(
                    "the newest segment ended {:.1} s ago (more than {:.0} s)",
                    a.as_secs_f64(),
                    limit.as_secs_f64()
                ),
            };
        }
    }
    Verdict::Live { sequence, age, restarted }
}

/// Whether viewers see the event, from one look at every stream at both hops.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum OnAir {
    /// Every stream advances and is fresh at both hops; `age`: the oldest newest segment.
    Live { age: Option<Duration> },
    /// Not live yet, and not known to be wrong: nothing published yet (404 or 5xx while
    /// starting), or a first look with nothing to compare with.
    NotYet,
    /// A stream stopped moving (or ended) at some hop.
    Stale,
    /// A hop answers what no stream answers: its status (0: no answer).
    Broken { hop: Hop, status: u16 },
}

impl OnAir {
    pub fn is_live(&self) -> bool {
        matches!(self, OnAir::Live { .. })
    }

    pub fn label(&self) -> &'static str {
        match self {
            OnAir::Live { .. } => "live",
            OnAir::NotYet => "not yet",
            OnAir::Stale => "stale",
            OnAir::Broken { .. } => "broken",
        }
    }
}

/// What one look says: the state, the diagnosis an operator reads, and when to look again
/// at the earliest (a first look needs a second one a settle later).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub state: OnAir,
    pub diagnosis: String,
    pub again_after: Option<Duration>,
}

/// Where a hop is, for a person: "origin" or "CloudFront".
pub fn hop_label(h: Hop) -> &'static str {
    match h {
        Hop::Origin => "origin",
        Hop::Cdn => "CloudFront",
    }
}

/// A failure that may still be "not yet": nothing published (404), the packager or CDN not
/// ready (5xx), or no answer at all.
fn may_be_early(status: u16) -> bool {
    status == 0 || status == 404 || status >= 500
}

fn age_text(age: Option<Duration>) -> String {
    age.map(|a| format!(" (newest segment {:.1} s old)", a.as_secs_f64())).unwrap_or_default()
}

/// One stream's two hops, told as an operator reads them.
fn diagnose(label: &str, origin: &HopState, cdn: &HopState) -> String {
    use HopState::*;
    match (origin, cdn) {
        (Live { age: a, .. }, Live { age: b, .. }) => format!("{label} live{}", age_text((*a).max(*b))),
        (Live { .. }, Failed { status: 403, .. }) => {
            format!("{label}: origin fresh, CloudFront 403: check the CDN secret / behaviour")
        }
        (Live { .. }, Failed { why, .. }) => format!("{label}: origin fresh, CloudFront broken: {why}"),
        (Live { .. }, Stale { why }) => {
            format!("{label}: origin fresh, CloudFront stale ({why}): check the behaviour's caching")
        }
        (Failed { status: 403, .. }, _) => {
            format!("{label}: origin 403: MediaPackage refuses the CDN identifier (check the CDN secret)")
        }
        (Failed { status: 404, .. }, _) => {
            format!("{label}: origin 404: MediaPackage has no stream yet (is the channel sending to it?)")
        }
        (Failed { why, .. }, _) => format!("{label}: origin broken: {why}"),
        (Stale { why }, _) => format!("{label}: origin stale ({why}): the encoder or the packager stopped"),
        (Ended, _) | (_, Ended) => format!("{label}: the stream says it ended"),
        (Looking { .. }, _) | (_, Looking { .. }) => format!("{label}: waiting for a second look"),
    }
}

/// Turn one look into the event's state. `starting`: inside the start deadline, where a 404
/// or a 5xx is "not yet" rather than broken.
pub fn assess(looks: &[HopLook], starting: bool) -> Assessment {
    let mut labels: Vec<&'static str> = Vec::new();
    for l in looks {
        if !labels.contains(&l.stream) {
            labels.push(l.stream);
        }
    }
    if labels.is_empty() {
        return Assessment { state: OnAir::NotYet, diagnosis: "no stream to look at".into(), again_after: None };
    }
    let mut state = OnAir::Live { age: None };
    let mut lines = Vec::new();
    let mut again_after: Option<Duration> = None;
    // Broken > stale > not yet > live.
    let rank = |s: &OnAir| match s {
        OnAir::Broken { .. } => 3,
        OnAir::Stale => 2,
        OnAir::NotYet => 1,
        OnAir::Live { .. } => 0,
    };
    let pending = HopState::Looking { after: Duration::ZERO };
    for label in labels {
        let of = |hop: Hop| looks.iter().find(|l| l.stream == label && l.hop == hop).map(|l| &l.state);
        let (origin, cdn) = (of(Hop::Origin).unwrap_or(&pending), of(Hop::Cdn).unwrap_or(&pending));
        lines.push(diagnose(label, origin, cdn));
        for (hop, s) in [(Hop::Origin, origin), (Hop::Cdn, cdn)] {
            let this = match s {
                HopState::Live { age, .. } => OnAir::Live { age: *age },
                HopState::Looking { after } => {
                    again_after = Some(again_after.map_or(*after, |a| a.min(*after)));
                    OnAir::NotYet
                }
                HopState::Stale { .. } | HopState::Ended => OnAir::Stale,
                HopState::Failed { status, .. } if starting && may_be_early(*status) => OnAir::NotYet,
                HopState::Failed { status, .. } => OnAir::Broken { hop, status: *status },
            };
            state = match (state, this) {
                (OnAir::Live { age: a }, OnAir::Live { age: b }) => OnAir::Live { age: a.max(b) },
                (a, b) if rank(&b) > rank(&a) => b,
                // The origin's failure explains the CDN's: keep the first (origin first).
                (a, _) => a,
            };
        }
    }
    Assessment { state, diagnosis: lines.join("; "), again_after }
}

#[cfg(test)]
mod tests {
    use super::hls::tests::LIVE;
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    fn advanced(by: u64) -> String {
        LIVE.replace("MEDIA-SEQUENCE:120", &format!("MEDIA-SEQUENCE:{}", 120 + by)).replace(
            "2026-12-04T20:00:00.000Z",
            &(at("2026-12-04T20:00:00Z") + chrono::Duration::seconds(2 * by as i64))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
    }

    #[test]
    fn an_advancing_fresh_playlist_is_live_and_a_frozen_one_stale_once_looks_are_far_enough_apart() {
        let before = MediaPlaylist::parse(LIVE).expect("parse");
        let after = MediaPlaylist::parse(&advanced(2)).expect("parse");
        let now = at("2026-12-04T20:00:11Z");
        assert_eq!(
            judge(&before, &after, Duration::from_secs(4), now, Duration::ZERO),
            Verdict::Live { sequence: 124, age: Some(Duration::from_secs(1)), restarted: false }
        );
        // Not moved, but looked at again too soon to say (two target durations; at the CDN hop
        // its cache time too).
        assert_eq!(
            judge(&before, &before, Duration::from_secs(3), at("2026-12-04T20:00:07Z"), Duration::ZERO),
            Verdict::Again { after: Duration::from_secs(1) }
        );
        assert_eq!(
            judge(&before, &before, Duration::from_secs(4), at("2026-12-04T20:00:07Z"), Duration::from_secs(2)),
            Verdict::Again { after: Duration::from_secs(2) }
        );
        let frozen = judge(&before, &before, Duration::from_secs(4), at("2026-12-04T20:00:07Z"), Duration::ZERO);
        assert!(
            matches!(&frozen, Verdict::Stale { sequence: 122, why } if why.contains("still the newest")),
            "{frozen:?}"
        );
    }

    #[test]
    fn an_old_newest_segment_is_stale_allowing_for_the_cdn_cache() {
        let p = MediaPlaylist::parse(&advanced(2)).expect("parse");
        let before = MediaPlaylist::parse(LIVE).expect("parse");
        let late = at("2026-12-04T20:00:20Z"); // the newest segment ended at 20:00:10
        assert!(matches!(judge(&before, &p, Duration::from_secs(4), late, Duration::ZERO), Verdict::Stale { .. }));
        assert!(matches!(
            judge(&before, &p, Duration::from_secs(4), late, Duration::from_secs(5)),
            Verdict::Live { .. }
        ));
    }

    #[test]
    fn a_sequence_reset_or_new_discontinuity_is_a_restart_not_a_failure_and_endlist_is_the_end() {
        let before = MediaPlaylist::parse(&advanced(10)).expect("parse");
        let reset = MediaPlaylist::parse(&LIVE.replace("MEDIA-SEQUENCE:120", "MEDIA-SEQUENCE:0")).expect("parse");
        let now = at("2026-12-04T20:00:07Z");
        assert!(matches!(
            judge(&before, &reset, Duration::from_secs(4), now, Duration::ZERO),
            Verdict::Live { restarted: true, .. }
        ));
        let disc = MediaPlaylist::parse(
            &advanced(10)
                .replace("#EXT-X-TARGETDURATION:2\n", "#EXT-X-TARGETDURATION:2\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
        )
        .expect("parse");
        assert!(matches!(
            judge(&before, &disc, Duration::from_secs(4), at("2026-12-04T20:00:27Z"), Duration::ZERO),
            Verdict::Live { restarted: true, .. }
        ));
        let ended = MediaPlaylist::parse(&format!("{LIVE}#EXT-X-ENDLIST\n")).expect("parse");
        assert_eq!(judge(&before, &ended, Duration::from_secs(4), now, Duration::ZERO), Verdict::Ended);
    }

    fn hop(stream: &'static str, hop: Hop, state: HopState) -> HopLook {
        HopLook { stream, hop, state, latency: Duration::ZERO, requests: 1, bytes: 1, target_duration: Some(2) }
    }

    fn live(ms: u64) -> HopState {
        HopState::Live { age: Some(Duration::from_millis(ms)), restarted: false }
    }

    #[test]
    fn the_diagnosis_names_the_broken_hop() {
        let cdn_403 = [
            hop("HLS", Hop::Origin, live(500)),
            hop("HLS", Hop::Cdn, HopState::Failed { status: 403, why: "the playlist answered 403".into() }),
        ];
        let a = assess(&cdn_403, true);
        assert_eq!(a.state, OnAir::Broken { hop: Hop::Cdn, status: 403 }, "a 403 is never 'not yet'");
        assert_eq!(a.diagnosis, "HLS: origin fresh, CloudFront 403: check the CDN secret / behaviour");

        let both_404 = [
            hop("HLS", Hop::Origin, HopState::Failed { status: 404, why: "x".into() }),
            hop("HLS", Hop::Cdn, HopState::Failed { status: 404, why: "x".into() }),
        ];
        assert_eq!(assess(&both_404, true).state, OnAir::NotYet, "404 while starting: not yet");
        let late = assess(&both_404, false);
        assert_eq!(late.state, OnAir::Broken { hop: Hop::Origin, status: 404 }, "the origin's failure first");
        assert!(late.diagnosis.contains("origin 404: MediaPackage has no stream yet"), "{}", late.diagnosis);

        let stale = [
            hop("HLS", Hop::Origin, live(100)),
            hop("HLS", Hop::Cdn, live(900)),
            hop("DASH", Hop::Origin, HopState::Stale { why: "the MPD did not change in 3.0 s".into() }),
            hop("DASH", Hop::Cdn, HopState::Stale { why: "the MPD did not change in 3.0 s".into() }),
        ];
        let a = assess(&stale, false);
        assert_eq!(a.state, OnAir::Stale);
        assert_eq!(
            a.diagnosis,
            "HLS live (newest segment 0.9 s old); DASH: origin stale (the MPD did not change in 3.0 s): the encoder or the packager stopped"
        );
    }

    #[test]
    fn live_only_when_every_stream_is_live_at_both_hops() {
        let first = [
            hop("HLS", Hop::Origin, HopState::Looking { after: Duration::from_secs(3) }),
            hop("HLS", Hop::Cdn, HopState::Looking { after: Duration::from_secs(2) }),
        ];
        let a = assess(&first, true);
        assert_eq!((a.state, a.again_after), (OnAir::NotYet, Some(Duration::from_secs(2))));
        let all = [
            hop("HLS", Hop::Origin, live(100)),
            hop("HLS", Hop::Cdn, live(1200)),
            hop("DASH", Hop::Origin, live(300)),
            hop("DASH", Hop::Cdn, live(400)),
        ];
        let a = assess(&all, false);
        assert_eq!(a.state, OnAir::Live { age: Some(Duration::from_millis(1200)) });
        assert!(a.state.is_live());
        assert_eq!(assess(&[], false).state, OnAir::NotYet, "nothing to look at is never live");
    }
}
