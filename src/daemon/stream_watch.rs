//! Watching while live: every event the state says is RUNNING is looked at every
//! `probe.every` (two target durations by default) at the origin and through CloudFront. A
//! stale or broken stream becomes an alert of ottd's own (`Stream Stale`, `Stream Broken`),
//! recorded in the state like MediaLive's and handed to recovery, which notifies, acts by its
//! policy, counts it against the breaker and offers the chat buttons. A live look clears them.
//!
//! Bounds and ends: one task (on the operations layer's tracker), one entry per RUNNING event,
//! at most [`CONCURRENT`] events looked at at once, each request bounded by `probe.timeout`;
//! it ends at shutdown between looks. What it knows lives in the state (the alerts) or is
//! looked at again after a restart (the previous look; the first look after a restart only
//! compares, so a kill -9 costs one look, never a false alert).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::alerts::intake::Changed;
use crate::config::alerts::{STREAM_BROKEN, STREAM_STALE};
use crate::config::probe::ProbeSettings;
use crate::lifecycle::{AlarmState, Alert, Phase};
use crate::metrics::Metrics;
use crate::ops::workflows::EngineWorkflows;
use crate::probe::look::{Fetch, Target, Watcher};
use crate::probe::{self, Assessment, OnAir};
use crate::store::Store;

/// Events looked at concurrently.
pub const CONCURRENT: usize = 16;

/// How often the list of RUNNING events is read.
const TICK: Duration = Duration::from_secs(1);

/// The latest word on one event's stream (the preview page and `/metrics` read it).
#[derive(Debug, Clone, Serialize)]
pub struct Latest {
    pub state: OnAir,
    pub diagnosis: String,
    pub at: DateTime<Utc>,
    /// Stale or broken since (the first look that said so).
    pub since: Option<DateTime<Utc>>,
}

/// What the watcher saw last, per event.
#[derive(Default)]
pub struct Board {
    latest: Mutex<HashMap<String, Latest>>,
}

impl Board {
    pub fn get(&self, event: &str) -> Option<Latest> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).get(event).cloned()
    }

    pub(crate) fn set(&self, event: &str, l: Latest) {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).insert(event.to_string(), l);
    }

    fn forget(&self, event: &str) {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).remove(event);
    }
}

/// One watched event.
struct Watched {
    channel_id: String,
    target: Option<Target>,
    watcher: Watcher,
    next: Instant,
    since: Option<DateTime<Utc>>,
}

pub struct StreamWatch {
    pub store: Arc<Store>,
    pub workflows: Arc<EngineWorkflows>,
    pub fetch: Arc<dyn Fetch>,
    pub settings: ProbeSettings,
    pub metrics: Arc<Metrics>,
    /// Recovery's intake (none when alerts are off: the alerts are still recorded).
    pub changed: Option<mpsc::Sender<Changed>>,
    pub board: Arc<Board>,
}

/// The alert a state raises (none: live, or not known yet).
pub fn alert_for(state: &OnAir) -> Option<&'static str> {
    match state {
        OnAir::Stale => Some(STREAM_STALE),
        OnAir::Broken { .. } => Some(STREAM_BROKEN),
        OnAir::Live { .. } | OnAir::NotYet => None,
    }
}

/// The alarm id of an alert of ottd's own (one per type and event's channel).
pub fn alarm_id(alert_type: &str) -> String {
    format!("ottd-probe-{}", alert_type.to_ascii_lowercase().replace(' ', "-"))
}

impl StreamWatch {
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut watched: HashMap<String, Watched> = HashMap::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.refresh(&mut watched).await;
            let now = Instant::now();
            let due: Vec<(&String, &mut Watched)> = watched.iter_mut().filter(|(_, w)| w.next <= now).collect();
            let looks = futures::stream::iter(due).for_each_concurrent(CONCURRENT, |(event, w)| self.look(event, w));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = looks => {}
            }
        }
    }

    /// Keep one entry per event the state says is RUNNING; an event that left RUNNING has its
    /// own alerts cleared (it is off air: nothing is wrong with its stream any more).
    async fn refresh(&self, watched: &mut HashMap<String, Watched>) {
        let phases = match self.store.phases() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("stream watch: cannot read phases: {e}");
                return;
            }
        };
        let running: Vec<&str> =
            phases.iter().filter(|(_, p, _)| *p == Phase::Running).map(|(e, _, _)| e.as_str()).collect();
        let gone: Vec<String> = watched.keys().filter(|e| !running.contains(&e.as_str())).cloned().collect();
        for event in gone {
            if let Some(w) = watched.remove(&event) {
                self.board.forget(&event);
                self.metrics.forget_stream(&event);
                self.clear(&event, &w.channel_id, "the event is off air").await;
            }
        }
        for event in running {
            if watched.contains_key(event) {
                continue;
            }
            let channel_id = match self.store.resource(event, crate::plan::CHANNEL) {
                Ok(Some(r)) => r.aws_id.unwrap_or_default(),
                _ => continue,
            };
            watched.insert(
                event.to_string(),
                Watched { channel_id, target: None, watcher: Watcher::default(), next: Instant::now(), since: None },
            );
        }
    }

    async fn look(&self, event: &str, w: &mut Watched) {
        let span = tracing::info_span!("stream-watch", event = %event);
        self.look_in_span(event, w).instrument(span).await
    }

    async fn look_in_span(&self, event: &str, w: &mut Watched) {
        if w.target.is_none() {
            match self.workflows.engine().await.probe_target(event).await {
                Ok(t) => w.target = Some(t),
                Err(e) => {
                    tracing::warn!(event, "stream watch: cannot tell what to look at: {e}");
                    w.next = Instant::now() + self.settings.interval(None);
                    return;
                }
            }
        }
        let Some(target) = &w.target else { return };
        let looks =
            w.watcher.look(self.fetch.as_ref(), target, Utc::now(), Instant::now(), self.settings.cdn_ttl).await;
        let a = probe::assess(&looks, false);
        for l in &looks {
            self.metrics.probe_look(event, l);
        }
        if let OnAir::Live { age } = &a.state {
            self.metrics.stream_age(event, *age);
        }
        let td = looks.iter().filter_map(|l| l.target_duration).max();
        // A first look (nothing to compare with) asks for a second one a settle later.
        w.next = Instant::now() + a.again_after.unwrap_or_else(|| self.settings.interval(td));
        self.judge(event, w, a).await;
    }

    async fn judge(&self, event: &str, w: &mut Watched, a: Assessment) {
        let now = Utc::now();
        match alert_for(&a.state) {
            Some(alert_type) => {
                let since = *w.since.get_or_insert(now);
                self.raise(event, &w.channel_id, alert_type, &a.diagnosis, since).await;
            }
            None if a.state.is_live() => {
                if w.since.take().is_some() {
                    tracing::info!(event, "stream live again: {}", a.diagnosis);
                }
                self.clear(event, &w.channel_id, &a.diagnosis).await;
            }
            None => {}
        }
        self.board.set(event, Latest { state: a.state, diagnosis: a.diagnosis, at: now, since: w.since });
    }

    /// Record `alert_type` SET on the event (a repeat while it is open changes nothing) and
    /// tell recovery.
    async fn raise(&self, event: &str, channel: &str, alert_type: &str, diagnosis: &str, since: DateTime<Utc>) {
        if self.open(event, alert_type) {
            return;
        }
        tracing::warn!(event, "{alert_type}: {diagnosis}");
        let alert = Alert {
            state: AlarmState::Set,
            alarm_id: alarm_id(alert_type),
            alert_type: alert_type.to_string(),
            pipeline: 0,
            message: diagnosis.to_string(),
        };
        self.record(event, channel, &alert, since).await;
    }

    /// Clear ottd's own alerts of the event that are open.
    async fn clear(&self, event: &str, channel: &str, why: &str) {
        for alert_type in [STREAM_STALE, STREAM_BROKEN] {
            if !self.open(event, alert_type) {
                continue;
            }
            let alert = Alert {
                state: AlarmState::Cleared,
                alarm_id: alarm_id(alert_type),
                alert_type: alert_type.to_string(),
                pipeline: 0,
                message: why.to_string(),
            };
            self.record(event, channel, &alert, Utc::now()).await;
        }
    }

    fn open(&self, event: &str, alert_type: &str) -> bool {
        match self.store.alerts(Some(event), false) {
            Ok(rows) => rows.iter().any(|r| r.alert_type == alert_type && r.is_open()),
            Err(e) => {
                tracing::warn!(event, "stream watch: cannot read alerts: {e}");
                // Unknown: do not raise twice, do try to clear.
                alert_type == STREAM_STALE || alert_type == STREAM_BROKEN
            }
        }
    }

    async fn record(&self, event: &str, channel: &str, alert: &Alert, at: DateTime<Utc>) {
        let state = if alert.state == AlarmState::Set { "set" } else { "cleared" };
        let envelope = format!("ottd-probe:{event}:{}:{state}:{}", alert.alarm_id, Utc::now().timestamp_millis());
        match self.store.record_alert(&envelope, at, event, channel, alert).await {
            Ok(_) => {
                if let Some(tx) = &self.changed {
                    if let Err(e) =
                        tx.send_timeout(Changed::Alert { event: event.to_string() }, Duration::from_secs(5)).await
                    {
                        tracing::warn!(event, "recovery did not take a stream alert ({e}); its next sweep does");
                    }
                }
            }
            Err(e) => tracing::warn!(event, "cannot record {} {state}: {e}", alert.alert_type),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_and_broken_raise_their_own_alerts_live_and_not_yet_none() {
        assert_eq!(alert_for(&OnAir::Stale), Some(STREAM_STALE));
        assert_eq!(alert_for(&OnAir::Broken { hop: probe::Hop::Cdn, status: 403 }), Some(STREAM_BROKEN));
        assert_eq!(alert_for(&OnAir::Live { age: None }), None);
        assert_eq!(alert_for(&OnAir::NotYet), None);
        assert_eq!(alarm_id(STREAM_STALE), "ottd-probe-stream-stale");
    }
}
