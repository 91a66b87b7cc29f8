//! What an event will cost, before it runs. Pure: the event's definition, the price table,
//! the region, an audience size and the clock.
//!
//! - **MediaLive**: the channel runs from its start (`start_before` ahead of the on-air time)
//!   to its stop (`stop_after` past the off-air time) of the event's next window (or its only
//!   one, even past); billed as one run: rounded up to the minute, at least 10 minutes, times
//!   each line's hourly rate. An on-demand event has no window: it is priced per hour.
//! - **MediaPackage ingest**: what MediaLive pushes while it runs: every rendition's bitrate
//!   plus the audio track of each rendition that carries it, times the pipelines (STANDARD
//!   pushes two copies), for the running time.
//! - **Audience** (a range, over the on-air time only): low = every viewer on the lowest
//!   rendition, high = every viewer on the highest, each with the audio track. Viewers watch
//!   one packaging (HLS); with MediaPackage's audio rendition group a player fetches a video
//!   and an audio playlist and segment per segment duration (2 requests without it).
//!   - **MediaPackage origination**: what CloudFront fetches from the origin. A cache hit
//!     ratio of [`CACHE_HIT_RATIO`] is assumed (viewers of a live stream share its segments),
//!     and at least one copy of the watched rendition is fetched.
//!   - **CloudFront**: viewer GB at the table's per-GB price, requests at its per-10 000 price.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::billing::{billed_minutes, minutes_up};
use super::class::classify;
use super::prices::PriceTable;
use super::rates::Rates;
use crate::config::profile::Rendition;
use crate::config::Resolved;
use crate::schedule::{When, Window};

/// Viewers assumed when none are given.
pub const DEFAULT_AUDIENCE: u64 = 100;
/// Share of viewer requests CloudFront answers from its caches.
pub const CACHE_HIT_RATIO: f64 = 0.9;

/// Bytes in the GB AWS's per-GB prices count (decimal, as the facts' 2.6 GB/h are).
const GB: f64 = 1e9;

/// What the estimate covers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Span {
    /// A timed event's window: the channel runs `start_at` to `stop_at`, on air
    /// `on_air` to `off_air`.
    Window { start_at: DateTime<Utc>, on_air: DateTime<Utc>, off_air: DateTime<Utc>, stop_at: DateTime<Utc> },
    /// An on-demand event: one hour on air, the channel running that hour.
    PerHour,
}

/// A quantity and what it costs, when the table prices it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Priced {
    pub gb: f64,
    /// Dollars per GB; `None`: unpriced.
    pub per_gb: Option<f64>,
    pub cost: Option<f64>,
}

impl Priced {
    fn new(gb: f64, per_gb: Option<f64>) -> Priced {
        Priced { gb, per_gb, cost: per_gb.map(|p| gb * p) }
    }
}

/// What one viewing assumption (everyone on one rendition) amounts to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Viewing {
    /// The rendition everyone watches.
    pub rendition: String,
    /// Its video bitrate plus the audio track, bits per second.
    pub bits_per_second: f64,
    /// Delivered to viewers (CloudFront data transfer out).
    pub transfer: Priced,
    /// Fetched from MediaPackage (origination).
    pub origination: Priced,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Audience {
    pub viewers: u64,
    pub cache_hit_ratio: f64,
    pub low: Viewing,
    pub high: Viewing,
    /// HTTPS requests to CloudFront (the same for low and high).
    pub requests: u64,
    /// Dollars per 10 000 requests; `None`: unpriced.
    pub requests_per_10k: Option<f64>,
    pub requests_cost: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ingest {
    /// Every rendition's bitrate and the audio tracks, one pipeline, bits per second.
    pub bits_per_second: f64,
    pub pipelines: usize,
    pub priced: Priced,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub event: String,
    pub region: String,
    pub prices_as_of: NaiveDate,
    pub prices_origin: String,
    pub span: Span,
    /// The channel's running time as MediaLive bills it.
    pub billed_minutes: u64,
    /// The event's own (on-air) minutes.
    pub event_minutes: u64,
    pub medialive: Rates,
    pub medialive_per_hour: f64,
    pub medialive_cost: f64,
    pub ingest: Ingest,
    pub audience: Audience,
    /// Every line the table does not price: `unpriced: <class>`.
    pub unpriced: Vec<String>,
    /// The priced lines' sum with the audience low and high.
    pub total_low: f64,
    pub total_high: f64,
}

impl Estimate {
    /// Billed minutes per event minute (the goal is at most 1.05 for a 1-hour event).
    pub fn ratio(&self) -> f64 {
        self.billed_minutes as f64 / self.event_minutes.max(1) as f64
    }
}

/// The window an estimate covers: the current or next one, else a one-off event's only one.
pub fn window_of(ev: &Resolved, now: DateTime<Utc>) -> Option<Window> {
    let t = ev.spec.timing.as_ref()?;
    t.windows_from(now, 1).into_iter().next().or_else(|| match t.when {
        When::Once { start, end } => Some(t.window_for(start, end)),
        When::Recurring { .. } => None,
    })
}

fn gb(bits_per_second: f64, seconds: f64) -> f64 {
    bits_per_second * seconds / 8.0 / GB
}

/// Estimate `ev`'s cost with `table` in `region` for `viewers`.
pub fn estimate(ev: &Resolved, table: &PriceTable, region: &str, viewers: u64, now: DateTime<Utc>) -> Estimate {
    let (wf, profile) = (&ev.workflow, &ev.profile);
    let (span, running, on_air) = match window_of(ev, now) {
        Some(w) => (
            Span::Window { start_at: w.start_at, on_air: w.on_air, off_air: w.off_air, stop_at: w.stop_at },
            w.stop_at - w.start_at,
            w.off_air - w.on_air,
        ),
        None => (Span::PerHour, chrono::Duration::hours(1), chrono::Duration::hours(1)),
    };
    let rates = Rates::of(&classify(wf, profile), table, region);
    let minutes = billed_minutes(running);
    let package = table.mediapackage(region);
    let cf = &table.cloudfront;

    let audio = f64::from(profile.audio.bitrate);
    let carried = profile.renditions.iter().filter(|r| r.audio).count() as f64;
    let ladder: f64 = profile.renditions.iter().map(|r| f64::from(r.bitrate)).sum::<f64>() + audio * carried;
    let pipelines = wf.media_live.channel_class.pipelines();
    let running_s = running.num_milliseconds().max(0) as f64 / 1000.0;
    let ingest = Ingest {
        bits_per_second: ladder,
        pipelines,
        priced: Priced::new(gb(ladder, running_s) * pipelines as f64, package.ingest_per_gb),
    };

    let on_air_s = on_air.num_milliseconds().max(0) as f64 / 1000.0;
    let viewing = |r: Option<&Rendition>| {
        let (name, video) = r.map_or((String::new(), 0.0), |r| (r.name.clone(), f64::from(r.bitrate)));
        let bps = video + audio;
        let delivered = gb(bps, on_air_s) * viewers as f64;
        let one_copy = if viewers == 0 { 0.0 } else { gb(bps, on_air_s) };
        let origin = (delivered * (1.0 - CACHE_HIT_RATIO)).max(one_copy);
        Viewing {
            rendition: name,
            bits_per_second: bps,
            transfer: Priced::new(delivered, cf.transfer_out_per_gb),
            origination: Priced::new(origin, package.origination_per_gb),
        }
    };
    let low = viewing(profile.renditions.iter().min_by_key(|r| (r.bitrate, r.height)));
    let high = viewing(profile.renditions.iter().max_by_key(|r| (r.bitrate, r.height)));
    let mp = &wf.media_package;
    let per_segment = if mp.hls_audio_rendition_group { 4 } else { 2 };
    let segment_s = u64::try_from(mp.hls_segment_duration_seconds).unwrap_or(1).max(1);
    let segments = (on_air_s as u64).div_ceil(segment_s);
    let requests = viewers.saturating_mul(segments).saturating_mul(per_segment);
    let audience = Audience {
        viewers,
        cache_hit_ratio: CACHE_HIT_RATIO,
        requests,
        requests_per_10k: cf.https_requests_per_10k,
        requests_cost: cf.https_requests_per_10k.map(|p| requests as f64 / 10_000.0 * p),
        low,
        high,
    };

    let mut unpriced = rates.unpriced();
    let mut missing = |what: &str, price: Option<f64>| {
        if price.is_none() {
            unpriced.push(format!("unpriced: {what}"));
        }
    };
    missing(&format!("MediaPackage ingest per GB ({region})"), package.ingest_per_gb);
    missing(&format!("MediaPackage origination per GB ({region})"), package.origination_per_gb);
    missing("CloudFront data transfer out per GB", cf.transfer_out_per_gb);
    missing("CloudFront HTTPS requests per 10 000", cf.https_requests_per_10k);

    let medialive_cost = rates.cost(minutes);
    let fixed = medialive_cost + ingest.priced.cost.unwrap_or(0.0) + audience.requests_cost.unwrap_or(0.0);
    let variable = |v: &Viewing| v.transfer.cost.unwrap_or(0.0) + v.origination.cost.unwrap_or(0.0);
    Estimate {
        event: ev.spec.id.clone(),
        region: region.to_string(),
        prices_as_of: table.as_of,
        prices_origin: table.origin.clone(),
        span,
        billed_minutes: minutes,
        event_minutes: minutes_up(on_air),
        medialive_per_hour: rates.per_hour(),
        medialive: rates,
        medialive_cost,
        total_low: fixed + variable(&audience.low),
        total_high: fixed + variable(&audience.high),
        ingest,
        audience,
        unpriced,
    }
}
