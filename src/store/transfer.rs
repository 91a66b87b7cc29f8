//! Moving the state from one backend to another: `ottd state export` writes every durable
//! record as a [`Snapshot`] (JSON), `ottd state import` reads one into the store `ottd.toml`
//! names. So a single box (SQLite) grows into a pair (DynamoDB) keeping its history and the
//! AWS resources it deployed: their ids travel in the snapshot, so the pair stops and tears
//! down what the box created and nobody adopts a resource by hand. It goes back the same way.
//!
//! # What a snapshot holds (format 1)
//! Every record with its own keys, ids and instants: deployments, their resources (ids,
//! ARNs, attrs), the step log, overrides, known windows, settings (`meta`: role ARNs, queue
//! URLs), the audit trail (keys and instances), alerts (ids and every mark: told, cleared,
//! told cleared, acked, acted), chat requests (ids, state), the counters that hand out alert,
//! request and audit ids, the quarantine, live-control commands and each deployment's
//! counter of them, and the dedupe keys still inside their replay window (chat/SNS request
//! keys for [`super::seen::SEEN_TTL`], EventBridge envelope ids for 7 days) with their
//! times, so a request taken by the box is not taken again by the pair. (`live` and
//! `live_counters` came later within format 1: a snapshot without them has none.)
//!
//! Not held: **leases**. A lease says which live process works on an event now; the process
//! that held it does not move with the state, and a lease copied to another store would only
//! block that store's daemons until they took it over. The destination's leases stay its own.
//! Nor the instant of expired dedupe keys (they protect nothing any more).
//!
//! # Import
//! Expected flow: stop the daemon, `ottd state export --out s.json`, switch `[state]`, then
//! `ottd state import s.json` (nothing runs on the destination's events: import refuses an
//! event whose lease is held, [`TransferError::LeaseHeld`]), then start the daemons.
//!
//! Guarantees: import is idempotent, an upsert of each record by its own key (event, event
//! and resource key, audit key, alert id, request id, dedupe key, live command's event, nonce
//! and counter); importing the same
//! snapshot again writes nothing. Where the destination already has a record, the newer one
//! stays: a deployment by `updated_at` (its resources follow it: a newer deployment with
//! another nonce replaces the event's resources, one with the same nonce merges them row by
//! row, newer `updated_at` winning), an override by `set_at`, known windows by
//! `recorded_at`; an alert keeps every mark either side made (a claim once made stays made),
//! a pending request takes the snapshot's decision, an open audit row the snapshot's end, a
//! live command the later of the two by `updated_at`. Settings take the snapshot's value.
//! Nothing is deleted except resources of a deployment replaced by a newer one. Every
//! counter ends above every id imported; a deployment's live-command counter at the higher
//! of the two sides (so the next command after an import takes a value neither side used).
//!
//! Assumptions: import writes directly, not through the fenced writes of the engine: it is
//! an operator's offline move. An alert or request id the destination holds for a different
//! record (a live command's (event, nonce, counter) taken at another instant or by another
//! actor alike) means the snapshot comes from another store's history: refused
//! ([`TransferError::Conflict`]), nothing written. On SQLite an import is one transaction;
//! on DynamoDB it is many batched writes (a snapshot may hold thousands of items), so an
//! import cut short is finished by running it again.
//!
//! Layout: [`snapshot`] (the records and their JSON), [`merge`] (what an import writes),
//! [`sqlite`] (the SQLite side; DynamoDB's is [`super::dynamo::transfer`]), and here the trait
//! every backend implements.

pub mod merge;
pub mod snapshot;
pub mod sqlite;

use futures::future::BoxFuture;

pub use merge::{merge, Changes, Count, Imported};
pub use snapshot::*;

use super::{Leases, Result, StoreError, Write};

/// An event whose lease is held: a daemon works on it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLease {
    pub event: String,
    pub holder: String,
    pub doing: String,
}

/// Why an import wrote nothing (or, [`TransferError::Store`] on DynamoDB, not everything).
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("snapshot format {0} is not one this ottd reads (it reads format {FORMAT})")]
    Format(u32),
    #[error("the snapshot holds {what} {key} twice")]
    Duplicate { what: &'static str, key: String },
    #[error(
        "{what} {id} here is another record than the snapshot's ({why}): the snapshot comes from another \
         store's history; import it into a fresh store"
    )]
    Conflict { what: &'static str, id: i64, why: String },
    #[error("{}; stop the daemons using this store (they release their leases on the way out) and import again", held(.0))]
    LeaseHeld(Vec<HeldLease>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn held(leases: &[HeldLease]) -> String {
    leases
        .iter()
        .map(|l| format!("event {} is in use: its lease is held by {} ({})", l.event, l.holder, l.doing))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A store's records in and out (see the module doc).
pub trait Transfer: Leases + Send + Sync {
    /// Every durable record, once the writes queued so far are committed.
    fn export(&self) -> Result<Snapshot>;

    /// Write `changes` as they are (what [`Transfer::import`] decided): upserts by each
    /// record's key, no fence. All or nothing where the backend can.
    fn apply(&self, changes: Changes) -> Write<()>;

    /// Bring `s` into this store (see the module doc): refused while any of its events is
    /// leased; an upsert of what is missing or older here, nothing written when nothing is.
    fn import<'a>(&'a self, s: &'a Snapshot) -> BoxFuture<'a, std::result::Result<Imported, TransferError>> {
        Box::pin(async move {
            s.check()?;
            let events = s.events();
            let busy: Vec<HeldLease> = self
                .leases()?
                .into_iter()
                .filter(|l| !l.is_free() && events.contains(l.event.as_str()))
                .map(|l| HeldLease { event: l.event, holder: l.holder, doing: l.doing })
                .collect();
            if !busy.is_empty() {
                return Err(TransferError::LeaseHeld(busy));
            }
            let here = self.export()?;
            let (changes, imported) = merge(&here, s)?;
            if !changes.is_empty() {
                self.apply(changes).await?;
            }
            Ok(imported)
        })
    }
}

#[cfg(test)]
mod tests;
