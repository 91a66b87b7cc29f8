//! Live control on a running channel (issue 21): a command decided by [`crate::live`] becomes
//! MediaLive schedule actions, sent as an irreversible step under the event's lease.
//!
//! The sequence for one command, each write fenced by the lease:
//! 1. read the channel (DescribeChannel: class, state, attachments, each pipeline's active
//!    input) and its schedule (DescribeSchedule);
//! 2. settle any command a killed holder left at "intent" against the schedule
//!    ([`live::ledger::settle`]);
//! 3. take the next counter value and record the command's intent with it;
//! 4. decide ([`live::decide`]) on the channel's view (the open break and the slate come from
//!    the recorded commands, [`live::ledger::standing`]); a refusal is recorded `failed`;
//! 5. record the actions, then send them in one BatchUpdateSchedule;
//! 6. on any error, read the schedule and compare ([`live::retry`]): the same actions held
//!    means the batch went through (a lost answer, a retry): `sent`; otherwise `failed` with
//!    MediaLive's words;
//! 7. verify: an input switch until every pipeline reports the attachment active (MediaLive
//!    delays an immediate switch on a STANDARD channel by about 10 s), a break or slate by the
//!    action being in the schedule; then `done`. MediaLive took the command by then, so the
//!    answer says so even if the lease is lost during the look (a record that cannot be
//!    updated stays `sent`, which counts as taken).
//!
//! A kill -9 between 3 and 6 leaves a record at `intent`; the next command on the event (on
//! any daemon of the group) settles it in step 2. Nothing is re-sent later on its own.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tracing::Instrument;

use super::{Engine, EngineError, FaultPoint, Outcome, Result};
use crate::aws::schedule::{self, LiveChannel};
use crate::config::workflow::ChannelClass;
use crate::live::ledger::{self, Entry, Recorded, Taken};
use crate::live::{self, ChannelView, Decision, Ids, LiveCommand, Retry, ScheduleAction, Settings};
use crate::store::{Fence, LiveRecord, LiveState};

/// The fault points' key of a live command's BatchUpdateSchedule (tests cut there: before it,
/// or after MediaLive took it and before the state says so).
pub const SCHEDULE_KEY: &str = "schedule";
/// How many of an event's recorded commands are read to know what stands.
const HISTORY: usize = 200;
/// How long a switch is watched for in DescribeChannel's pipeline details (MediaLive's 10 s
/// alignment on STANDARD channels, plus the time to decode the new input).
const VERIFY_SWITCH: Duration = Duration::from_secs(30);
const VERIFY_EVERY: Duration = Duration::from_millis(500);

/// After a BatchUpdateSchedule with no answer, the schedule is read this many times...
const UNANSWERED_LOOKS: usize = 3;
/// ...this far apart, before the command is left unanswered.
const UNANSWERED_EVERY: Duration = Duration::from_secs(2);

/// Why a BatchUpdateSchedule did not go through.
enum Failure {
    /// MediaLive decided: nothing of it is in the schedule.
    Refused(String),
    /// No answer, and not in the schedule yet: it may still land.
    Unanswered(String),
}

/// Whether one of the actions' fixed starts is no longer acceptable to MediaLive at `now`, and
/// why (with a second of margin for the request on its way).
fn too_soon_now(actions: &[ScheduleAction], now: DateTime<Utc>) -> Option<live::TimingError> {
    let margin = chrono::Duration::seconds(1);
    actions.iter().find_map(|a| match a.start {
        live::action::When::Start(start) => live::timing::check_start(now + margin, start).err(),
        live::action::When::Follow => None,
    })
}

/// What the engine needs to know of the event that only the configuration says.
#[derive(Debug, Clone)]
pub struct LiveContext {
    /// The event's zone, for `at` times in answers.
    pub tz: Tz,
    /// Inside its scheduled window now.
    pub in_window: bool,
    /// The slate image URI MediaLive reads (the workflow's, or the bootstrap's default).
    pub slate_image: Option<String>,
    /// Who asks (recorded with the command).
    pub by: String,
    pub now: DateTime<Utc>,
}

/// The result of a live command that MediaLive took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveDone {
    /// What was done, in the operator's words.
    pub answer: String,
    /// Whether it was seen taking effect (a fixed-time action is only scheduled).
    pub verified: bool,
    /// What the verification saw, or why it could not.
    pub detail: String,
    /// The counter value the command took (names its actions).
    pub counter: u32,
}

/// What `schedule-actions` reads.
#[derive(Debug, Clone)]
pub struct LiveListing {
    pub actions: Vec<ScheduleAction>,
    pub active: Vec<Option<String>>,
    pub state: String,
    /// The backup attachment, if the channel has one.
    pub backup: Option<String>,
}

fn class_of(c: &LiveChannel) -> ChannelClass {
    match c.class.as_str() {
        "SINGLE_PIPELINE" => ChannelClass::SinglePipeline,
        _ => ChannelClass::Standard,
    }
}

fn taken(s: LiveState) -> Taken {
    match s {
        LiveState::Intent => Taken::Pending,
        LiveState::Sent | LiveState::Done => Taken::Yes,
        LiveState::Failed => Taken::No,
    }
}

fn recorded(r: &LiveRecord) -> Recorded {
    Recorded { counter: r.counter, taken: taken(r.state), at: r.at, actions: Entry::from_json(&r.body).actions }
}

impl Engine {
    /// The event's channel id and its deployment's nonce.
    fn live_target(&self, event: &str) -> Result<(String, String)> {
        let id = self.channel_id(event)?;
        let d = self.store.deployment(event)?.ok_or_else(|| EngineError::NotDeployed(event.to_string()))?;
        Ok((id, d.nonce))
    }

    async fn read_channel(&self, event: &str, id: &str) -> Result<LiveChannel> {
        schedule::describe_live(&self.aws.medialive, id)
            .await?
            .ok_or_else(|| EngineError::NotDeployed(event.to_string()))
    }

    /// What the event's recorded commands leave standing now (an open break, the slate): a
    /// read of the state only, for `status`.
    pub fn standing(&self, event: &str, nonce: &str) -> Result<ledger::Standing> {
        let records = self.store.live_records(event, nonce, HISTORY)?;
        Ok(ledger::standing(&records.iter().map(recorded).collect::<Vec<_>>(), Utc::now()))
    }

    /// `schedule-actions`: what the channel's schedule holds, and the active input per pipeline.
    pub async fn schedule_actions(&self, event: &str) -> Result<LiveListing> {
        let (id, _) = self.live_target(event)?;
        let ch = self.read_channel(event, &id).await?;
        let actions = schedule::describe(&self.aws.medialive, &id).await?;
        Ok(LiveListing { actions, active: ch.active, state: ch.state, backup: ch.inputs.backup })
    }

    /// Run one live-control command that writes to the schedule.
    pub async fn live(&self, cmd: &LiveCommand, ctx: &LiveContext) -> Result<LiveDone> {
        let event = cmd.event().to_string();
        let span = tracing::info_span!("live", event = %event, command = cmd.word());
        async move {
            let lease = self.lease(&event, cmd.word()).await?;
            let fence = lease.fence().clone();
            let sent = lease
                .run(async {
                    let (id, nonce) = self.live_target(&event)?;
                    let ch = self.read_channel(&event, &id).await?;
                    let held = schedule::describe(&self.aws.medialive, &id).await?;
                    let history = self.settle_pending(&fence, &nonce, &held).await?;
                    let entry = Entry { command: live::command::format(cmd, ctx.tz), actions: Vec::new() };
                    let counter = self.store.live_intent(&fence, &nonce, &entry.to_json(), &ctx.by, ctx.now).await?;
                    let standing = ledger::standing(&history, ctx.now);
                    let view = ChannelView {
                        class: class_of(&ch),
                        running: ch.state == "RUNNING",
                        inputs: ch.inputs.clone(),
                        active: ch.active.clone(),
                        open_break: standing.open_break,
                        slate_up: standing.slate_up,
                        slate_image: ctx.slate_image.clone(),
                        in_window: ctx.in_window,
                        tz: ctx.tz,
                    };
                    let plan = match live::decide(cmd, &view, Ids { nonce: &nonce, counter }, ctx.now) {
                        Decision::Write(plan) => plan,
                        Decision::Refuse(why) => {
                            let why = why.to_string();
                            self.store
                                .live_update(&fence, &nonce, counter, LiveState::Failed, None, Some(&why), ctx.now)
                                .await?;
                            return Err(EngineError::LiveRefused { event: event.clone(), reason: why });
                        }
                        Decision::Read => {
                            return Err(EngineError::LiveRefused {
                                event: event.clone(),
                                reason: format!("`{}` only reads", cmd.word()),
                            })
                        }
                    };
                    // The time was checked at `ctx.now`; reading the channel and the state took
                    // a while since: a fixed start must still be 15 s ahead when it is sent.
                    if let Some(e) = too_soon_now(&plan.actions, Utc::now()) {
                        let why = format!("{e} (checked again just before sending)");
                        self.store
                            .live_update(&fence, &nonce, counter, LiveState::Failed, None, Some(&why), Utc::now())
                            .await?;
                        return Err(EngineError::LiveRefused { event: event.clone(), reason: why });
                    }
                    let entry = Entry { actions: plan.actions.clone(), ..entry };
                    self.store
                        .live_update(&fence, &nonce, counter, LiveState::Intent, Some(&entry.to_json()), None, ctx.now)
                        .await?;
                    self.send(&lease, &fence, &id, &nonce, counter, &plan.actions, &event).await?;
                    Ok((plan, counter, id, nonce))
                })
                .await?;
            let (plan, counter, id, nonce) = sent;
            // MediaLive took it: from here on the answer is that it did, whatever the look
            // after says, even if the lease is lost meanwhile (the verification only reads).
            let (verified, detail) = self.verify(&event, &id, &plan.actions).await;
            let state = if verified { LiveState::Done } else { LiveState::Sent };
            if let Err(e) = self.store.live_update(&fence, &nonce, counter, state, None, Some(&detail), Utc::now()).await
            {
                tracing::warn!(event = %event, counter, "taken by MediaLive, but the record cannot say what was seen after: {e}");
            }
            Ok(LiveDone { answer: plan.answer, verified, detail, counter })
        }
        .instrument(span)
        .await
    }

    /// The event's recorded commands, a killed holder's pending ones settled first.
    async fn settle_pending(&self, fence: &Fence, nonce: &str, held: &[ScheduleAction]) -> Result<Vec<Recorded>> {
        let records = self.store.live_records(&fence.event, nonce, HISTORY)?;
        let mut out = Vec::with_capacity(records.len());
        for r in &records {
            let mut rec = recorded(r);
            if rec.taken == Taken::Pending {
                let settled = ledger::settle(&rec, held, Utc::now());
                rec.taken = settled.taken();
                let state = if rec.taken == Taken::Yes { LiveState::Sent } else { LiveState::Failed };
                let detail = settled.detail();
                tracing::warn!(event = %fence.event, counter = r.counter, "settling an interrupted live command: {detail}");
                self.store.live_update(fence, nonce, r.counter, state, None, Some(detail), Utc::now()).await?;
            }
            out.push(rec);
        }
        Ok(out)
    }

    /// One BatchUpdateSchedule under the lease; on any error the schedule is read and
    /// compared, so a lost answer or a retry creates nothing twice.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        lease: &super::lease::Lease,
        fence: &Fence,
        id: &str,
        nonce: &str,
        counter: u32,
        actions: &[ScheduleAction],
        event: &str,
    ) -> Result<()> {
        let started = Instant::now();
        let step = format!("schedule of MediaLive channel {id}");
        let names: Vec<&str> = actions.iter().map(|a| a.name.as_str()).collect();
        self.fault(FaultPoint::BeforeCreate(SCHEDULE_KEY))?;
        let sent = match lease.bounded(&step, schedule::create(&self.aws.medialive, id, actions)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(EngineError::Aws(e)),
            // Not sent (the lease could not cover the call): said as such, and the record,
            // which can't be written without the lease, stays pending for the next holder.
            Err(e @ EngineError::LeaseLost { .. }) => return Err(e),
            Err(e) => Err(e),
        };
        if sent.is_ok() {
            self.fault(FaultPoint::AfterCreate(SCHEDULE_KEY))?;
        }
        let failure = match sent {
            Ok(()) => None,
            Err(e) => self.after_error(id, actions, e).await,
        };
        match failure {
            None => {
                self.store.live_update(fence, nonce, counter, LiveState::Sent, None, None, Utc::now()).await?;
                self.report(event, &step, Outcome::Created, format!("scheduled {}", names.join(", ")), started);
                Ok(())
            }
            Some(Failure::Refused(why)) => {
                self.store.live_update(fence, nonce, counter, LiveState::Failed, None, Some(&why), Utc::now()).await?;
                self.report(event, &step, Outcome::Failed, why.clone(), started);
                Err(EngineError::LiveRefused { event: event.to_string(), reason: format!("MediaLive refused: {why}") })
            }
            Some(Failure::Unanswered(why)) => {
                // Left at "intent": the next command on the event settles it against the
                // schedule, as after a kill.
                let detail = format!("no answer from MediaLive: {why}");
                self.store
                    .live_update(fence, nonce, counter, LiveState::Intent, None, Some(&detail), Utc::now())
                    .await?;
                self.report(event, &step, Outcome::Failed, detail.clone(), started);
                Err(EngineError::LiveUnanswered {
                    event: event.to_string(),
                    reason: format!(
                        "MediaLive did not answer ({why}) and the schedule does not hold it now; it may still land: \
                         `schedule-actions {event}` shows the schedule, and the next command on {event} settles it"
                    ),
                })
            }
        }
    }

    /// After a failed BatchUpdateSchedule: read the schedule and compare. The same actions held
    /// means the batch went through (a lost answer, a retry). An error that says MediaLive
    /// decided (a 4xx) is a refusal once a read shows the actions are not there; an error that
    /// does not (a timeout, a 5xx, a dropped connection) is looked at a few times more, since
    /// the request may still be on its way, and then left unanswered. With no successful read,
    /// nothing is known: unanswered, whatever the send's error (a 4xx "already exists" is what
    /// the SDK's retry meets after a lost answer to a batch MediaLive took).
    async fn after_error(&self, id: &str, actions: &[ScheduleAction], e: EngineError) -> Option<Failure> {
        let decided = matches!(&e, EngineError::Aws(a) if a.class != crate::aws::ErrorClass::Transient);
        let mut read: Option<std::result::Result<(), crate::aws::AwsError>> = None;
        for look in 0..UNANSWERED_LOOKS {
            if look > 0 {
                tokio::time::sleep(UNANSWERED_EVERY).await;
            }
            match schedule::describe(&self.aws.medialive, id).await {
                Ok(held) => match live::retry(actions, &held) {
                    Retry::Done => return None,
                    conflict @ Retry::Conflict { .. } => return Some(Failure::Refused(conflict.to_string())),
                    // MediaLive decided, and a read shows it is not there: one read is enough
                    // (a decided error whose read failed is read again: only a read says).
                    Retry::Send if decided => return Some(Failure::Refused(e.to_string())),
                    Retry::Send => read = Some(Ok(())),
                },
                Err(r) => read = Some(Err(r)),
            }
        }
        Some(match read {
            Some(Ok(())) => Failure::Unanswered(e.to_string()),
            Some(Err(r)) => Failure::Unanswered(format!("{e}; the schedule could not be read: {r}")),
            None => Failure::Unanswered(e.to_string()),
        })
    }

    /// Whether the actions are seen taking effect, and what was seen.
    async fn verify(&self, event: &str, id: &str, actions: &[ScheduleAction]) -> (bool, String) {
        let started = Instant::now();
        let immediate = actions.iter().all(|a| a.start.fixed_time().is_none());
        if !immediate {
            return (false, "scheduled: it takes effect at its time".to_string());
        }
        let switch = actions.iter().find_map(|a| match &a.settings {
            Settings::InputSwitch { attachment } => Some(attachment.clone()),
            _ => None,
        });
        let Some(target) = switch else {
            // A break, back or the slate: taken when the schedule holds it.
            return match schedule::describe(&self.aws.medialive, id).await {
                Ok(held) if live::retry(actions, &held) == Retry::Done => {
                    (true, "in the channel's schedule".to_string())
                }
                Ok(_) => (false, "not seen in the schedule yet".to_string()),
                Err(e) => (false, format!("cannot read the schedule: {e}")),
            };
        };
        let step = format!("input switch of MediaLive channel {id}");
        let mut last = String::from("no pipeline details yet");
        let mut said = String::new();
        while started.elapsed() < VERIFY_SWITCH {
            match schedule::describe_live(&self.aws.medialive, id).await {
                Ok(Some(ch)) => {
                    let on: Vec<String> = ch.active.iter().map(|a| a.clone().unwrap_or_else(|| "?".into())).collect();
                    last = format!("active input {}", on.join(" / "));
                    if live::inputs::all_on(&ch.active, &target) {
                        self.report(event, &step, Outcome::Started, last.clone(), started);
                        return (true, format!("every pipeline on `{target}`"));
                    }
                }
                Ok(None) => return (false, "the channel is gone".to_string()),
                Err(e) => last = e.to_string(),
            }
            if last != said {
                self.report(event, &step, Outcome::Waiting, last.clone(), started);
                said.clone_from(&last);
            }
            tokio::time::sleep(VERIFY_EVERY).await;
        }
        (false, format!("not seen after {}s: {last}", VERIFY_SWITCH.as_secs()))
    }
}
