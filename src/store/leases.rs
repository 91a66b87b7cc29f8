//! Leases: who works on an event right now. One holder at a time per event, whatever process
//! or task it is; a lease dies with its process (kill -9 never leaves one stuck), and a task
//! releases only its own.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{now, parse_time, Result, Store, Write};

/// A lease holder: unique per acquisition, so two tasks of one process never share one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub id: String,
    pub pid: u32,
    /// What it does, for whoever is refused (`deploy`, `teardown`…).
    pub doing: String,
}

impl Holder {
    pub fn new(doing: &str) -> Holder {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let pid = std::process::id();
        Holder { id: format!("{pid}.{}", NEXT.fetch_add(1, Ordering::Relaxed)), pid, doing: doing.to_string() }
    }
}

/// Who holds a lease someone else asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub holder: String,
    pub pid: u32,
    pub doing: String,
    pub since: DateTime<Utc>,
}

/// Whether a process with this pid exists on this machine (the state file is local).
fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl Store {
    /// Take the event's lease for `me`, unless another live holder has it: `Err(held)` says who.
    pub async fn take_lease(&self, event: &str, me: &Holder) -> Result<std::result::Result<(), Held>> {
        let (event, me) = (event.to_string(), me.clone());
        let row = self
            .write(move |c| {
                let row: Option<(String, u32, String, String)> = c
                    .query_row(
                        "SELECT holder, pid, doing, taken_at FROM leases WHERE event = ?1",
                        params![event],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()?;
                if let Some(held) = row.filter(|(holder, pid, _, _)| *holder != me.id && process_alive(*pid)) {
                    return Ok(Some(held));
                }
                c.execute(
                    "INSERT OR REPLACE INTO leases (event, holder, pid, doing, taken_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![event, me.id, me.pid, me.doing, now()],
                )?;
                Ok(None)
            })
            .await?;
        match row {
            None => Ok(Ok(())),
            Some((holder, pid, doing, since)) => {
                Ok(Err(Held { holder, pid, doing, since: parse_time(&since, "leases.taken_at")? }))
            }
        }
    }

    /// Give the lease back, if `me` still holds it.
    pub fn release_lease(&self, event: &str, me: &Holder) -> Write<()> {
        let (event, id) = (event.to_string(), me.id.clone());
        self.write(move |c| {
            c.execute("DELETE FROM leases WHERE event = ?1 AND holder = ?2", params![event, id]).map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lease_is_held_by_one_holder_even_inside_one_process_and_free_when_its_process_died() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        let (a, b) = (Holder::new("deploy"), Holder::new("stop"));
        assert_eq!(store.take_lease("final", &a).await.expect("q"), Ok(()));
        assert_eq!(store.take_lease("final", &a).await.expect("q"), Ok(()), "the holder may take it again");
        let held = store.take_lease("final", &b).await.expect("q").expect_err("another task of this process");
        assert_eq!((held.holder.as_str(), held.doing.as_str()), (a.id.as_str(), "deploy"));
        store.release_lease("final", &b).await.expect("not b's to release");
        assert!(store.take_lease("final", &b).await.expect("q").is_err(), "b's release left a's lease alone");
        let set_pid = |pid: u32| {
            store.with(|c| c.execute("UPDATE leases SET pid = ?1 WHERE event = 'final'", params![pid])).expect("set");
        };
        set_pid(1); // init: alive for as long as the machine is
        assert!(store.take_lease("final", &b).await.expect("q").is_err());
        set_pid(u32::MAX - 1); // no such process
        assert_eq!(store.take_lease("final", &b).await.expect("q"), Ok(()));
        store.release_lease("final", &b).await.expect("release");
        let n = store.with(|c| c.query_row("SELECT COUNT(*) FROM leases", [], |r| r.get::<_, i64>(0))).expect("n");
        assert_eq!(n, 0);
    }
}
