//! The desired phase of an event: a pure, level-triggered function of (timing, enabled flag,
//! now, operator override). No I/O and no clock: the daemon passes `now`, moves the engine
//! toward the answer with [`step_toward`], and sleeps until [`Decision::next_boundary`]. The
//! answer never depends on why or how late the daemon asks, so a missed, late or repeated
//! wake-up, or a restart, never matters.
//!
//! # Rules
//! - One window ([`Window`], cut at the next occurrence by [`Timing::window_at`]) goes
//!   `Absent` → `Deployed` (at `deploy_at`) → `Running` (at `start_at`) → `Stopped` (at
//!   `stop_at`) → `TornDown` (at `teardown_at`), never backward. Each bound is inclusive at
//!   its start: the phase changes *at* the boundary instant.
//! - Catch-up: the answer at `now` is where the window stands at `now`, whatever happened
//!   before. Inside `[start_at, stop_at)` that is `Running` (deploy and start at once); after
//!   `stop_at` it is never `Running`: an event whose end has passed is never started.
//! - Overlapping occurrences of a recurring event: the strongest demand wins (`Running` over
//!   deployed-and-idle over nothing), so one occurrence never stops or tears down what the
//!   next one already needs. Ties go to the later occurrence, which is the window reported.
//! - Between occurrences: `TornDown` (`Absent` before the first one); with `keep_deployed`,
//!   `Deployed`. A cron has no first occurrence (every valid pattern also matched in the
//!   past), so a `keep_deployed` event is deployed from the moment it is loaded.
//! - On-demand events (no timing): `None`, only commands move them.
//! - Disabled events (`enabled = false`): the daemon puts nothing new up and kills nothing
//!   live. Inside a window, before its `stop_at`: `None` (leave as is: a live event stays on
//!   air, an absent one stays absent). From `stop_at`, and between occurrences: `TornDown`
//!   (a live one is stopped at its scheduled stop and removed at once). Before: `Absent`.
//! - Overrides ([`Override`]), applied last, while in force (`until` unset or after `now`;
//!   `set_at` is for audit and `status`, not used here):
//!   `Hold` → `None` (leave as is); `Start` → `Running`; `Teardown` → `TornDown`;
//!   `Stop` → the schedule's answer, but `Stopped` instead of `Running` (a stop never
//!   deploys anything); `Deploy` → the schedule's answer, but `Deployed` instead of
//!   `Absent`/`TornDown` (the schedule still starts it on time). A manual start is the
//!   operator's explicit wish: it wins even after the window's end. Once `until` passes the
//!   schedule resumes control; [`override_until`] gives the usual `until`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::timing::{Timing, When, Window};
use crate::lifecycle::Phase;
pub use crate::lifecycle::{Override, OverrideKind};

/// What should exist for an event at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Desired {
    /// Before deploy time: nothing should exist yet.
    Absent,
    /// Deployed, channel idle, waiting for the start time (or, with `keep_deployed`, for the
    /// next occurrence).
    Deployed,
    /// Deployed and the channel running: from `start_at` to `stop_at`.
    Running,
    /// After `stop_at`: channel idle, still deployed until `teardown_at` (nothing is deployed
    /// for it: see [`step_toward`]).
    Stopped,
    /// After the window: nothing should exist.
    TornDown,
}

impl Desired {
    pub fn as_str(self) -> &'static str {
        match self {
            Desired::Absent => "absent",
            Desired::Deployed => "deployed",
            Desired::Running => "running",
            Desired::Stopped => "stopped",
            Desired::TornDown => "torn-down",
        }
    }

    /// How much must exist: 0 nothing, 1 deployed with the channel idle, 2 running.
    fn level(self) -> u8 {
        match self {
            Desired::Absent | Desired::TornDown => 0,
            Desired::Deployed | Desired::Stopped => 1,
            Desired::Running => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// `None` = leave as is (on-demand, held, or disabled inside its window).
    pub desired: Option<Desired>,
    /// The window the answer comes from; when none covers `now`, the next one, else the last.
    pub window: Option<Window>,
    /// The next instant after `now` at which the decision may change (phase boundary or
    /// override expiry); `None` = never without an outside change. Constant before it.
    pub next_boundary: Option<DateTime<Utc>>,
}

/// An engine call (`Engine::deploy`, `start`, `stop`, `teardown`), each idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Deploy,
    Start,
    Stop,
    Teardown,
}

/// The schedule's own answer, before the enabled flag and overrides.
struct Scheduled {
    desired: Desired,
    window: Option<Window>,
    /// Whether a window covers `now` (rather than the gap between two of them).
    covering: bool,
    next_boundary: Option<DateTime<Utc>>,
}

/// Where window `w` stands at `now`.
fn phase_in(w: &Window, now: DateTime<Utc>) -> Desired {
    if now < w.deploy_at {
        Desired::Absent
    } else if now < w.start_at {
        Desired::Deployed
    } else if now < w.stop_at {
        Desired::Running
    } else if now < w.teardown_at {
        Desired::Stopped
    } else {
        Desired::TornDown
    }
}

fn scheduled(t: &Timing, now: DateTime<Utc>) -> Scheduled {
    // Only two occurrences matter: the last one on air at or before `now` and the first after.
    // Earlier windows ended (cut at the next on-air time, at or before `now`); a later one
    // can only have begun if the first one after `now` has, since all lead times are equal.
    let prev_on = t.occurrence_at_or_before(now);
    let mut after = t.occurrences_after(now);
    let next_on = after.next();
    let prev = prev_on.map(|p| t.window_at(p, next_on));
    // The next window's end is cut by the one after it; it only matters for the report.
    let next = next_on.map(|n| t.window_at(n, None));
    let p = prev.map(|w| (phase_in(&w, now), w));
    let n = next.map(|w| (phase_in(&w, now), w));
    let chosen = match (p, n) {
        (Some(p), Some(n)) if p.0.level() > n.0.level() => Some(p),
        (_, Some(n)) if n.0.level() > 0 => Some(n),
        (Some(p), _) if p.0.level() > 0 => Some(p),
        _ => None,
    };
    let recurring = matches!(t.when, When::Recurring { .. });
    let (desired, window, covering) = match chosen {
        Some((d, w)) => (d, Some(w), true),
        None => {
            let d = match prev_on {
                Some(_) if recurring && t.keep_deployed => Desired::Deployed,
                Some(_) => Desired::TornDown,
                None => Desired::Absent,
            };
            (d, next.or(prev), false)
        }
    };
    let window = match (window, next_on) {
        (Some(w), Some(n)) if w.on_air == n => Some(t.window_at(n, after.next())),
        (w, _) => w,
    };
    let candidates = [
        next.map(|w| w.deploy_at),
        next.map(|w| w.start_at),
        next_on,
        prev.map(|w| w.stop_at),
        prev.map(|w| w.teardown_at),
    ];
    let next_boundary = candidates.into_iter().flatten().filter(|b| *b > now).min();
    Scheduled { desired, window, covering, next_boundary }
}

/// The desired state of an event at `now`; see the module documentation for the rules.
pub fn decide(timing: Option<&Timing>, enabled: bool, now: DateTime<Utc>, ov: Option<&Override>) -> Decision {
    let Some(t) = timing else {
        return Decision { desired: None, window: None, next_boundary: None };
    };
    let s = scheduled(t, now);
    let mut desired = Some(s.desired);
    if !enabled {
        desired = match s.desired {
            Desired::Running | Desired::Deployed if s.covering => None,
            Desired::Deployed | Desired::Stopped => Some(Desired::TornDown),
            d => Some(d),
        };
    }
    let mut next_boundary = s.next_boundary;
    if let Some(o) = ov.filter(|o| o.in_force(now)) {
        desired = match (o.kind, desired) {
            (OverrideKind::Hold, _) => None,
            (OverrideKind::Start, _) => Some(Desired::Running),
            (OverrideKind::Teardown, _) => Some(Desired::TornDown),
            (OverrideKind::Stop, Some(Desired::Running)) => Some(Desired::Stopped),
            (OverrideKind::Deploy, Some(Desired::Absent | Desired::TornDown)) => Some(Desired::Deployed),
            (OverrideKind::Stop | OverrideKind::Deploy, d) => d,
        };
        if let Some(u) = o.until {
            next_boundary = Some(next_boundary.map_or(u, |b| b.min(u)));
        }
    }
    Decision { desired, window: s.window, next_boundary }
}

/// The usual `until` of an override set at `now`: the `teardown_at` of the window covering
/// `now` (the operator's wish holds to the end of this show); between windows, the next
/// window's `deploy_at` (a forgotten manual stop or teardown must not cancel the next show);
/// `None` when the schedule has nothing more to do (on-demand, or a one-off event that is over).
pub fn override_until(timing: Option<&Timing>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = scheduled(timing?, now);
    let w = s.window?;
    if s.covering {
        Some(w.teardown_at)
    } else {
        Some(w.deploy_at).filter(|d| *d > now)
    }
}

/// The next `limit` changes of the schedule's desired state after `now` (enabled, no
/// override), for `ottd schedule`. Instants where the answer stays the same (back-to-back
/// occurrences) are skipped; an event that never changes again lists nothing.
pub fn next_boundaries(timing: Option<&Timing>, now: DateTime<Utc>, limit: usize) -> Vec<(DateTime<Utc>, Desired)> {
    let mut out = Vec::new();
    let Some(t) = timing else { return out };
    let mut current = scheduled(t, now);
    // An occurrence that starts before the previous one stops runs on without a change:
    // bound the search instead of walking such a cron forever.
    for _ in 0..limit.saturating_mul(16).saturating_add(64) {
        if out.len() >= limit {
            break;
        }
        let Some(b) = current.next_boundary else {
            break;
        };
        let next = scheduled(t, b);
        if next.desired != current.desired {
            out.push((b, next.desired));
        }
        current = next;
    }
    out
}

/// The engine calls that move an event from `actual` (the phase the engine last recorded;
/// `None` = never deployed) to `desired`, in order.
/// - Interrupted steps (`Deploying`, `Starting`, `Stopping`) are finished by repeating them:
///   every engine call is idempotent and looks at AWS before acting, and teardown tolerates a
///   deploy that never finished.
/// - `Stopped` never deploys: after a show's stop time there is nothing to put up, only a
///   channel to stop (a daemon back from downtime does not deploy an event that is over).
/// - An interrupted teardown is finished first, alone: the engine refuses to deploy while
///   `TearingDown`, and a teardown may end still pending (CloudFront disabling), so a
///   redeploy is planned by the next call, once the phase reads `TornDown`. The daemon asks
///   again after each run until the answer is empty.
pub fn step_toward(actual: Option<Phase>, desired: Desired) -> Vec<Action> {
    use Action::*;
    use Desired as D;
    use Phase::*;
    match (actual, desired) {
        (Some(TearingDown), _) => vec![Teardown],
        (Some(Starting | Running | Stopping), D::Absent | D::TornDown) => vec![Stop, Teardown],
        (Some(Deploying | Deployed | Stopped), D::Absent | D::TornDown) => vec![Teardown],
        (None | Some(TornDown), D::Absent | D::TornDown) => vec![],
        (None | Some(TornDown | Deploying), D::Deployed) => vec![Deploy],
        (None | Some(TornDown | Deploying), D::Running) => vec![Deploy, Start],
        (None | Some(TornDown | Deploying), D::Stopped) => vec![],
        (Some(Deployed | Stopped), D::Deployed | D::Stopped) => vec![],
        // The engine's start waits for a stopping channel to be idle, a starting one to run.
        (Some(Deployed | Stopped | Starting | Stopping), D::Running) => vec![Start],
        (Some(Starting | Running | Stopping), D::Deployed | D::Stopped) => vec![Stop],
        (Some(Running), D::Running) => vec![],
    }
}

#[cfg(test)]
mod tests;
