//! The stream probe: is the stream really live, at the origin and through CloudFront? A pure
//! checker over what was fetched and when (unit-tested on recorded playlists); the fetching is
//! an edge of its own.
//!
//! HLS (RFC 8216): a media playlist is live when it has no `#EXT-X-ENDLIST`, its sequence
//! advances between two fetches taken at least a target duration apart, and its newest
//! segment ends close to now by its program date-time. A lower sequence, or a new
//! discontinuity sequence, is an encoder restart: reported, not failed.
//!
//! Layout: [`hls`] (playlists and media sniffing). Still to come (issue 20): DASH, the
//! fetcher at both hops, "on air" only when live, watching while live, the preview page.

pub mod hls;

use std::time::Duration;

use chrono::{DateTime, Utc};

use hls::MediaPlaylist;

/// Where a fetch went: straight to MediaPackage (with the CDN authorization header, as
/// CloudFront sends it), or through CloudFront as viewers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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

/// How far apart two looks must be before "it did not move" means stale: one and a half
/// target durations (players reload every target duration, MediaPackage publishes a segment
/// about as often).
pub fn settle(target_duration: u64) -> Duration {
    Duration::from_millis(target_duration.saturating_mul(1500))
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
        if apart < settle(target) {
            return Verdict::Again { after: settle(target) - apart };
        }
        return Verdict::Stale {
            sequence,
            why: format!("segment {sequence} is still the newest after {:.1} s", apart.as_secs_f64()),
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
        // Not moved, but looked at again too soon to say.
        assert_eq!(
            judge(&before, &before, Duration::from_secs(2), at("2026-12-04T20:00:07Z"), Duration::ZERO),
            Verdict::Again { after: Duration::from_secs(1) }
        );
        let frozen = judge(&before, &before, Duration::from_secs(3), at("2026-12-04T20:00:07Z"), Duration::ZERO);
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
}
