//! Watching while live: every event the state says is RUNNING is looked at every
//! `probe.every` (one target duration by default) at the origin and through CloudFront. A
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
    /// When the state recorded it RUNNING: inside `probe.deadline` of it, nothing published
    /// yet is "not yet" (start is still waiting for the stream), not broken.
    running_since: DateTime<Utc>,
    target: Option<Target>,
    watcher: Watcher,
    next: Instant,
    since: Option<DateTime<Utc>>,
    /// ottd's own alerts open on the event (read once from the state, then kept here).
    raised: Vec<&'static str>,
    /// Consecutive looks that found a hop broken.
    broken_looks: u32,
}

/// Looks in a row a hop must be broken before `Stream Broken` is raised: one look may fall in
/// the gap of an encoder restart (the packager has nothing for a moment).
pub const BROKEN_LOOKS: u32 = 2;

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
    /// Until `stop`; `phases`: every event's phase as the daemon's main loop last read it.
    pub async fn run(
        self: Arc<Self>,
        mut phases: tokio::sync::watch::Receiver<super::Phases>,
        stop: CancellationToken,
    ) {
        let mut watched: HashMap<String, Watched> = HashMap::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Which events run comes from the main loop's one read of the phases, at the store's
        // pace (every second from a local file, less often from a shared table, which bills
        // per request); the phase gauge is made from the same read.
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if phases.has_changed().unwrap_or(false) {
                let now = phases.borrow_and_update().clone();
                self.refresh(&now, &mut watched).await;
            }
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
    async fn refresh(&self, phases: &[(String, Phase, DateTime<Utc>)], watched: &mut HashMap<String, Watched>) {
        let running: Vec<(&str, DateTime<Utc>)> =
            phases.iter().filter(|(_, p, _)| *p == Phase::Running).map(|(e, _, at)| (e.as_str(), *at)).collect();
        let gone: Vec<String> =
            watched.keys().filter(|e| !running.iter().any(|(r, _)| r == &e.as_str())).cloned().collect();
        for event in gone {
            if let Some(mut w) = watched.remove(&event) {
                self.board.forget(&event);
                self.metrics.forget_stream(&event);
                self.clear(&event, &mut w, "the event is off air").await;
            }
        }
        for (event, at) in running {
            if let Some(w) = watched.get_mut(event) {
                w.running_since = at;
                continue;
            }
            let channel_id = match self.store.resource(event, crate::plan::CHANNEL) {
                Ok(Some(r)) => r.aws_id.unwrap_or_default(),
                _ => continue,
            };
            let raised = match self.store.alerts(Some(event), false) {
                Ok(rows) => [STREAM_STALE, STREAM_BROKEN]
                    .into_iter()
                    .filter(|t| rows.iter().any(|r| r.alert_type == *t && r.is_open()))
                    .collect(),
                Err(e) => {
                    tracing::warn!(event, "stream watch: cannot read alerts (looking again later): {e}");
                    continue;
                }
            };
            watched.insert(
                event.to_string(),
                Watched {
                    channel_id,
                    running_since: at,
                    target: None,
                    watcher: Watcher::default(),
                    next: Instant::now(),
                    since: None,
                    raised,
                    broken_looks: 0,
                },
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
        let starting = (Utc::now() - w.running_since).to_std().unwrap_or_default() < self.settings.deadline;
        let a = probe::assess(&looks, starting);
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
        w.broken_looks = if matches!(a.state, OnAir::Broken { .. }) { w.broken_looks + 1 } else { 0 };
        match alert_for(&a.state) {
            Some(STREAM_BROKEN) if w.broken_looks < BROKEN_LOOKS => {}
            Some(alert_type) => {
                let since = *w.since.get_or_insert(now);
                self.raise(event, w, alert_type, &a.diagnosis, since).await;
            }
            None if a.state.is_live() => {
                if w.since.take().is_some() {
                    tracing::info!(event, "stream live again: {}", a.diagnosis);
                }
                self.clear(event, w, &a.diagnosis).await;
            }
            None => {}
        }
        self.board.set(event, Latest { state: a.state, diagnosis: a.diagnosis, at: now, since: w.since });
    }

    /// Record `alert_type` SET on the event (once while it is open) and tell recovery.
    async fn raise(&self, event: &str, w: &mut Watched, alert_type: &'static str, why: &str, since: DateTime<Utc>) {
        if w.raised.contains(&alert_type) {
            return;
        }
        tracing::warn!(event, "{alert_type}: {why}");
        let alert = Alert {
            state: AlarmState::Set,
            alarm_id: alarm_id(alert_type),
            alert_type: alert_type.to_string(),
            pipeline: 0,
            message: why.to_string(),
        };
        if self.record(event, &w.channel_id, &alert, since).await {
            w.raised.push(alert_type);
        }
    }

    /// Clear ottd's own alerts open on the event.
    async fn clear(&self, event: &str, w: &mut Watched, why: &str) {
        for alert_type in std::mem::take(&mut w.raised) {
            let alert = Alert {
                state: AlarmState::Cleared,
                alarm_id: alarm_id(alert_type),
                alert_type: alert_type.to_string(),
                pipeline: 0,
                message: why.to_string(),
            };
            if !self.record(event, &w.channel_id, &alert, Utc::now()).await {
                // Not recorded: still open in the state; cleared at the next live look.
                w.raised.push(alert_type);
            }
        }
    }

    /// Record one SET or CLEARED and tell recovery; whether it is in the state now.
    async fn record(&self, event: &str, channel: &str, alert: &Alert, at: DateTime<Utc>) -> bool {
        let state = if alert.state == AlarmState::Set { "set" } else { "cleared" };
        let envelope = format!("ottd-probe:{event}:{}:{state}:{}", alert.alarm_id, Utc::now().timestamp_millis());
        match self.store.record_alert(&envelope, at, event, channel, alert).await {
            Ok(_) => {
                if let Some(tx) = &self.changed {
                    let told = tx.send_timeout(Changed::Alert { event: event.to_string() }, Duration::from_secs(5));
                    if let Err(e) = told.await {
                        tracing::warn!(event, "recovery did not take a stream alert ({e}); its next sweep does");
                    }
                }
                true
            }
            Err(e) => {
                tracing::warn!(event, "cannot record {} {state}: {e}", alert.alert_type);
                false
            }
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
