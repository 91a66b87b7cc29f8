//! Recovery at work in the daemon: told by the intake that an event's alerts or channel
//! changed, it works out where the event stands (its schedule, the override, the recorded
//! phase), asks the pure policy ([`super::recovery::decide`]) what to do about each open
//! alert, carries out the verdict through the operations layer as the `recovery` actor, and
//! notifies: an alert SET, each action and its result, a breaker opening, a CLEARED after an
//! action. An alert waiting for its policy's delay is looked at again when the delay ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::intake::Changed;
use super::recovery::{self, Policies, Remedy, Situation, Standing, Verdict};
use crate::clock::Clock;
use crate::lifecycle::{OverrideKind, Phase};
use crate::live::outside::{self, Reported};
use crate::live::{LiveCommand, SwitchTarget};
use crate::notify::{Level, Notice, NoticeButton, Notifier};
use crate::ops::{Actor, Definitions, Given, Operation, Ops};
use crate::schedule::phase::{decide, Desired};
use crate::store::alerts::AlertRow;

pub struct Runner {
    ops: Arc<Ops>,
    definitions: Arc<dyn Definitions>,
    /// Swapped on reload; each pass reads them once.
    policies: RwLock<Arc<Policies>>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
    /// Per event: notices sent in the current storm window, and those held back.
    storms: Mutex<HashMap<String, Storm>>,
    /// Events being evaluated, and what was asked for meanwhile.
    busy: Mutex<HashMap<String, Pending>>,
    /// How often channels that should be on air are described in AWS (EventBridge delivery
    /// is best effort: a stop behind ottd's back may come with no event).
    resync: std::time::Duration,
}

/// What an alert's record says recovery did when its policy asked for a switch to a backup the
/// event can't take.
const CANNOT_SWITCH: &str = "none: cannot switch to backup";

/// Where a pass's wake-ups go (the event, and when to look again).
type Later = mpsc::UnboundedSender<(String, DateTime<Utc>)>;

/// What was asked of an event's pass while it ran.
#[derive(Debug, Default)]
struct Pending {
    /// One more pass.
    again: bool,
    /// The newest channel state MediaLive reported meanwhile.
    channel: Option<String>,
}

/// Notices about one event within [`STORM_WINDOW`] beyond [`STORM_MAX`] are held back and
/// summed up in one message when the window ends (errors always go through).
pub const STORM_MAX: u32 = 5;
pub const STORM_WINDOW: chrono::Duration = chrono::Duration::seconds(60);

/// One event's notices in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Storm {
    pub since: DateTime<Utc>,
    pub sent: u32,
    pub held: u32,
}

impl Storm {
    /// Whether a notice at `now` may go out (and count it either way).
    pub fn admit(&mut self, now: DateTime<Utc>) -> bool {
        if now >= self.since + STORM_WINDOW && self.held == 0 {
            *self = Storm { since: now, sent: 0, held: 0 };
        }
        if self.sent < STORM_MAX {
            self.sent += 1;
            true
        } else {
            self.held += 1;
            false
        }
    }

    /// At the end of its window: how many were held back (then a new window begins).
    pub fn flush(&mut self, now: DateTime<Utc>) -> Option<u32> {
        if now < self.since + STORM_WINDOW || self.held == 0 {
            return None;
        }
        let held = self.held;
        *self = Storm { since: now, sent: 0, held: 0 };
        Some(held)
    }
}

/// MediaLive channel states in which a channel is not on air.
const STOPPED_STATES: [&str; 3] = ["STOPPED", "IDLE", "STOPPING"];

impl Runner {
    pub fn new(
        ops: Arc<Ops>,
        definitions: Arc<dyn Definitions>,
        policies: Policies,
        notifier: Arc<dyn Notifier>,
        clock: Arc<dyn Clock>,
        resync: std::time::Duration,
    ) -> Runner {
        Runner {
            ops,
            definitions,
            policies: RwLock::new(Arc::new(policies)),
            notifier,
            clock,
            storms: Mutex::default(),
            busy: Mutex::default(),
            resync,
        }
    }

    /// The recovery policies in force.
    fn policies(&self) -> Arc<Policies> {
        self.policies.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// New recovery policies (a reload): the next pass decides with them.
    pub fn set_policies(&self, policies: Policies) {
        *self.policies.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policies);
    }

    /// Describe in AWS the channel of every event recorded RUNNING that should be on air; one
    /// found stopped is handled as if MediaLive had said so, on the event's own pass.
    async fn resync(self: Arc<Self>, later: Later) {
        let Ok(phases) = self.ops.store().phases() else { return };
        for (event, _, _) in phases.iter().filter(|(_, phase, _)| *phase == Phase::Running) {
            if self.standing(event) != Standing::OnAir {
                continue;
            }
            match self.ops.live_state(event).await {
                Ok(Some(state)) if STOPPED_STATES.contains(&state.as_str()) => {
                    tracing::warn!(event = %event, state, "resync: the channel is not running in AWS");
                    self.kick(event.clone(), Some(state), later.clone());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(event = %event, "resync: cannot describe the channel: {e}"),
            }
        }
    }

    /// Look again at every event with an alert recovery has not settled: one whose delay was
    /// running when the daemon stopped, or whose kick was lost. At start and at each resync.
    fn sweep(self: &Arc<Self>, later: &Later) {
        match self.ops.store().events_with_undecided_alerts() {
            Ok(events) => {
                if !events.is_empty() {
                    tracing::debug!(events = events.len(), "recovery: looking again at events with undecided alerts");
                }
                for event in events {
                    self.kick(event, None, later.clone());
                }
            }
            Err(e) => tracing::warn!("recovery: cannot read the undecided alerts (the next resync tries again): {e}"),
        }
    }

    /// Send the summaries of storms whose window ended.
    fn flush_storms(&self) {
        let now = self.clock.now();
        let held: Vec<(String, u32)> = {
            let mut storms = self.storms.lock().unwrap_or_else(|p| p.into_inner());
            storms.iter_mut().filter_map(|(e, s)| s.flush(now).map(|n| (e.clone(), n))).collect()
        };
        for (event, n) in held {
            self.send(
                &event,
                Level::Warning,
                format!("{n} more notifications about {event} in the last minute were held back (an alert storm): see `ottd alerts {event}`"),
                Vec::new(),
            );
        }
    }

    /// Work through changes until `stop`. Every pass runs on the operations layer's task
    /// tracker, so shutdown waits for it.
    pub async fn run(self: Arc<Self>, mut changes: mpsc::Receiver<Changed>, stop: CancellationToken) {
        let mut later: BTreeMap<DateTime<Utc>, Vec<String>> = BTreeMap::new();
        let (later_tx, mut later_rx) = mpsc::unbounded_channel::<(String, DateTime<Utc>)>();
        let mut storms = tokio::time::interval(std::time::Duration::from_secs(10));
        let mut resync = tokio::time::interval(self.resync);
        resync.tick().await;
        // Alerts left undecided by the last run (a delay that was running at a restart).
        self.sweep(&later_tx);
        let resyncing = Arc::new(AtomicBool::new(false));
        loop {
            let wait = later
                .first_key_value()
                .map(|(at, _)| (*at - self.clock.now()).to_std().unwrap_or_default())
                .unwrap_or(std::time::Duration::from_secs(3600));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = storms.tick() => self.flush_storms(),
                _ = resync.tick() => {
                    self.sweep(&later_tx);
                    // One resync at a time: a slow AWS must not pile them up.
                    if !resyncing.swap(true, Ordering::SeqCst) {
                        let (this, later, flag) = (self.clone(), later_tx.clone(), resyncing.clone());
                        self.ops.tasks().spawn(async move {
                            this.resync(later).await;
                            flag.store(false, Ordering::SeqCst);
                        });
                    }
                }
                Some((event, at)) = later_rx.recv() => later.entry(at).or_default().push(event),
                c = changes.recv() => match c {
                    None => return,
                    Some(Changed::Alert { event }) => self.kick(event, None, later_tx.clone()),
                    Some(Changed::ChannelState { event, state }) => self.kick(event, Some(state), later_tx.clone()),
                    Some(Changed::InputChange { event, pipeline, input, action }) => {
                        let this = self.clone();
                        self.ops.tasks().spawn(async move {
                            let r = Reported { event: &event, pipeline, input: input.as_deref(), action: action.as_deref() };
                            this.input_changed(&r).await;
                        });
                    }
                },
                _ = tokio::time::sleep(wait) => {
                    let now = self.clock.now();
                    while let Some(e) = later.first_entry() {
                        if *e.key() > now { break; }
                        for event in e.remove() {
                            self.kick(event, None, later_tx.clone());
                        }
                    }
                }
            }
        }
    }

    /// Evaluate `event` in a pass of its own: events concurrently, one pass at a time per
    /// event (a change arriving meanwhile asks for one more pass). `channel`: MediaLive (or
    /// the resync) said the channel is in this state. Alerts and channel changes of one event
    /// share the pass, so recovery never runs two actions for one event side by side.
    fn kick(self: &Arc<Self>, event: String, channel: Option<String>, later: Later) {
        {
            let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(pending) = busy.get_mut(&event) {
                pending.again = true;
                if channel.is_some() {
                    pending.channel = channel;
                }
                return;
            }
            busy.insert(event.clone(), Pending::default());
        }
        let this = self.clone();
        self.ops.tasks().spawn(async move {
            let mut channel = channel;
            loop {
                if let Some(state) = channel.take() {
                    this.channel_state(&event, &state).await;
                }
                if let Some(at) = this.evaluate(&event).await {
                    let _ = later.send((event.clone(), at));
                }
                let mut busy = this.busy.lock().unwrap_or_else(|p| p.into_inner());
                match busy.get_mut(&event) {
                    Some(p) if p.again => {
                        p.again = false;
                        channel = p.channel.take();
                    }
                    _ => {
                        busy.remove(&event);
                        break;
                    }
                }
            }
        });
    }

    /// Where the event stands for recovery now.
    pub fn standing(&self, event: &str) -> Standing {
        let now = self.clock.now();
        let store = self.ops.store();
        let ov = store.override_of(event).ok().flatten().map(|o| o.as_override()).filter(|o| o.in_force(now));
        if ov.as_ref().is_some_and(|o| o.kind == OverrideKind::Hold) {
            return Standing::Held;
        }
        let running = || matches!(store.phase(event), Ok(Some((Phase::Running | Phase::Starting, _))));
        let wanted = match self.definitions.event(event) {
            Some(def) => match def.spec.timing.as_ref() {
                Some(t) => decide(Some(t), def.spec.enabled, now, ov.as_ref()).desired == Some(Desired::Running),
                // On demand: on air if someone started it.
                None => running(),
            },
            None => running(),
        };
        if wanted {
            Standing::OnAir
        } else {
            Standing::OffAir
        }
    }

    /// Notify, unless the event is in a storm (errors always go through).
    fn notice(&self, event: &str, level: Level, text: String) {
        self.notice_with(event, level, text, Vec::new());
    }

    /// [`Runner::notice`] with buttons for chat.
    fn notice_with(&self, event: &str, level: Level, text: String, buttons: Vec<NoticeButton>) {
        if level != Level::Error {
            let now = self.clock.now();
            let mut storms = self.storms.lock().unwrap_or_else(|p| p.into_inner());
            let storm = storms.entry(event.to_string()).or_insert(Storm { since: now, sent: 0, held: 0 });
            if !storm.admit(now) {
                tracing::info!(event, "notification held back (storm): {text}");
                return;
            }
        }
        self.send(event, level, text, buttons);
    }

    fn send(&self, event: &str, level: Level, text: String, buttons: Vec<NoticeButton>) {
        let targets = self.definitions.event(event).map(|d| d.spec.notify.clone()).unwrap_or_default();
        self.notifier.notify(Notice { event: event.to_string(), level, text, targets, buttons });
    }

    /// Decide about every open alert of `event` and act; the next instant to look again.
    pub async fn evaluate(&self, event: &str) -> Option<DateTime<Utc>> {
        let store = self.ops.store();
        let alerts = match store.alerts(Some(event), true) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(event, "cannot read alerts: {e}");
                return None;
            }
        };
        let mut next = None;
        let wanted = |a: &&AlertRow| {
            a.notified_at.is_none()
                || (a.is_open() && a.acted_at.is_none())
                || (!a.is_open() && a.acted_at.is_some() && !a.cleared_notified)
        };
        let open_types: Vec<&str> = alerts.iter().filter(|a| a.is_open()).map(|a| a.alert_type.as_str()).collect();
        for a in alerts.iter().filter(wanted) {
            let deferred = recovery::defers_to_medialive(&a.alert_type, &open_types);
            if let Some(at) = self.one(event, a, deferred).await {
                next = Some(next.map_or(at, |n: DateTime<Utc>| n.min(at)));
            }
        }
        next
    }

    /// `deferred`: an alert of ottd's own stream probe while MediaLive shows one of its own:
    /// people are told, recovery acts on MediaLive's.
    async fn one(&self, event: &str, a: &AlertRow, deferred: bool) -> Option<DateTime<Utc>> {
        let store = self.ops.store();
        let now = self.clock.now();
        let policies = self.policies();
        let policy = *policies.for_type(&a.alert_type);
        if a.notified_at.is_none() {
            let text = match (a.is_open(), policy.remedy) {
                (false, _) => format!("{} on pipeline {} cleared: {}", a.alert_type, a.pipeline, a.message),
                (true, Remedy::Notify) => format!("{} on pipeline {}: {}", a.alert_type, a.pipeline, a.message),
                (true, r) => format!(
                    "{} on pipeline {}: {} (recovery: {} if still set after {})",
                    a.alert_type,
                    a.pipeline,
                    a.message,
                    r.as_str(),
                    humantime::format_duration(policy.wait)
                ),
            };
            let level = if a.is_open() { Level::Warning } else { Level::Info };
            // Claimed and committed before telling, so the next pass (at once, if another
            // change came meanwhile) or another daemon sweeping the same alert says nothing
            // twice.
            match store.alert_notified(a.id).await {
                Ok(true) => self.notice_with(
                    event,
                    level,
                    text,
                    if a.is_open() { alert_buttons(event, a, self.has_backup(event)) } else { Vec::new() },
                ),
                Ok(false) => {}
                Err(e) => tracing::warn!(event, alert = a.id, "cannot claim telling people: {e}"),
            }
        }
        if !a.is_open() {
            if let (Some(action), false, Some(cleared)) = (&a.action, a.cleared_notified, a.cleared_at) {
                // The claim is also the switch back's: one pass, one daemon, switches back once.
                match store.alert_cleared_notified(a.id).await {
                    Ok(true) => {
                        if a.notified_at.is_some() {
                            self.notice(
                                event,
                                Level::Info,
                                format!(
                                    "{} on pipeline {} cleared at {} (recovery: {action})",
                                    a.alert_type,
                                    a.pipeline,
                                    cleared.format("%H:%M:%S UTC")
                                ),
                            );
                        }
                        if action == Remedy::SwitchToBackup.as_str() {
                            self.switch_back(event, a).await;
                        }
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(event, alert = a.id, "cannot claim telling people it cleared: {e}"),
                }
            }
            return None;
        }
        if deferred {
            tracing::info!(event, alert = a.id, "{}: MediaLive's own alert leads recovery", a.alert_type);
            return None;
        }
        let recent = match self.recent_actions(event, &policies, now).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(event, "cannot count recovery's recent actions; deciding again later: {e}");
                return Some(now + chrono::Duration::seconds(10));
            }
        };
        let situation = Situation {
            alert_type: &a.alert_type,
            set_at: a.set_at,
            cleared: !a.is_open(),
            acted: a.acted_at.is_some(),
            standing: self.standing(event),
            recent_actions: &recent,
            now,
        };
        match recovery::decide(&policies, &situation) {
            Verdict::WaitUntil { at } => Some(at),
            Verdict::Nothing { .. } | Verdict::Guarded { .. } => None,
            Verdict::BreakerOpen { until } => {
                match store.alert_acted(a.id, "breaker-open", now).await {
                    Ok(true) => self.notice_with(
                        event,
                        Level::Error,
                        format!(
                            "{} on pipeline {}: breaker open ({} recovery actions within {}): a human is needed",
                            a.alert_type,
                            a.pipeline,
                            recent.len(),
                            humantime::format_duration(policies.breaker_window)
                        ),
                        alert_buttons(event, a, self.has_backup(event)),
                    ),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(event, alert = a.id, "cannot record the open breaker: {e}"),
                }
                let _ = until;
                None
            }
            Verdict::Act { remedy } => {
                self.act(event, a, remedy).await;
                None
            }
        }
    }

    async fn act(&self, event: &str, a: &AlertRow, remedy: Remedy) {
        let ev = event.to_string();
        let ops: Vec<Operation> = match remedy {
            Remedy::Notify => return,
            Remedy::RestartPipeline => vec![Operation::RestartPipeline { event: ev, pipeline: a.pipeline }],
            Remedy::RestartChannel => vec![Operation::Stop { event: ev.clone() }, Operation::Start { event: ev }],
            Remedy::StartChannel => vec![Operation::Start { event: ev }],
            Remedy::SwitchToBackup => match self.backup_switch(event) {
                Ok(()) => vec![Operation::Live(LiveCommand::Switch { event: ev, to: SwitchTarget::Backup })],
                Err(why) => {
                    // Claimed like an action, so people are told once, not at every pass.
                    match self.ops.store().alert_acted(a.id, CANNOT_SWITCH, self.clock.now()).await {
                        Ok(true) => self.notice(
                            event,
                            Level::Warning,
                            format!("{}: the policy says switch-to-backup, but {why}", a.alert_type),
                        ),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(event, alert = a.id, "cannot record that recovery can't switch: {e}"),
                    }
                    return;
                }
            },
        };
        let now = self.clock.now();
        // Claimed before acting, so no later pass, and no other daemon, acts on it again.
        match self.ops.store().alert_acted(a.id, remedy.as_str(), now).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(event, alert = a.id, "another pass or daemon acts on this alert");
                return;
            }
            Err(e) => {
                tracing::warn!(event, "cannot record recovery's action; not acting: {e}");
                return;
            }
        }
        let why = format!(
            "alert #{}: {} on pipeline {}, SET since {}",
            a.id,
            a.alert_type,
            a.pipeline,
            a.set_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let mut outcome = Ok(());
        for op in ops {
            let given = Given { why: Some(why.clone()), ..Given::default() };
            if let Err(e) = self.ops.execute_with(&Actor::Recovery, op, given).await {
                outcome = Err(e);
                break;
            }
        }
        let what = format!("{} (alert: {} on pipeline {})", remedy.as_str(), a.alert_type, a.pipeline);
        match outcome {
            Ok(()) => self.notice(event, Level::Info, format!("recovery: {what} done")),
            Err(e) => self.notice(event, Level::Error, format!("recovery: {what} failed: {e}")),
        }
    }

    /// MediaLive reports a pipeline on another input: people are told of a switch ottd did not
    /// make, once for the pipelines of one switch, whichever daemon of a group each report
    /// reaches (claimed in the state before telling, as an alert's notice is).
    pub async fn input_changed(&self, r: &Reported<'_>) {
        let Some(text) = outside::notice(r, self.has_backup(r.event)) else { return };
        match self.ops.store().first_sight(&r.key()).await {
            Ok(true) => {
                tracing::warn!(event = r.event, "{text}");
                self.notice(r.event, Level::Warning, text);
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(event = r.event, "cannot claim telling people of an input switch: {e}"),
        }
    }

    /// Whether recovery and the alert's button may switch the event to its backup input.
    fn has_backup(&self, event: &str) -> bool {
        self.backup_switch(event).is_ok()
    }

    /// Whether the event can be switched to its backup input by a schedule action, or why not
    /// ([`crate::config::workflow::MediaLiveParams::backup_switch_refusal`]).
    fn backup_switch(&self, event: &str) -> Result<(), String> {
        let Some(def) = self.definitions.event(event) else {
            return Err(format!("{event} is not in the schedule files"));
        };
        def.workflow.media_live.backup_switch_refusal(event).map_or(Ok(()), Err)
    }

    /// The alert that made recovery switch to backup has cleared: back to primary, unless
    /// someone moved the channel elsewhere meanwhile (then it stays where they put it).
    async fn switch_back(&self, event: &str, a: &AlertRow) {
        let why = format!("alert #{} ({} on pipeline {}) cleared", a.id, a.alert_type, a.pipeline);
        // Only from the backup recovery chose: wherever else someone put the channel meanwhile
        // (a slate loop, primary already), it stays. A failed read leaves it to the switch's
        // own checks.
        match self.ops.schedule_of(event).await {
            Ok(l) => {
                if let Some(elsewhere) = crate::live::inputs::not_all_on(&l.active, l.backup.as_deref()) {
                    self.notice(
                        event,
                        Level::Info,
                        format!(
                            "recovery: {why}: {event} is on {elsewhere}, not on the backup recovery chose: left there"
                        ),
                    );
                    return;
                }
            }
            Err(e) => tracing::warn!(event, "cannot read where the channel is before switching back: {e}"),
        }
        let op = Operation::Live(LiveCommand::Switch { event: event.to_string(), to: SwitchTarget::Primary });
        let given = Given { why: Some(why.clone()), ..Given::default() };
        match self.ops.execute_with(&Actor::Recovery, op, given).await {
            Ok(r) => self.notice(event, Level::Info, format!("recovery: {why}: {}", r.headline)),
            Err(e) => self.notice(event, Level::Warning, format!("recovery: {why}, switching back to primary: {e}")),
        }
    }

    /// When recovery acted on `event` within the breaker's window before `now` (committed rows
    /// only: the breaker never counts on an action whose row is still queued).
    async fn recent_actions(
        &self,
        event: &str,
        policies: &Policies,
        now: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, crate::store::StoreError> {
        let window = chrono::Duration::from_std(policies.breaker_window).unwrap_or(chrono::Duration::hours(1));
        self.ops.store().recovery_actions(event, now - window).await
    }

    /// MediaLive (or the resync) says the channel is in `state`: a channel stopped while its
    /// window says it should run is started again, within the breaker. The report is only a
    /// hint: the channel is described again first, so STOPPING then STOPPED, a duplicate
    /// delivery, or a report the last pass already answered starts nothing twice.
    pub async fn channel_state(&self, event: &str, state: &str) {
        if !STOPPED_STATES.contains(&state) || self.standing(event) != Standing::OnAir {
            return;
        }
        let state = match self.ops.live_state(event).await {
            Ok(Some(live)) if STOPPED_STATES.contains(&live.as_str()) => live,
            Ok(Some(live)) => {
                tracing::info!(event, reported = state, live, "channel reported {state}, {live} now: nothing to do");
                return;
            }
            Ok(None) => return,
            // AWS cannot say: trust the report (a missed stop costs the broadcast).
            Err(e) => {
                tracing::warn!(event, "cannot describe the channel; acting on MediaLive's report: {e}");
                state.to_string()
            }
        };
        let policies = self.policies();
        let now = self.clock.now();
        let recent = match self.recent_actions(event, &policies, now).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(event, "cannot count recovery's recent actions; not acting: {e}");
                return;
            }
        };
        if let Some(until) = recovery::breaker(&policies, &recent, now) {
            self.notice(
                event,
                Level::Error,
                format!("channel {state} during its window; breaker open until {until}: a human is needed"),
            );
            return;
        }
        self.notice(event, Level::Warning, format!("channel {state} during its window: starting it again"));
        let given = Given { why: Some(format!("channel {state} during its window")), ..Given::default() };
        match self.ops.execute_with(&Actor::Recovery, Operation::Start { event: event.to_string() }, given).await {
            Ok(_) => self.notice(event, Level::Info, "recovery: channel started again".to_string()),
            Err(e) => self.notice(event, Level::Error, format!("recovery: starting the channel failed: {e}")),
        }
    }
}

/// What a person can do about an open alert from chat: acknowledge, restart the pipeline,
/// put the slate up, switch to the backup input (when there is one), hold the event. Five at
/// most, Discord's buttons per row.
fn alert_buttons(event: &str, a: &AlertRow, backup: bool) -> Vec<NoticeButton> {
    let mut b = vec![
        NoticeButton::new(format!("Ack #{}", a.id), format!("ack {}", a.id)),
        NoticeButton::new(format!("Restart pipeline {}", a.pipeline), format!("restart {event} {}", a.pipeline)),
        NoticeButton::new("Slate", format!("slate {event} on")),
    ];
    if backup {
        b.push(NoticeButton::new("Switch to backup", format!("switch {event} backup")));
    }
    b.push(NoticeButton::new(format!("Hold {event}"), format!("hold {event}")));
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Notice;

    #[derive(Default)]
    struct Told(Mutex<Vec<Notice>>);

    impl Notifier for Told {
        fn notify(&self, n: Notice) {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(n);
        }
    }

    impl Told {
        fn count(&self) -> usize {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
        }
    }

    #[tokio::test]
    async fn an_alert_is_notified_once_even_when_the_next_pass_follows_at_once() {
        let w = crate::ops::tests::world(std::time::Duration::ZERO);
        let told = Arc::new(Told::default());
        let runner = Arc::new(Runner::new(
            w.ops.clone(),
            w.definitions.clone(),
            Policies::shipped(),
            told.clone(),
            w.clock.clone(),
            std::time::Duration::from_secs(60),
        ));
        let alert = crate::alerts::event::Alert {
            state: crate::alerts::event::AlarmState::Set,
            alarm_id: "n1".into(),
            alert_type: "Something Only Notified".into(),
            pipeline: 0,
            message: "test".into(),
        };
        w.store.record_alert("e1", w.clock.now(), "final", "123", &alert).await.expect("record");
        // The state file's writer is slow for a moment: the "notified" claim is not committed
        // yet when a second change asks for another pass, and a second daemon (another runner
        // on the same state) sweeps the same alert.
        let other_told = Arc::new(Told::default());
        let other = Arc::new(Runner::new(
            w.ops.clone(),
            w.definitions.clone(),
            Policies::shipped(),
            other_told.clone(),
            w.clock.clone(),
            std::time::Duration::from_secs(60),
        ));
        let release = w.store.sqlite().pause_writer();
        let r = runner.clone();
        let passes = tokio::spawn(async move {
            r.evaluate("final").await;
            r.evaluate("final").await;
        });
        let sweep = tokio::spawn(async move { other.evaluate("final").await });
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(told.count() + other_told.count(), 0, "nobody is told before the claim is committed");
        let _ = release.send(());
        passes.await.expect("passes");
        sweep.await.expect("sweep");
        assert_eq!(told.count() + other_told.count(), 1, "told once, by one of them");
    }

    #[tokio::test]
    async fn a_switch_to_a_backup_the_event_cannot_take_is_told_once_and_nothing_runs() {
        let w = crate::ops::tests::world(std::time::Duration::ZERO);
        let actor = crate::ops::Actor::Schedule;
        w.ops.execute(&actor, Operation::Deploy { event: "final".into() }, None).await.expect("deploy");
        w.ops.execute(&actor, Operation::Start { event: "final".into() }, None).await.expect("start");
        let mut policies = Policies::shipped();
        let now = crate::config::alerts::Policy { remedy: Remedy::SwitchToBackup, wait: std::time::Duration::ZERO };
        policies.by_type.insert("Video Not Detected".into(), now);
        let told = Arc::new(Told::default());
        let runner = Runner::new(
            w.ops.clone(),
            w.definitions.clone(),
            policies,
            told.clone(),
            w.clock.clone(),
            std::time::Duration::from_secs(60),
        );
        let alert = crate::alerts::event::Alert {
            state: crate::alerts::event::AlarmState::Set,
            alarm_id: "v1".into(),
            alert_type: "Video Not Detected".into(),
            pipeline: 0,
            message: "test".into(),
        };
        w.store.record_alert("e1", w.clock.now(), "final", "123", &alert).await.expect("record");
        let calls = w.engine.calls().len();
        for _ in 0..3 {
            runner.evaluate("final").await;
        }
        let texts: Vec<String> =
            told.0.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|n| n.text.clone()).collect();
        let cannot: Vec<&String> =
            texts.iter().filter(|t| t.contains("switch-to-backup, but final has no backup input")).collect();
        assert_eq!(cannot.len(), 1, "told once: {texts:?}");
        assert_eq!(w.engine.calls().len(), calls, "nothing run: {:?}", w.engine.calls());
        let set = texts.iter().find(|t| t.starts_with("Video Not Detected on pipeline 0")).expect("the alert told");
        let buttons = told.0.lock().unwrap_or_else(|p| p.into_inner())[0].buttons.clone();
        assert!(!buttons.iter().any(|b| b.label == "Switch to backup"), "{set}: {buttons:?}");
    }

    #[test]
    fn a_storm_sends_five_notices_then_one_summary_per_window() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-18T20:00:00Z").expect("t0").with_timezone(&Utc);
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut storm = Storm { since: t0, sent: 0, held: 0 };
        let sent = (0..20).filter(|i| storm.admit(at(*i))).count();
        assert_eq!(sent, STORM_MAX as usize);
        assert_eq!(storm.flush(at(30)), None, "not before the window ends");
        assert_eq!(storm.flush(at(60)), Some(15));
        assert_eq!(storm.flush(at(130)), None, "nothing held since");
        assert!(storm.admit(at(200)), "a quiet event notifies at once again");
    }
}
