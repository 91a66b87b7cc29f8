//! DASH as the probe reads it: an MPD's type, publish time and the live edge its segment
//! timeline gives. Pure: text in, values out.
//!
//! The live edge is `availabilityStartTime + Period@start + (last S@t + S@d × (1 + S@r) −
//! @presentationTimeOffset) / @timescale`, read from each adaptation set's `SegmentTimeline`
//! (the earliest of them: a stream whose audio stopped is stopped). "Now" comes from the MPD's
//! `UTCTiming` element when it carries the time directly.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{freshness_limit, settle, Verdict};

/// An MPD, as much as the probe needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Mpd {
    /// `type="dynamic"`: live. A static MPD is on demand, or a live stream that ended.
    pub dynamic: bool,
    pub publish_time: Option<DateTime<Utc>>,
    pub availability_start: Option<DateTime<Utc>>,
    pub minimum_update_period: Option<Duration>,
    /// `UTCTiming` with the direct scheme: the server's clock when it wrote the MPD.
    pub utc_timing: Option<DateTime<Utc>>,
    /// The live edge by the segment timelines (none without a timeline).
    pub live_edge: Option<DateTime<Utc>>,
    /// The newest segment's duration on the timeline that gives the edge.
    pub segment_duration: Option<Duration>,
    /// The newest segment's number on that timeline (its end over its duration).
    pub newest: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MpdError {
    #[error("not XML: {0}")]
    Xml(String),
    #[error("not a DASH manifest (the root element is <{0}>, not <MPD>)")]
    NotMpd(String),
    #[error("{element}@{attribute}: `{value}` is {what}")]
    Bad { element: &'static str, attribute: &'static str, value: String, what: &'static str },
}

/// An ISO 8601 duration as MPDs write them (`PT2S`, `PT1M30.5S`, `P1DT2H`): years and months
/// are refused (their length depends on the calendar).
pub fn iso_duration(s: &str) -> Option<Duration> {
    let rest = s.trim().strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut secs = 0f64;
    if !days.is_empty() {
        secs += days.strip_suffix('D')?.parse::<f64>().ok()? * 86_400.0;
    }
    let mut num = String::new();
    let mut any = !days.is_empty();
    for c in time.chars() {
        let unit = match c {
            'H' => 3600.0,
            'M' => 60.0,
            'S' => 1.0,
            c if c.is_ascii_digit() || c == '.' => {
                num.push(c);
                continue;
            }
            _ => return None,
        };
        secs += num.parse::<f64>().ok()? * unit;
        num.clear();
        any = true;
    }
    (any && num.is_empty() && secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

fn date(element: &'static str, attribute: &'static str, v: &str) -> Result<DateTime<Utc>, MpdError> {
    DateTime::parse_from_rfc3339(v.trim()).map(|t| t.with_timezone(&Utc)).map_err(|_| MpdError::Bad {
        element,
        attribute,
        value: v.to_string(),
        what: "not an ISO 8601 date-time",
    })
}

fn int(element: &'static str, attribute: &'static str, v: Option<&str>, default: u64) -> Result<u64, MpdError> {
    match v {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| MpdError::Bad {
            element,
            attribute,
            value: v.to_string(),
            what: "not a whole number",
        }),
    }
}

/// The end of one `SegmentTimeline`, in its timescale, and the last segment's duration.
fn timeline_end(timeline: roxmltree::Node<'_, '_>) -> Result<Option<(u64, u64)>, MpdError> {
    let mut end: Option<(u64, u64)> = None;
    for s in timeline.children().filter(|n| n.has_tag_name("S")) {
        let d = int("S", "d", s.attribute("d"), 0)?;
        let t = match s.attribute("t") {
            Some(_) => int("S", "t", s.attribute("t"), 0)?,
            None => end.map_or(0, |(e, _)| e),
        };
        // r = -1 repeats to the next S or the period's end: it adds nothing known here.
        let r = match s.attribute("r").map(str::trim) {
            Some(v) if v.starts_with('-') => 0,
            other => int("S", "r", other, 0)?,
        };
        end = Some((t.saturating_add(d.saturating_mul(r.saturating_add(1))), d));
    }
    Ok(end)
}

fn local<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

impl Mpd {
    pub fn parse(text: &str) -> Result<Mpd, MpdError> {
        let doc = roxmltree::Document::parse(text).map_err(|e| MpdError::Xml(e.to_string()))?;
        let root = doc.root_element();
        if root.tag_name().name() != "MPD" {
            return Err(MpdError::NotMpd(root.tag_name().name().to_string()));
        }
        let attr = |name: &'static str| root.attribute(name);
        let dynamic = attr("type").is_some_and(|t| t.trim() == "dynamic");
        let publish_time = attr("publishTime").map(|v| date("MPD", "publishTime", v)).transpose()?;
        let availability_start =
            attr("availabilityStartTime").map(|v| date("MPD", "availabilityStartTime", v)).transpose()?;
        let minimum_update_period = match attr("minimumUpdatePeriod") {
            None => None,
            Some(v) => Some(iso_duration(v).ok_or(MpdError::Bad {
                element: "MPD",
                attribute: "minimumUpdatePeriod",
                value: v.to_string(),
                what: "not an ISO 8601 duration",
            })?),
        };
        let utc_timing = root
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "UTCTiming")
            .find(|n| n.attribute("schemeIdUri").is_some_and(|s| s.starts_with("urn:mpeg:dash:utc:direct:")))
            .and_then(|n| n.attribute("value"))
            .map(|v| date("UTCTiming", "value", v))
            .transpose()?;
        let mut mpd = Mpd {
            dynamic,
            publish_time,
            availability_start,
            minimum_update_period,
            utc_timing,
            live_edge: None,
            segment_duration: None,
            newest: 0,
        };
        let Some(period) = root.children().rev().find(|n| n.is_element() && n.tag_name().name() == "Period") else {
            return Ok(mpd);
        };
        let period_start = match period.attribute("start") {
            None => Duration::ZERO,
            Some(v) => iso_duration(v).ok_or(MpdError::Bad {
                element: "Period",
                attribute: "start",
                value: v.to_string(),
                what: "not an ISO 8601 duration",
            })?,
        };
        for set in period.children().filter(|n| n.is_element() && n.tag_name().name() == "AdaptationSet") {
            // The template is on the adaptation set, or on its first representation.
            let template = local(set, "SegmentTemplate").or_else(|| {
                set.children()
                    .filter(|n| n.is_element() && n.tag_name().name() == "Representation")
                    .find_map(|r| local(r, "SegmentTemplate"))
            });
            let Some(template) = template else { continue };
            let Some(timeline) = local(template, "SegmentTimeline") else { continue };
            let Some((end, d)) = timeline_end(timeline)? else { continue };
            let timescale = int("SegmentTemplate", "timescale", template.attribute("timescale"), 1)?.max(1);
            let offset =
                int("SegmentTemplate", "presentationTimeOffset", template.attribute("presentationTimeOffset"), 0)?;
            let media = Duration::from_secs_f64(end.saturating_sub(offset) as f64 / timescale as f64);
            let Some(start) = mpd.availability_start else { continue };
            let edge = start + chrono::Duration::from_std(period_start + media).unwrap_or(chrono::Duration::zero());
            if mpd.live_edge.is_none_or(|e| edge < e) {
                mpd.live_edge = Some(edge);
                mpd.segment_duration = Some(Duration::from_secs_f64(d as f64 / timescale as f64));
                mpd.newest = end.checked_div(d).unwrap_or(0);
            }
        }
        Ok(mpd)
    }
}

/// Judge two looks at one MPD: `before`, then `after` taken `apart` later, at `now` (the
/// MPD's own UTC timing when it has one).
pub fn judge(before: &Mpd, after: &Mpd, apart: Duration, now: DateTime<Utc>, cdn_ttl: Duration) -> Verdict {
    if !after.dynamic {
        return Verdict::Ended;
    }
    let now = after.utc_timing.unwrap_or(now);
    let segment = after.segment_duration.unwrap_or(Duration::from_secs(2));
    let target = segment.as_secs_f64().ceil().max(1.0) as u64;
    let restarted = before.availability_start != after.availability_start
        || matches!((before.live_edge, after.live_edge), (Some(b), Some(a)) if a < b);
    let moved = after.publish_time > before.publish_time || after.live_edge > before.live_edge;
    if !restarted && !moved {
        let wait = settle(target) + cdn_ttl;
        let quiet = after.live_edge.map_or(apart, |edge| (now - edge).to_std().unwrap_or_default().max(apart));
        if quiet < wait {
            return Verdict::Again { after: wait - quiet };
        }
        return Verdict::Stale {
            sequence: after.newest,
            why: format!("the MPD did not change in {:.1} s (publishTime and live edge)", quiet.as_secs_f64()),
        };
    }
    let age = after.live_edge.map(|edge| (now - edge).to_std().unwrap_or_default());
    if let Some(a) = age {
        let limit = freshness_limit(target, cdn_ttl);
        if a > limit {
            return Verdict::Stale {
                sequence: after.newest,
                why: format!(
                    "the live edge is {:.1} s behind now (more than {:.0} s)",
                    a.as_secs_f64(),
                    limit.as_secs_f64()
                ),
            };
        }
    }
    Verdict::Live { sequence: after.newest, age, restarted }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MPD as ffmpeg's dash muxer writes it live (trimmed), 2 s segments at timescale 1000.
    pub const LIVE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic"
  minimumUpdatePeriod="PT2S" suggestedPresentationDelay="PT6S" availabilityStartTime="2026-12-04T20:00:00.000Z"
  publishTime="2026-12-04T20:01:00.000Z" timeShiftBufferDepth="PT12S" minBufferTime="PT4S">
  <Period id="0" start="PT0.0S">
    <AdaptationSet id="0" contentType="video" segmentAlignment="true">
      <Representation id="0" mimeType="video/mp4" codecs="avc1.64000d" bandwidth="300000" width="320" height="180">
        <SegmentTemplate timescale="1000" initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
          <SegmentTimeline>
            <S t="50000" d="2000" r="4" />
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" segmentAlignment="true">
      <Representation id="2" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="64000" audioSamplingRate="48000">
        <SegmentTemplate timescale="48000" initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
          <SegmentTimeline>
            <S t="2400000" d="96000" />
            <S d="96000" r="2" />
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"#;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    /// The same MPD `by` segments later.
    fn advanced(by: u64) -> String {
        LIVE.replace(
            "publishTime=\"2026-12-04T20:01:00.000Z\"",
            &format!("publishTime=\"2026-12-04T20:01:{:02}.000Z\"", 2 * by),
        )
        .replace("t=\"50000\"", &format!("t=\"{}\"", 50000 + 2000 * by))
        .replace("t=\"2400000\"", &format!("t=\"{}\"", 2400000 + 96000 * by))
    }

    #[test]
    fn iso_durations_as_mpds_write_them() {
        assert_eq!(iso_duration("PT2S"), Some(Duration::from_secs(2)));
        assert_eq!(iso_duration("PT1M30.5S"), Some(Duration::from_millis(90_500)));
        assert_eq!(iso_duration("P1DT2H"), Some(Duration::from_secs(93_600)));
        assert_eq!(iso_duration("PT0.0S"), Some(Duration::ZERO));
        for bad in ["", "P", "PT", "2S", "P1Y", "PT5", "PTxS", "PT-1S"] {
            assert_eq!(iso_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_live_edge_is_the_earliest_timeline_end_after_the_availability_start() {
        let m = Mpd::parse(LIVE).expect("parse");
        assert!(m.dynamic);
        assert_eq!(m.publish_time, Some(at("2026-12-04T20:01:00Z")));
        assert_eq!(m.minimum_update_period, Some(Duration::from_secs(2)));
        // Video: 50 s + 5 × 2 s = 60 s; audio: 2,400,000 + 4 × 96,000 = 2,784,000 / 48,000 = 58 s
        // (an S without t follows the previous one).
        assert_eq!(m.live_edge, Some(at("2026-12-04T20:00:58Z")));
        assert_eq!(m.segment_duration, Some(Duration::from_secs(2)));
        assert_eq!(m.newest, 29);
    }

    #[test]
    fn a_moving_mpd_is_live_a_frozen_one_stale_a_static_one_ended() {
        let before = Mpd::parse(LIVE).expect("parse");
        let after = Mpd::parse(&advanced(2)).expect("parse");
        let now = at("2026-12-04T20:01:03Z");
        assert_eq!(
            judge(&before, &after, Duration::from_secs(4), now, Duration::ZERO),
            Verdict::Live { sequence: 31, age: Some(Duration::from_secs(1)), restarted: false }
        );
        // Unchanged a second after its edge: too soon to say.
        assert_eq!(
            judge(&before, &before, Duration::from_secs(1), at("2026-12-04T20:00:59Z"), Duration::ZERO),
            Verdict::Again { after: Duration::from_secs(3) }
        );
        // Unchanged, and its edge two segments old: stale, however close the looks were.
        assert!(matches!(
            judge(&before, &before, Duration::from_secs(1), at("2026-12-04T20:01:02Z"), Duration::ZERO),
            Verdict::Stale { ref why, .. } if why.contains("did not change in 4.0 s")
        ));
        assert!(matches!(
            judge(&before, &before, Duration::from_secs(4), now, Duration::ZERO),
            Verdict::Stale { ref why, .. } if why.contains("did not change")
        ));
        // Moving, but its edge far behind the clock (a CDN serving an old copy that changes).
        assert!(matches!(
            judge(&before, &after, Duration::from_secs(4), at("2026-12-04T20:01:30Z"), Duration::ZERO),
            Verdict::Stale { ref why, .. } if why.contains("behind now")
        ));
        // The MPD's own clock wins over the host's.
        let timed = advanced(2).replace(
            "<Period",
            "<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"2026-12-04T20:01:03Z\"/>\n  <Period",
        );
        let timed = Mpd::parse(&timed).expect("parse");
        assert!(matches!(
            judge(&before, &timed, Duration::from_secs(4), at("2026-12-04T20:09:00Z"), Duration::ZERO),
            Verdict::Live { .. }
        ));
        let ended = Mpd::parse(&LIVE.replace("type=\"dynamic\"", "type=\"static\"")).expect("parse");
        assert_eq!(judge(&before, &ended, Duration::from_secs(4), now, Duration::ZERO), Verdict::Ended);
    }

    #[test]
    fn a_new_availability_start_is_a_restart_and_garbage_is_refused_with_its_reason() {
        let before = Mpd::parse(&advanced(5)).expect("parse");
        let restarted = Mpd::parse(
            &LIVE
                .replace(
                    "availabilityStartTime=\"2026-12-04T20:00:00.000Z\"",
                    "availabilityStartTime=\"2026-12-04T20:00:04.000Z\"",
                )
                .replace("publishTime=\"2026-12-04T20:01:00.000Z\"", "publishTime=\"2026-12-04T20:01:12.000Z\""),
        )
        .expect("parse");
        assert!(matches!(
            judge(&before, &restarted, Duration::from_secs(4), at("2026-12-04T20:01:03Z"), Duration::ZERO),
            Verdict::Live { restarted: true, .. }
        ));
        assert!(matches!(Mpd::parse("<html><body>403</body></html>"), Err(MpdError::NotMpd(r)) if r == "html"));
        assert!(matches!(Mpd::parse("#EXTM3U"), Err(MpdError::Xml(_))));
        let bad = LIVE.replace("d=\"2000\"", "d=\"two\"");
        assert_eq!(Mpd::parse(&bad).expect_err("bad").to_string(), "S@d: `two` is not a whole number");
    }
}
