//! HLS as the probe reads it (RFC 8216): the multivariant playlist's variants, a media
//! playlist's sequence, target duration, end and newest segment, and whether a segment's first
//! bytes look like media. Pure: text and bytes in, values out.

use chrono::{DateTime, Utc};

/// A variant of a multivariant playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub bandwidth: u64,
    pub uri: String,
}

/// One segment of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub uri: String,
    /// `#EXTINF`, seconds.
    pub duration: f64,
    /// `#EXT-X-PROGRAM-DATE-TIME` that applies to it (carried forward from the last tag).
    pub program_date_time: Option<DateTime<Utc>>,
}

/// A media playlist, as much as the probe needs.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// `#EXT-X-TARGETDURATION`, seconds.
    pub target_duration: u64,
    /// `#EXT-X-MEDIA-SEQUENCE` (0 when absent, as the RFC says).
    pub media_sequence: u64,
    /// `#EXT-X-DISCONTINUITY-SEQUENCE` (0 when absent).
    pub discontinuity_sequence: u64,
    /// `#EXT-X-ENDLIST`: the stream has ended (or it is not live at all).
    pub ended: bool,
    /// `#EXT-X-MAP` URI: fMP4 segments need this init segment.
    pub map: Option<String>,
    pub segments: Vec<Segment>,
}

/// What is wrong with a playlist's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    #[error("not an HLS playlist (no #EXTM3U first line)")]
    NotHls,
    #[error("line {line}: {message}")]
    Bad { line: usize, message: String },
    #[error("no #EXT-X-TARGETDURATION")]
    NoTargetDuration,
    #[error("a multivariant playlist with no variant")]
    NoVariant,
}

fn lines(text: &str) -> Result<impl Iterator<Item = (usize, &str)>, PlaylistError> {
    let mut it = text.lines().map(str::trim).enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.is_empty());
    match it.next() {
        Some((_, first)) if first.trim_start_matches('\u{feff}') == "#EXTM3U" => Ok(it),
        _ => Err(PlaylistError::NotHls),
    }
}

fn number<T: std::str::FromStr>(line: usize, tag: &str, value: &str) -> Result<T, PlaylistError> {
    value.trim().parse().map_err(|_| PlaylistError::Bad { line, message: format!("{tag}: `{value}` is not a number") })
}

/// `BANDWIDTH=…` of an `#EXT-X-STREAM-INF` attribute list (quoted values may hold commas).
fn attribute<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], quoted[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

/// Whether `text` is a multivariant playlist (it lists variants, not segments).
pub fn is_multivariant(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with("#EXT-X-STREAM-INF"))
}

/// The variants of a multivariant playlist, in the order listed.
pub fn variants(text: &str) -> Result<Vec<Variant>, PlaylistError> {
    let mut out = Vec::new();
    let mut pending: Option<u64> = None;
    for (n, line) in lines(text)? {
        if let Some(list) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let bw = attribute(list, "BANDWIDTH")
                .ok_or(PlaylistError::Bad { line: n, message: "#EXT-X-STREAM-INF without BANDWIDTH".into() })?;
            pending = Some(number(n, "BANDWIDTH", bw)?);
        } else if !line.starts_with('#') {
            if let Some(bandwidth) = pending.take() {
                out.push(Variant { bandwidth, uri: line.to_string() });
            }
        }
    }
    if out.is_empty() {
        return Err(PlaylistError::NoVariant);
    }
    Ok(out)
}

/// The lowest and the highest variant by bandwidth (the same one when there is only one).
pub fn extremes(variants: &[Variant]) -> Option<(&Variant, &Variant)> {
    let low = variants.iter().min_by_key(|v| v.bandwidth)?;
    let high = variants.iter().max_by_key(|v| v.bandwidth)?;
    Some((low, high))
}

impl MediaPlaylist {
    pub fn parse(text: &str) -> Result<MediaPlaylist, PlaylistError> {
        let mut target = None;
        let mut p = MediaPlaylist {
            target_duration: 0,
            media_sequence: 0,
            discontinuity_sequence: 0,
            ended: false,
            map: None,
            segments: Vec::new(),
        };
        let mut duration: Option<f64> = None;
        let mut pdt: Option<DateTime<Utc>> = None;
        for (n, line) in lines(text)? {
            if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                target = Some(number(n, "#EXT-X-TARGETDURATION", v)?);
            } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                p.media_sequence = number(n, "#EXT-X-MEDIA-SEQUENCE", v)?;
            } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
                p.discontinuity_sequence = number(n, "#EXT-X-DISCONTINUITY-SEQUENCE", v)?;
            } else if line == "#EXT-X-ENDLIST" {
                p.ended = true;
            } else if let Some(list) = line.strip_prefix("#EXT-X-MAP:") {
                p.map = attribute(list, "URI").map(str::to_string);
            } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
                let t = DateTime::parse_from_rfc3339(v.trim()).map_err(|_| PlaylistError::Bad {
                    line: n,
                    message: format!("#EXT-X-PROGRAM-DATE-TIME: `{v}` is not an ISO 8601 date-time"),
                })?;
                pdt = Some(t.with_timezone(&Utc));
            } else if let Some(v) = line.strip_prefix("#EXTINF:") {
                let secs = v.split(',').next().unwrap_or("");
                duration = Some(number(n, "#EXTINF", secs)?);
            } else if !line.starts_with('#') {
                let d = duration
                    .take()
                    .ok_or(PlaylistError::Bad { line: n, message: format!("segment `{line}` without #EXTINF") })?;
                p.segments.push(Segment { uri: line.to_string(), duration: d, program_date_time: pdt });
                // A PDT applies to the segment after it; later ones follow by their durations.
                pdt = pdt.map(|t| t + chrono::Duration::milliseconds((d * 1000.0).round() as i64));
            }
        }
        p.target_duration = target.ok_or(PlaylistError::NoTargetDuration)?;
        Ok(p)
    }

    /// The sequence number of the newest segment (media sequence + segments − 1), if any.
    pub fn newest_sequence(&self) -> Option<u64> {
        (self.segments.len() as u64).checked_sub(1).map(|n| self.media_sequence + n)
    }

    /// When the newest segment ends, by its program date-time (if the playlist carries one).
    pub fn newest_end(&self) -> Option<DateTime<Utc>> {
        let s = self.segments.last()?;
        s.program_date_time.map(|t| t + chrono::Duration::milliseconds((s.duration * 1000.0).round() as i64))
    }
}

/// Whether a segment's first bytes look like media: MPEG-TS (sync byte 0x47 at the start of
/// the first packets) or fragmented MP4 (a `styp`, `moof`, `mdat` or `sidx` box first).
pub fn looks_like_media(bytes: &[u8]) -> bool {
    let ts = !bytes.is_empty() && bytes.iter().step_by(188).take(4).all(|b| *b == 0x47);
    let mp4 = bytes.len() >= 8 && matches!(&bytes[4..8], b"styp" | b"moof" | b"mdat" | b"sidx" | b"ftyp");
    ts || mp4
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const MULTIVARIANT: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-STREAM-INF:BANDWIDTH=5400000,AVERAGE-BANDWIDTH=5000000,RESOLUTION=1920x1080,CODECS=\"avc1.640028,mp4a.40.2\",FRAME-RATE=30.000\n\
        index_1.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\"\n\
        index_3.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=2200000,RESOLUTION=960x540,CODECS=\"avc1.4d401f,mp4a.40.2\"\n\
        index_2.m3u8\n";

    pub(crate) const LIVE: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:120\n\
        #EXT-X-PROGRAM-DATE-TIME:2026-12-04T20:00:00.000Z\n#EXTINF:2.000,\nseg120.ts\n#EXTINF:2.000,\nseg121.ts\n\
        #EXTINF:2.000,\nseg122.ts\n";

    #[test]
    fn the_lowest_and_highest_variants_are_found_whatever_the_order_and_quoted_commas() {
        let v = variants(MULTIVARIANT).expect("variants");
        assert_eq!(v.len(), 3);
        let (low, high) = extremes(&v).expect("some");
        assert_eq!((low.uri.as_str(), high.uri.as_str()), ("index_3.m3u8", "index_1.m3u8"));
        assert!(is_multivariant(MULTIVARIANT) && !is_multivariant(LIVE));
        assert_eq!(variants("#EXTM3U\n#EXT-X-VERSION:3\n"), Err(PlaylistError::NoVariant));
        assert_eq!(variants("<html>403</html>"), Err(PlaylistError::NotHls));
    }

    #[test]
    fn a_media_playlist_gives_its_sequence_end_and_newest_segment_time() {
        let p = MediaPlaylist::parse(LIVE).expect("parse");
        assert_eq!((p.target_duration, p.media_sequence, p.ended), (2, 120, false));
        assert_eq!(p.newest_sequence(), Some(122));
        let end = p.newest_end().expect("a program date-time");
        assert_eq!(end.to_rfc3339(), "2026-12-04T20:00:06+00:00", "carried forward by the durations");
        let ended = format!("{LIVE}#EXT-X-ENDLIST\n");
        assert!(MediaPlaylist::parse(&ended).expect("parse").ended);
        let fmp4 = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:6.006,\nseg1.mp4\n";
        assert_eq!(MediaPlaylist::parse(fmp4).expect("parse").map.as_deref(), Some("init.mp4"));
    }

    #[test]
    fn a_broken_playlist_names_its_line() {
        let bad = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:x\n";
        assert_eq!(
            MediaPlaylist::parse(bad),
            Err(PlaylistError::Bad { line: 3, message: "#EXT-X-MEDIA-SEQUENCE: `x` is not a number".into() })
        );
        assert_eq!(MediaPlaylist::parse("#EXTM3U\n#EXTINF:2,\na.ts\n"), Err(PlaylistError::NoTargetDuration));
        assert!(matches!(
            MediaPlaylist::parse("#EXTM3U\n#EXT-X-TARGETDURATION:2\na.ts\n"),
            Err(PlaylistError::Bad { line: 3, .. })
        ));
    }

    #[test]
    fn media_is_told_from_an_error_page() {
        let mut ts = vec![0u8; 188 * 4];
        for i in 0..4 {
            ts[i * 188] = 0x47;
        }
        assert!(looks_like_media(&ts));
        assert!(looks_like_media(b"\0\0\0\x18moof\0\0\0\0"));
        assert!(!looks_like_media(b"<?xml version=\"1.0\"?><Error>AccessDenied</Error>"));
        assert!(!looks_like_media(b""));
    }
}
