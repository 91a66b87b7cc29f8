//! The daemon's Prometheus metrics: events by phase, phase transitions, AWS errors and how
//! late each scheduled action fired. Served as text on `GET /metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub action: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    pub event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HopLabel {
    pub event: String,
    pub stream: String,
    pub hop: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

pub struct Metrics {
    registry: Registry,
    pub events_by_phase: Family<PhaseLabel, Gauge>,
    pub transitions: Family<ActionLabel, Counter>,
    pub aws_errors: Family<ErrorLabel, Counter>,
    /// Seconds between a phase boundary and the moment its action started.
    pub fire_lateness: Histogram,
    pub reloads: Family<ActionLabel, Counter>,
    /// Tasks working for the daemon when `/metrics` was read (recovery, chat, alert intake).
    pub tasks: Gauge,
    /// Event leases this daemon holds now (it is working on those events).
    pub leases_held: Gauge,
    /// Leases this daemon took over from a holder that stopped renewing.
    pub lease_takeovers: Counter,
    /// Per event on air: seconds since the newest segment ended (the oldest over streams).
    pub stream_age: Family<EventLabel, FloatGauge>,
    /// Per event, stream and hop: how long the last look took.
    pub probe_latency: Family<HopLabel, FloatGauge>,
    /// Requests and bytes the stream probe spent, per event, stream and hop.
    pub probe_requests: Family<HopLabel, Counter>,
    pub probe_bytes: Family<HopLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ottd");
        let events_by_phase = Family::<PhaseLabel, Gauge>::default();
        let transitions = Family::<ActionLabel, Counter>::default();
        let aws_errors = Family::<ErrorLabel, Counter>::default();
        let reloads = Family::<ActionLabel, Counter>::default();
        let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];
        let fire_lateness = Histogram::new(buckets);
        registry.register("events", "Events by the phase the engine last recorded", events_by_phase.clone());
        registry.register("transitions", "Engine actions taken by the scheduler", transitions.clone());
        registry.register("aws_errors", "AWS calls that failed after retries", aws_errors.clone());
        registry.register(
            "fire_lateness_seconds",
            "Delay between a phase boundary and its action",
            fire_lateness.clone(),
        );
        registry.register("config_reloads", "Configuration reloads", reloads.clone());
        let tasks = Gauge::default();
        registry.register("tasks", "Tasks working for the daemon (recovery, chat, alert intake)", tasks.clone());
        let leases_held = Gauge::default();
        registry.register("leases_held", "Event leases this daemon holds now", leases_held.clone());
        let lease_takeovers = Counter::default();
        registry.register(
            "lease_takeovers",
            "Event leases taken over from a holder that stopped renewing",
            lease_takeovers.clone(),
        );
        let stream_age = Family::<EventLabel, FloatGauge>::default();
        registry.register(
            "stream_age_seconds",
            "Seconds since the newest segment ended, per event on air",
            stream_age.clone(),
        );
        let probe_latency = Family::<HopLabel, FloatGauge>::default();
        registry.register("probe_latency_seconds", "How long the last look at a hop took", probe_latency.clone());
        let probe_requests = Family::<HopLabel, Counter>::default();
        registry.register("probe_requests", "Requests made by the stream probe", probe_requests.clone());
        let probe_bytes = Family::<HopLabel, Counter>::default();
        registry.register("probe_bytes", "Bytes received by the stream probe", probe_bytes.clone());
        Metrics {
            stream_age,
            probe_latency,
            probe_requests,
            probe_bytes,
            registry,
            events_by_phase,
            transitions,
            aws_errors,
            fire_lateness,
            reloads,
            tasks,
            leases_held,
            lease_takeovers,
        }
    }

    /// One look at one hop of one stream.
    pub fn probe_look(&self, event: &str, l: &crate::probe::look::HopLook) {
        let label = HopLabel {
            event: event.to_string(),
            stream: l.stream.to_string(),
            hop: crate::probe::hop_label(l.hop).to_string(),
        };
        self.probe_latency.get_or_create(&label).set(l.latency.as_secs_f64());
        self.probe_requests.get_or_create(&label).inc_by(u64::from(l.requests));
        self.probe_bytes.get_or_create(&label).inc_by(l.bytes);
    }

    pub fn stream_age(&self, event: &str, age: Option<std::time::Duration>) {
        if let Some(a) = age {
            self.stream_age.get_or_create(&EventLabel { event: event.to_string() }).set(a.as_secs_f64());
        }
    }

    /// An event left the air: its per-event gauges go (the counters stay, as counters do).
    pub fn forget_stream(&self, event: &str) {
        self.stream_age.remove(&EventLabel { event: event.to_string() });
    }

    pub fn render(&self) -> String {
        use std::sync::atomic::Ordering;
        // The engine counts leases in process-wide atomics; copy them in at each scrape (one
        // scrape at a time, so the counter never gets the same takeovers twice).
        static SCRAPE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = SCRAPE.lock().unwrap_or_else(|p| p.into_inner());
        self.leases_held.set(crate::engine::lease::HELD.load(Ordering::Relaxed));
        let takeovers = crate::engine::lease::TAKEOVERS.load(Ordering::Relaxed);
        let _ = self.lease_takeovers.inc_by(takeovers.saturating_sub(self.lease_takeovers.get()));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_the_registered_families() {
        let m = Metrics::new();
        m.events_by_phase.get_or_create(&PhaseLabel { phase: "running".into() }).set(2);
        m.transitions.get_or_create(&ActionLabel { action: "start".into(), outcome: "ok".into() }).inc();
        m.fire_lateness.observe(0.003);
        let text = m.render();
        assert!(text.contains("ottd_events{phase=\"running\"} 2"), "{text}");
        assert!(text.contains("ottd_transitions_total{action=\"start\",outcome=\"ok\"} 1"), "{text}");
        assert!(text.contains("ottd_fire_lateness_seconds_count 1"), "{text}");
    }
}
