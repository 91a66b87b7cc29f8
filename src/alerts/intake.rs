//! The SQS consumer: long-polls the queue, records each message's event in the state file,
//! and deletes the message only once that is committed. A daemon killed at any instant loses
//! nothing: an unrecorded message comes back after its visibility timeout, and a recorded one
//! that comes back is a duplicate (same envelope id). A message that cannot be read is
//! quarantined with its raw body and left for the dead-letter queue.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::event::{self, Detail};
use crate::aws::alerting::{self, Message};
use crate::store::alerts::Recorded;
use crate::store::Store;

/// Messages handled at once, at most.
pub const IN_FLIGHT: usize = 32;
/// Long polls at once: a burst is picked up by several receivers, not one at a time.
pub const RECEIVERS: usize = 3;
/// How long one receive waits for a message (SQS long polling).
const WAIT_S: i32 = 20;

/// What the intake tells recovery: an event's alerts or channel changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    Alert {
        event: String,
    },
    /// MediaLive says the channel is in this state now (STOPPED, RUNNING…).
    ChannelState {
        event: String,
        state: String,
    },
    /// MediaLive switched a pipeline's input (by a schedule action, or its own failover).
    InputChange {
        event: String,
        pipeline: Option<u8>,
        input: Option<String>,
        action: Option<String>,
    },
}

pub struct Intake {
    pub queue: alerting::Queue,
    pub store: Arc<Store>,
    pub changed: mpsc::Sender<Changed>,
    /// Where message handlers run, so shutdown waits for the ones in flight.
    pub tasks: tokio_util::task::TaskTracker,
}

/// How handling one message ended (for the log and the tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Recorded(Recorded),
    ChannelState,
    /// About a channel ottd does not manage: dropped.
    Unmanaged,
    /// Unreadable: quarantined, left for the dead-letter queue.
    Quarantined,
}

impl Intake {
    /// Consume until `stop` with [`RECEIVERS`] long polls sharing [`IN_FLIGHT`] permits.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let permits = Arc::new(Semaphore::new(IN_FLIGHT));
        let receivers: Vec<_> =
            (0..RECEIVERS).map(|_| tokio::spawn(self.clone().receive_loop(permits.clone(), stop.clone()))).collect();
        for r in receivers {
            let _ = r.await;
        }
    }

    /// One long-poll loop; errors from SQS are logged and retried with backoff.
    async fn receive_loop(self: Arc<Self>, permits: Arc<Semaphore>, stop: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let batch = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.queue.receive(10, WAIT_S) => r,
            };
            let messages = match batch {
                Ok(m) => {
                    failures = 0;
                    m
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_secs(1u64 << failures.min(6));
                    tracing::warn!("reading the alert queue failed (retrying in {}s): {e}", wait.as_secs());
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            for m in messages {
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                let this = self.clone();
                self.tasks.spawn(async move {
                    let _permit = permit;
                    this.handle(m).await;
                });
            }
        }
    }

    /// Record one message, then delete it (unless quarantined).
    pub async fn handle(&self, m: Message) -> Option<Handled> {
        let handled = match self.record(&m).await {
            Ok(h) => h,
            Err(e) => {
                // Not recorded: leave it; it comes back after its visibility timeout.
                tracing::warn!(message = %m.id, "cannot record an alert message (it will come back): {e}");
                return None;
            }
        };
        if handled != Handled::Quarantined {
            if let Err(e) = self.queue.delete(&m.receipt).await {
                tracing::warn!(message = %m.id, "recorded, but cannot delete the message (a duplicate will come): {e}");
            }
        }
        Some(handled)
    }

    async fn record(&self, m: &Message) -> Result<Handled, crate::store::StoreError> {
        record_message(&self.store, &self.changed, &format!("sqs:{}", m.id), &m.body).await
    }
}

/// Record one message body, whichever way it came (`source`: `sqs:<message id>`,
/// `sns:<message id>`), and tell recovery what changed. Done when this returns `Ok`: the
/// caller may then drop the message.
pub async fn record_message(
    store: &Store,
    changed: &mpsc::Sender<Changed>,
    source: &str,
    body: &str,
) -> Result<Handled, crate::store::StoreError> {
    let ev = match event::parse(body) {
        Ok(ev) => ev,
        Err(e) => {
            tracing::warn!(source, "unreadable alert message quarantined: {e}");
            store.quarantine(source, body, &e.to_string()).await?;
            return Ok(Handled::Quarantined);
        }
    };
    let Some(event) = store.event_of_channel(&ev.channel_id)? else {
        tracing::info!(channel = %ev.channel_id, "MediaLive event for a channel ottd does not manage: dropped");
        return Ok(Handled::Unmanaged);
    };
    let handled = match &ev.detail {
        Detail::Alert(a) => {
            let r = store.record_alert(&ev.id, ev.time, &event, &ev.channel_id, a).await?;
            if matches!(r, Recorded::Opened { .. } | Recorded::Cleared { .. } | Recorded::StillOpen { .. }) {
                tell(changed, Changed::Alert { event: event.clone() }).await;
            }
            Handled::Recorded(r)
        }
        Detail::StateChange { state, .. } => {
            if !store.first_sight(&ev.id).await? {
                return Ok(Handled::Recorded(Recorded::Duplicate));
            }
            tell(changed, Changed::ChannelState { event: event.clone(), state: state.clone() }).await;
            Handled::ChannelState
        }
        Detail::InputChange { pipeline, active_input, switch_action, .. } => {
            // No envelope claim here: recovery claims telling people per switch
            // (`live::outside`), so a redelivery after a kill is told if nobody told it yet.
            tracing::info!(event = %event, ?pipeline, input = ?active_input, action = ?switch_action, "MediaLive switched the channel's input");
            let c = Changed::InputChange {
                event: event.clone(),
                pipeline: *pipeline,
                input: active_input.clone(),
                action: switch_action.clone(),
            };
            tell(changed, c).await;
            Handled::ChannelState
        }
    };
    Ok(handled)
}

/// How long the intake waits for recovery to take a change before going on without it.
const TELL_WITHIN: Duration = Duration::from_secs(5);

/// Tell recovery, waiting a bounded time when its queue is full. A change it never takes is
/// not lost: it is in the state file, and recovery's sweep at its next resync finds it.
async fn tell(changed: &mpsc::Sender<Changed>, c: Changed) {
    if let Err(e) = changed.send_timeout(c, TELL_WITHIN).await {
        tracing::warn!(
            "recovery did not take a change within {}s ({e}); its next resync sweep picks it up",
            TELL_WITHIN.as_secs()
        );
    }
}
