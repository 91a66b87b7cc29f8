//! One event, one worker: inside one process every action on an event, whoever asks
//! (schedule, recovery, chat, CLI), runs one at a time, in arrival order. Someone arriving
//! while another action runs is queued behind it and told what it waits for; nothing ever
//! runs beside it. Across processes the state file's lease does the same job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::OwnedMutexGuard;

/// What an event's worker is doing, for whoever has to wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Doing {
    pub actor: String,
    pub operation: &'static str,
    pub since: DateTime<Utc>,
}

impl std::fmt::Display for Doing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} by {} since {}", self.operation, self.actor, self.since.format("%Y-%m-%d %H:%M:%S UTC"))
    }
}

#[derive(Default)]
struct Slot {
    /// Fair (FIFO) async lock: the queue of actions on this event.
    gate: Arc<tokio::sync::Mutex<()>>,
    doing: Mutex<Option<Doing>>,
}

/// The per-event workers of one process.
#[derive(Default)]
pub struct Workers {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// The right to act on an event; the next in line goes when it drops.
pub struct Turn {
    slot: Arc<Slot>,
    _gate: OwnedMutexGuard<()>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        *self.slot.doing.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Whether an action got the worker at once or must wait behind another.
pub enum Admission {
    Now(Turn),
    /// `behind`: what runs now (`None` if it ended just as this one arrived).
    Queued {
        behind: Option<Doing>,
        ticket: Ticket,
    },
}

/// A place in an event's queue.
pub struct Ticket {
    slot: Arc<Slot>,
    doing: Doing,
}

impl Ticket {
    /// Wait for the turn (fair: in arrival order).
    pub async fn wait(self) -> Turn {
        let gate = self.slot.gate.clone().lock_owned().await;
        enter(self.slot, gate, self.doing)
    }
}

fn enter(slot: Arc<Slot>, gate: OwnedMutexGuard<()>, doing: Doing) -> Turn {
    *slot.doing.lock().unwrap_or_else(|p| p.into_inner()) = Some(doing);
    Turn { slot, _gate: gate }
}

impl Workers {
    /// Ask for `event`'s worker to do `doing`.
    pub fn admit(&self, event: &str, doing: Doing) -> Admission {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(event.to_string()).or_default().clone()
        };
        match slot.gate.clone().try_lock_owned() {
            Ok(gate) => Admission::Now(enter(slot, gate, doing)),
            Err(_) => {
                let behind = slot.doing.lock().unwrap_or_else(|p| p.into_inner()).clone();
                Admission::Queued { behind, ticket: Ticket { slot, doing } }
            }
        }
    }

    /// What `event`'s worker is doing now, if anything.
    pub fn doing(&self, event: &str) -> Option<Doing> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.get(event).and_then(|s| s.doing.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doing(op: &'static str) -> Doing {
        Doing { actor: "schedule".into(), operation: op, since: Utc::now() }
    }

    #[tokio::test]
    async fn a_second_action_on_an_event_waits_for_the_first_and_others_do_not() {
        let w = Workers::default();
        let Admission::Now(first) = w.admit("final", doing("deploy")) else { panic!("free worker") };
        let Admission::Queued { behind, ticket } = w.admit("final", doing("stop")) else { panic!("busy worker") };
        assert_eq!(behind.map(|d| d.operation), Some("deploy"));
        assert!(matches!(w.admit("semi", doing("start")), Admission::Now(_)), "another event's worker is free");
        let mut waiting = Box::pin(ticket.wait());
        assert!(futures::poll!(&mut waiting).is_pending(), "still behind the deploy");
        drop(first);
        let second = waiting.await;
        assert_eq!(w.doing("final").map(|d| d.operation), Some("stop"));
        drop(second);
        assert_eq!(w.doing("final"), None);
    }
}
