//! The clock the daemon's decisions read. Production reads the system clock; tests set the
//! time by hand ([`ManualClock`]) or let tokio's paused timer drive it ([`TokioClock`]), so
//! scheduler and policy tests never depend on how loaded the machine is.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t = t.checked_add_signed(by).unwrap_or(*t);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Wall-clock instants that follow tokio's clock from an anchor: with `tokio::time::pause()`
/// the time jumps straight to the next timer, so a test of minutes runs in milliseconds and
/// every instant is exact.
#[derive(Debug)]
pub struct TokioClock {
    anchor: DateTime<Utc>,
    started: tokio::time::Instant,
}

impl TokioClock {
    pub fn new(anchor: DateTime<Utc>) -> TokioClock {
        TokioClock { anchor, started: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or(chrono::Duration::MAX);
        self.anchor.checked_add_signed(elapsed).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}
