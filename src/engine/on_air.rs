//! "On air" only when it is: after MediaLive says RUNNING, look at the event's streams at the
//! origin and through CloudFront until every packaging is live at both hops, and fail after
//! `probe.deadline` with the probe's diagnosis.

use std::time::{Duration, Instant};

use super::report::{endpoints_of, playback_links};
use super::{Engine, EngineError, Outcome, Result};
use crate::aws::{cloudfront, secrets};
use crate::lifecycle::{Phase, Status};
use crate::plan::{self, Packaging};
use crate::probe::look::{Format, Stream, Target, Watcher};
use crate::probe::{self, Assessment};

/// How long to wait between looks when nothing is published yet: the first segment may come
/// at any moment, and a look at nothing costs a 404.
const LOOK_AGAIN: Duration = Duration::from_millis(500);

impl Engine {
    /// What the probe looks at for a deployed event: each packaging's manifest at MediaPackage
    /// and through CloudFront (Smooth Streaming is not probed), and the CDN identifier the
    /// origin hop must send.
    pub async fn probe_target(&self, event: &str) -> Result<Target> {
        let rows = self.store.resources(event)?;
        let created = |key: &str| rows.iter().find(|r| r.key == key && r.status == Status::Created);
        let domain = created(plan::DISTRIBUTION)
            .and_then(|r| r.attr("domain"))
            .ok_or_else(|| EngineError::NotDeployed(event.to_string()))?
            .to_string();
        let endpoints = endpoints_of(&rows);
        let mut streams = Vec::new();
        for (p, origin) in &endpoints {
            let (label, format) = match p {
                Packaging::Hls => ("HLS", Format::Hls),
                Packaging::Dash => ("DASH", Format::Dash),
                Packaging::Cmaf => ("CMAF", Format::Hls),
                Packaging::Mss => continue,
            };
            let Some(cdn) = playback_links(&domain, &[(*p, origin.clone())]).into_iter().next() else { continue };
            streams.push(Stream { label, format, origin: origin.clone(), cdn: cdn.url });
        }
        let cdn_header = match created(plan::SECRET) {
            Some(r) => {
                let value = secrets::value(&self.aws.secrets, &r.name).await?;
                Some((cloudfront::CDN_HEADER.to_string(), value.expose().to_string()))
            }
            None => None,
        };
        Ok(Target { streams, cdn_header })
    }

    /// Look at the event's streams until they are live at every hop (the channel is RUNNING):
    /// progress lines say what is missing; after `probe.deadline` it fails with the diagnosis.
    pub async fn wait_live(&self, event: &str) -> Result<Assessment> {
        let settings = &self.settings.probe;
        let fetch = self.fetch.as_ref().ok_or_else(|| EngineError::Probe(self.fetch_error.clone()))?;
        let target = self.probe_target(event).await?;
        let started = Instant::now();
        let step = "stream";
        let mut watcher = Watcher::default();
        let mut told = String::new();
        loop {
            // Someone stopped it meanwhile (a stop, a teardown): nothing to wait for.
            if let Some((phase, _)) = self.store.phase(event)? {
                if !matches!(phase, Phase::Running | Phase::Starting) {
                    return Err(EngineError::NotLive {
                        event: event.to_string(),
                        after: started.elapsed(),
                        diagnosis: format!("the event went {} while waiting for its stream", phase.as_str()),
                    });
                }
            }
            let starting = started.elapsed() < settings.deadline;
            let looks =
                watcher.look(fetch.as_ref(), &target, chrono::Utc::now(), Instant::now(), settings.cdn_ttl).await;
            let a = probe::assess(&looks, starting);
            if a.state.is_live() {
                self.report(event, step, Outcome::Live, format!("on air: {}", a.diagnosis), started);
                return Ok(a);
            }
            // Inside the deadline even a broken hop may mend (a CDN still deploying): look again.
            if !starting {
                self.report(event, step, Outcome::Failed, a.diagnosis.clone(), started);
                return Err(EngineError::NotLive {
                    event: event.to_string(),
                    after: settings.deadline,
                    diagnosis: a.diagnosis,
                });
            }
            if a.diagnosis != told {
                self.report(
                    event,
                    step,
                    Outcome::Waiting,
                    format!("RUNNING, waiting for the stream: {}", a.diagnosis),
                    started,
                );
                told = a.diagnosis.clone();
            }
            let target_duration = looks.iter().filter_map(|l| l.target_duration).max();
            // Starting is when a few requests more buy the most: once a stream was seen, look
            // again at least every quarter of a target duration, so "on air" follows the
            // second segment closely.
            let quarter = target_duration.map_or(LOOK_AGAIN, |t| Duration::from_millis(250 * t));
            let pause = a
                .again_after
                .map_or(quarter, |after| after.min(quarter))
                .max(Duration::from_millis(200))
                .min(settings.deadline.saturating_sub(started.elapsed()).max(Duration::from_millis(200)));
            tokio::time::sleep(pause).await;
        }
    }
}
