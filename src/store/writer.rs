//! The state file's one writer: every write is a job handed to a thread that owns the write
//! connection and commits whatever is queued in one transaction (group commit), each job in a
//! savepoint of its own so one failing job fails alone. A crowd of events writing at once
//! costs a few commits instead of thousands, and no write holds up a read (WAL).
//!
//! A caller gets a [`Write`]: `.await` it in async code, [`Write::wait`] in sync code, or
//! drop it for a write nobody needs to wait for (the audit trail): it is applied all the
//! same, in order. Dropping the [`Writer`] applies everything queued before it returns.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use futures::channel::oneshot;
use rusqlite::Connection;

use super::{Result, StoreError};

/// Most jobs in one transaction.
const MAX_BATCH: usize = 4096;
/// Writes queued at most. A writer this far behind (16 full transactions) makes whoever
/// writes next wait for room: memory stays bounded and nothing is dropped.
pub const MAX_QUEUED: usize = 16 * MAX_BATCH;

/// A job's outcome, sent once its transaction has committed (or failed).
type Reply = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// Runs a job's statements; says whether they succeeded, and how to answer once committed.
type Run = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

struct Job {
    /// Run outside any transaction (checkpoints, which SQLite refuses inside one).
    alone: bool,
    run: Run,
    fail: Box<dyn FnOnce(String) + Send>,
}

pub struct Writer {
    queue: Option<mpsc::SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

/// A write on its way to the state file.
#[must_use = "a write is applied even if dropped; `.await` or `.wait()` it to learn its outcome"]
pub struct Write<T> {
    rx: std::result::Result<oneshot::Receiver<Result<T>>, Option<StoreError>>,
}

impl<T> Write<T> {
    /// A write another backend completes by sending its outcome on `rx`.
    pub fn pending(rx: oneshot::Receiver<Result<T>>) -> Write<T> {
        Write { rx: Ok(rx) }
    }

    /// A write that failed before it was sent anywhere.
    pub fn failed(e: StoreError) -> Write<T> {
        Write { rx: Err(Some(e)) }
    }

    /// Block this thread until the write is committed.
    pub fn wait(self) -> Result<T> {
        match self.rx {
            Ok(rx) => futures::executor::block_on(rx).unwrap_or(Err(StoreError::WriterGone)),
            Err(e) => Err(e.unwrap_or(StoreError::WriterGone)),
        }
    }

    /// Let it be applied without waiting for it (a failure shows in the log).
    pub fn detach(self) {}
}

impl<T> IntoFuture for Write<T> {
    type Output = Result<T>;
    type IntoFuture = Pending<T>;

    fn into_future(self) -> Pending<T> {
        Pending(self.rx)
    }
}

pub struct Pending<T>(std::result::Result<oneshot::Receiver<Result<T>>, Option<StoreError>>);

impl<T> Future for Pending<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match &mut self.0 {
            Ok(rx) => Pin::new(rx).poll(cx).map(|r| r.unwrap_or(Err(StoreError::WriterGone))),
            Err(e) => Poll::Ready(Err(e.take().unwrap_or(StoreError::WriterGone))),
        }
    }
}

impl Writer {
    pub fn start(conn: Connection) -> Writer {
        let (tx, rx) = mpsc::sync_channel::<Job>(MAX_QUEUED);
        let thread = std::thread::Builder::new()
            .name("ottd-store-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| tracing::error!("cannot start the state file's writer: {e}"))
            .ok();
        Writer { queue: thread.as_ref().map(|_| tx), thread }
    }

    /// Queue `f` to run in the next transaction.
    pub fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Write<T> {
        self.submit(false, move |c| f(c).map_err(StoreError::Query))
    }

    /// Queue `f`, whose own refusal (a fenced write whose lease moved on) fails the write with
    /// that error and changes nothing.
    pub fn write_checked<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Write<T> {
        self.submit(false, f)
    }

    /// Queue `f` to run outside any transaction, after everything queued before it.
    pub fn alone<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Write<T> {
        self.submit(true, move |c| f(c).map_err(StoreError::Query))
    }

    fn submit<T: Send + 'static>(
        &self,
        alone: bool,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Write<T> {
        let Some(queue) = &self.queue else { return Write { rx: Err(Some(StoreError::WriterGone)) } };
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
        let fail_tx = tx.clone();
        let send = move |tx: &std::sync::Arc<std::sync::Mutex<Option<oneshot::Sender<Result<T>>>>>, r: Result<T>| {
            if let Some(tx) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(r);
            }
        };
        let job = Job {
            alone,
            run: Box::new(move |c| match f(c) {
                Ok(v) => (
                    true,
                    Box::new(move |commit: std::result::Result<(), String>| {
                        send(&tx, commit.map(|()| v).map_err(StoreError::Commit))
                    }) as Reply,
                ),
                Err(e) => {
                    if matches!(e, StoreError::Fenced { .. }) {
                        tracing::debug!("state write refused: {e}");
                    } else {
                        tracing::warn!("state file write failed: {e}");
                    }
                    (false, Box::new(move |_| send(&tx, Err(e))) as Reply)
                }
            }),
            fail: Box::new(move |e| send(&fail_tx, Err(StoreError::Commit(e)))),
        };
        match queue.send(job) {
            Ok(()) => Write { rx: Ok(rx) },
            Err(_) => Write { rx: Err(Some(StoreError::WriterGone)) },
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has applied everything queued.
        self.queue = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Job>) {
    let mut next: Option<Job> = None;
    loop {
        let first = match next.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
        };
        if first.alone {
            let (ok, reply) = (first.run)(&conn);
            reply(if ok { Ok(()) } else { Err(String::new()) });
            continue;
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) if j.alone => {
                    next = Some(j);
                    break;
                }
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        commit(&conn, batch);
    }
}

/// Run a batch in one transaction, each job in its own savepoint; answer each job after the
/// commit.
fn commit(conn: &Connection, batch: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let msg = e.to_string();
        for j in batch {
            (j.fail)(msg.clone());
        }
        return;
    }
    let mut replies = Vec::with_capacity(batch.len());
    for j in batch {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            (j.fail)(e.to_string());
            continue;
        }
        let (ok, reply) = (j.run)(conn);
        let end = if ok { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
        if let Err(e) = conn.execute_batch(end) {
            tracing::warn!("state file savepoint: {e}");
        }
        replies.push(reply);
    }
    let outcome = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    });
    for r in replies {
        r(outcome.clone());
    }
}
