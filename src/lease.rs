//! Lease decisions, on this process's monotonic clock alone (pure: times come in as
//! arguments). The records live in the store ([`crate::store::leases`]); this module decides
//! when a contender may take one over and when a holder must consider its own lost.
//!
//! The rules, after AWS's DynamoDB lock client and Kubernetes' leader election:
//! - a contender that finds a lease held notes its version and the instant *it* first saw it;
//!   only when the version is unchanged a whole lease duration later may it take over (clock
//!   offsets between hosts never matter, only a difference in clock *rate*, which the margin
//!   between `duration` and `renew_deadline` absorbs);
//! - a holder renews every `retry`; its lease is valid until `duration` after it *sent* its last
//!   successful renewal (a contender's wait starts later than that, when it reads the record);
//! - a holder that has not renewed within `renew_deadline` of its last success gives up: every
//!   task acting under the lease is cancelled at once.

use std::time::Duration;

use tokio::time::Instant;

/// How long a lease lasts and how its holder keeps it (`[lease]` in ottd.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LeaseSettings {
    /// How long a holder may go without renewing before others take over.
    pub duration: Duration,
    /// A holder that has not renewed for this long stops acting.
    pub renew_deadline: Duration,
    /// How often a holder renews, and a contender looks again.
    pub retry: Duration,
}

impl Default for LeaseSettings {
    /// Kubernetes' usual leader-election settings.
    fn default() -> LeaseSettings {
        LeaseSettings {
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

/// Bounds on the settings (`validate` names the field that breaks one).
pub const DURATION_RANGE: (Duration, Duration) = (Duration::from_secs(3), Duration::from_secs(300));
pub const RETRY_RANGE: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(60));

impl LeaseSettings {
    /// What is wrong with these settings, by field: Kubernetes requires
    /// duration > renew_deadline > 1.2 × retry, and so does ottd.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let (lo, hi) = DURATION_RANGE;
        if self.duration < lo || self.duration > hi {
            out.push(("duration", format!("must be between {} and {}", secs(lo), secs(hi))));
        }
        let (lo, hi) = RETRY_RANGE;
        if self.retry < lo || self.retry > hi {
            out.push(("retry", format!("must be between {} and {}", secs(lo), secs(hi))));
        }
        if self.renew_deadline >= self.duration {
            out.push((
                "renew_deadline",
                format!(
                    "must be shorter than duration ({}), or a holder may act after others took over",
                    secs(self.duration)
                ),
            ));
        }
        if self.renew_deadline.as_secs_f64() <= 1.2 * self.retry.as_secs_f64() {
            out.push(("renew_deadline", format!("must be longer than 1.2 × retry ({})", secs(self.retry))));
        }
        out
    }
}

fn secs(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// What a contender saw of another holder's lease: its version, since when (on this clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub version: String,
    pub since: Instant,
}

/// What a contender does next about a lease someone holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contend {
    /// Take it over: the version has not moved for a whole lease.
    TakeOver { seen: String },
    /// Look again in this long at most; `watch` is what to remember meanwhile.
    Wait { after: Duration, watch: Watch },
}

/// A contender finds the lease held at `version` (promised for `duration`), having watched
/// it as `before` (if at all).
pub fn contend(before: Option<&Watch>, version: &str, duration: Duration, now: Instant) -> Contend {
    match before {
        Some(w) if w.version == version => {
            let waited = now.saturating_duration_since(w.since);
            if waited >= duration {
                Contend::TakeOver { seen: version.to_string() }
            } else {
                Contend::Wait { after: duration - waited, watch: w.clone() }
            }
        }
        // First sight, or it moved: the holder is alive; the wait starts again.
        _ => Contend::Wait { after: duration, watch: Watch { version: version.to_string(), since: now } },
    }
}

/// A holder's view of its own lease: when it last renewed (the instant the renewal was sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub renewed: Instant,
    pub settings: LeaseSettings,
}

impl Held {
    /// Until when the lease is surely still ours: nobody takes over before `duration` has
    /// passed since they read a version we wrote after `renewed`.
    pub fn valid_until(&self) -> Instant {
        self.renewed + self.settings.duration
    }

    /// How much of the lease is surely left at `now`.
    pub fn left(&self, now: Instant) -> Duration {
        self.valid_until().saturating_duration_since(now)
    }

    /// Whether an irreversible step taking up to `call` (plus a margin of one retry) may start.
    pub fn may_start(&self, now: Instant, call: Duration) -> bool {
        self.left(now) > call + self.settings.retry
    }

    /// Whether the holder must give up: no renewal for `renew_deadline`.
    pub fn given_up(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.renewed) >= self.settings.renew_deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_shipped_defaults_are_kubernetes_and_valid() {
        let s = LeaseSettings::default();
        assert_eq!((s.duration, s.renew_deadline, s.retry), (secs(15), secs(10), secs(2)));
        assert!(s.problems().is_empty());
        let bad = LeaseSettings { duration: secs(10), renew_deadline: secs(10), retry: secs(9) };
        let fields: Vec<_> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["renew_deadline", "renew_deadline"]);
        let tiny = LeaseSettings { duration: secs(1), renew_deadline: Duration::from_millis(500), retry: secs(0) };
        let fields: Vec<_> = tiny.problems().into_iter().map(|(f, _)| f).collect();
        assert!(fields.contains(&"duration") && fields.contains(&"retry"), "{fields:?}");
    }

    #[test]
    fn a_contender_takes_over_only_after_a_whole_lease_of_the_same_version() {
        let t0 = Instant::now();
        let Contend::Wait { after, watch } = contend(None, "v1", secs(15), t0) else { panic!("first sight waits") };
        assert_eq!(after, secs(15));
        let Contend::Wait { after, watch } = contend(Some(&watch), "v1", secs(15), t0 + secs(14)) else {
            panic!("not yet")
        };
        assert_eq!(after, secs(1));
        assert_eq!(watch.since, t0, "the watch keeps its first instant");
        let Contend::Wait { watch: moved, .. } = contend(Some(&watch), "v2", secs(15), t0 + secs(14)) else {
            panic!("a renewal restarts the wait")
        };
        assert_eq!(moved.since, t0 + secs(14));
        assert_eq!(contend(Some(&watch), "v1", secs(15), t0 + secs(15)), Contend::TakeOver { seen: "v1".into() });
    }

    #[test]
    fn a_holder_gives_up_at_its_renew_deadline_and_starts_nothing_it_cannot_finish() {
        let t0 = Instant::now();
        let h = Held { renewed: t0, settings: LeaseSettings::default() };
        assert!(h.may_start(t0 + secs(5), secs(5)), "10 s left > 5 s call + 2 s margin");
        assert!(!h.may_start(t0 + secs(9), secs(5)), "6 s left < 7 s");
        assert!(!h.given_up(t0 + Duration::from_millis(9_999)));
        assert!(h.given_up(t0 + secs(10)));
        assert_eq!(h.left(t0 + secs(20)), Duration::ZERO);
    }

    proptest! {
        /// Safety on equal clock rates: whatever the delays, a holder that renewed at `sent`
        /// (its version read by the contender at `read` >= `sent`) has given up, and its lease
        /// is no longer valid on its own clock, before the contender may take over.
        #[test]
        fn no_contender_takes_over_while_the_holder_may_still_act(
            read_delay_ms in 0u64..5_000, ask_ms in 0u64..60_000,
        ) {
            let s = LeaseSettings::default();
            let base = Instant::now();
            let sent = base;
            let read = sent + Duration::from_millis(read_delay_ms);
            let h = Held { renewed: sent, settings: s };
            let Contend::Wait { watch, .. } = contend(None, "v", s.duration, read) else { unreachable!() };
            let now = read + Duration::from_millis(ask_ms);
            if matches!(contend(Some(&watch), "v", s.duration, now), Contend::TakeOver { .. }) {
                prop_assert!(h.given_up(now));
                prop_assert_eq!(h.left(now), Duration::ZERO);
            }
        }
    }
}
