//! What a platform stand-in received, in order, with a wait on a condition variable for a
//! condition over it (never a sleep). Shared by the Slack and Discord stand-ins.

#![allow(dead_code)]

use std::fmt::Debug;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct Log<T> {
    /// Named in timeout panics ("Slack", "Discord").
    name: &'static str,
    items: Mutex<Vec<T>>,
    changed: Condvar,
}

impl<T: Clone + Debug> Log<T> {
    pub fn new(name: &'static str) -> Log<T> {
        Log { name, items: Mutex::default(), changed: Condvar::new() }
    }

    pub fn push(&self, r: T) {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).push(r);
        self.changed.notify_all();
    }

    pub fn all(&self) -> Vec<T> {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Wait until `want` holds for what was received; panics with everything received after
    /// `limit`.
    pub fn wait(&self, what: &str, limit: Duration, want: impl Fn(&[T]) -> bool) -> Vec<T> {
        match self.wait_or(limit, want) {
            Ok(items) => items,
            Err(items) => panic!("timed out waiting for {what}; the {} stand-in received:\n{items:#?}", self.name),
        }
    }

    /// Like [`Log::wait`], answering what was received either way.
    pub fn wait_or(&self, limit: Duration, want: impl Fn(&[T]) -> bool) -> Result<Vec<T>, Vec<T>> {
        let until = Instant::now() + limit;
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if want(&items) {
                return Ok(items.clone());
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(items.clone());
            }
            items = self.changed.wait_timeout(items, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}
