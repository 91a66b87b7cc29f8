//! The state file's read connections: a small pool, opened on demand, so readers on several
//! threads (chat answers, recovery, the scheduler, `GET /metrics`) do not queue behind one
//! connection. WAL lets every one of them read while the writer commits.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

use rusqlite::Connection;

/// Read connections open at most (each keeps its own page cache and prepared statements).
pub const READERS: usize = 4;

pub struct Readers {
    path: PathBuf,
    /// Idle connections, and how many exist (idle or lent).
    pool: Mutex<(Vec<Connection>, usize)>,
    freed: Condvar,
}

/// A lent connection; back to the pool when dropped (even if its user panicked).
pub struct Lent<'a> {
    readers: &'a Readers,
    conn: Option<Connection>,
}

impl std::ops::Deref for Lent<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Always Some until drop.
        self.conn.as_ref().unwrap_or_else(|| unreachable!("a lent connection is present until dropped"))
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut pool = self.readers.pool.lock().unwrap_or_else(|p| p.into_inner());
            pool.0.push(c);
            drop(pool);
            self.readers.freed.notify_one();
        }
    }
}

impl Readers {
    pub fn new(path: PathBuf, first: Connection) -> Readers {
        Readers { path, pool: Mutex::new((vec![first], 1)), freed: Condvar::new() }
    }

    /// An idle connection, a new one while fewer than [`READERS`] exist, or the next one freed.
    pub fn lend(&self) -> rusqlite::Result<Lent<'_>> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(c) = pool.0.pop() {
                return Ok(Lent { readers: self, conn: Some(c) });
            }
            if pool.1 < READERS {
                pool.1 += 1;
                drop(pool);
                return match super::sqlite::connect(&self.path) {
                    Ok(c) => Ok(Lent { readers: self, conn: Some(c) }),
                    Err(e) => {
                        self.pool.lock().unwrap_or_else(|p| p.into_inner()).1 -= 1;
                        Err(e)
                    }
                };
            }
            pool = self.freed.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_run_side_by_side_up_to_the_pool_and_connections_come_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = crate::store::Store::open(&dir.path().join("ottd.db")).expect("open");
        // A read in hand on one thread does not hold up another reader.
        let held = store.sqlite().readers.lend().expect("first");
        let other = std::thread::scope(|s| s.spawn(|| store.meta("anything").map(|_| ())).join());
        assert!(matches!(other, Ok(Ok(()))), "a second reader reads while the first holds its connection");
        let all: Vec<_> = (1..READERS).map(|_| store.sqlite().readers.lend().expect("lend")).collect();
        assert_eq!(store.sqlite().readers.pool.lock().map(|p| (p.0.len(), p.1)).ok(), Some((0, READERS)), "all lent");
        drop(all);
        drop(held);
        assert_eq!(
            store.sqlite().readers.pool.lock().map(|p| (p.0.len(), p.1)).ok(),
            Some((READERS, READERS)),
            "all back"
        );
    }
}
