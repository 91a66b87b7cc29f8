//! Live-control commands (`break`, `back`, `slate on/off`, `switch`: issue 21) as a durable
//! record, and the per-deployment counter that numbers them. A command takes the next value of
//! its deployment's counter (it names the MediaLive schedule action
//! `ottd-<event>-<nonce>-<kind>-<counter>` and is a break's SCTE-35 splice event id), and is
//! recorded as [`LiveState::Intent`] *before* anything is sent to MediaLive, in the same
//! fenced write that takes the counter; its outcome is recorded after. A process killed in
//! between leaves a record that says which command's fate is unknown, under the very action
//! name a retry looks for in the schedule.
//!
//! Guarantees: counter values of one (event, nonce) start at 1, rise by one per command and
//! never repeat, whatever races (two daemons on one DynamoDB table) and after a transfer
//! between backends (the counters travel with the records, see [`super::transfer`]). A write
//! by a holder whose lease has moved on is refused ([`StoreError::Fenced`]) and takes no
//! value. What a command *is* (`body`) is the live-control domain's JSON: opaque here.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::sqlite::Sqlite;
use super::{parse_time, time_str, Fence, Result, StoreError, Write};

/// Where a live-control command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveState {
    /// Counter taken, intent recorded; nothing known to have reached MediaLive yet.
    Intent,
    /// MediaLive took the batch (BatchUpdateSchedule answered 200, or a retry found the actions held).
    Sent,
    /// Verified: the switch is active / the break is in the schedule.
    Done,
    /// Refused (by ottd's rules or by MediaLive) or abandoned: nothing of it is in the schedule.
    Failed,
}

impl LiveState {
    const ALL: [LiveState; 4] = [LiveState::Intent, LiveState::Sent, LiveState::Done, LiveState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            LiveState::Intent => "intent",
            LiveState::Sent => "sent",
            LiveState::Done => "done",
            LiveState::Failed => "failed",
        }
    }

    /// The state a stored word names; any other word means the store was edited or damaged.
    pub fn parse(s: &str) -> Result<LiveState> {
        LiveState::word(s).ok_or_else(|| StoreError::Corrupt { what: "live_commands.state", value: s.to_string() })
    }

    /// The state a word names, if any (for readers with errors of their own: the snapshot's).
    pub(crate) fn word(s: &str) -> Option<LiveState> {
        LiveState::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A live-control command as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRecord {
    pub event: String,
    /// The deployment (nonce) whose channel the command was for: counters are per deployment.
    pub nonce: String,
    pub counter: u32,
    pub state: LiveState,
    /// What the command is, as JSON the live-control domain writes and reads (opaque here).
    pub body: String,
    /// The actor's label.
    pub by: String,
    pub at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The outcome's words (MediaLive's refusal, "verified: active input backup").
    pub detail: Option<String>,
}

/// The command (event, nonce, counter) names, for the error that says it is not recorded.
pub(crate) fn unknown(event: &str, nonce: &str, counter: u32) -> StoreError {
    StoreError::Corrupt {
        what: "live command",
        value: format!("{event} deployment {nonce} #{counter} is not recorded"),
    }
}

/// A counter value as stored, back to a `u32` (anything else is a damaged store).
pub(crate) fn counter_of(v: i64, what: &'static str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt { what, value: v.to_string() })
}

/// Live-control commands and their per-deployment counters (see the module doc).
pub trait Live {
    /// Take the next counter value of (event, nonce) and record the command with it as `Intent`,
    /// in one fenced write: values start at 1, rise by one per call, and never repeat, also
    /// between two daemons racing on one DynamoDB table (one must get 1, the other 2) and after
    /// a transfer between backends.
    fn live_intent(&self, fence: &Fence, nonce: &str, body: &str, by: &str, at: DateTime<Utc>) -> Write<u32>;
    /// Set a recorded command's state, fenced; its `detail` and `body` too, each when `Some`
    /// (`None` keeps the stored one, as a resource's record does). A command not recorded
    /// under (event, nonce, counter) is `StoreError::Corrupt { what: "live command", .. }`,
    /// and nothing is written.
    #[allow(clippy::too_many_arguments)]
    fn live_update(
        &self,
        fence: &Fence,
        nonce: &str,
        counter: u32,
        state: LiveState,
        body: Option<&str>,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Write<()>;
    /// The event's recorded commands for deployment `nonce`, newest (highest counter) first, at most `limit`.
    fn live_records(&self, event: &str, nonce: &str, limit: usize) -> Result<Vec<LiveRecord>>;
}

/// A `live_commands` row as read, in [`COLUMNS`]' order (the state transfer reads them too).
pub(super) type Raw = (String, String, i64, String, String, String, String, String, Option<String>);

pub(super) const COLUMNS: &str = "event, nonce, counter, state, body, by, at, updated_at, detail";

pub(super) fn typed((event, nonce, counter, state, body, by, at, updated_at, detail): Raw) -> Result<LiveRecord> {
    Ok(LiveRecord {
        event,
        nonce,
        counter: counter_of(counter, "live_commands.counter")?,
        state: LiveState::parse(&state)?,
        body,
        by,
        at: parse_time(&at, "live_commands.at")?,
        updated_at: parse_time(&updated_at, "live_commands.updated_at")?,
        detail,
    })
}

impl Live for Sqlite {
    fn live_intent(&self, fence: &Fence, nonce: &str, body: &str, by: &str, at: DateTime<Utc>) -> Write<u32> {
        let fence = fence.clone();
        let (nonce, body, by) = (nonce.to_string(), body.to_string(), by.to_string());
        // The lease check, the counter and the record in one transaction of the one writer:
        // nothing else writes the file in between, so the counter cannot be taken twice.
        self.write_checked(move |c| {
            super::leases::check_fence(c, &fence)?;
            let last: i64 = c
                .prepare_cached(
                    "INSERT INTO live_counters (event, nonce, last) VALUES (?1, ?2, 1)
                     ON CONFLICT (event, nonce) DO UPDATE SET last = last + 1
                     RETURNING last",
                )?
                .query_row(params![fence.event, nonce], |r| r.get(0))?;
            let counter = counter_of(last, "live_counters.last")?;
            let at = time_str(at);
            // A record already under this value (a damaged counter) fails the primary key:
            // refused, never overwritten.
            c.prepare_cached(&format!(
                "INSERT INTO live_commands ({COLUMNS}) VALUES (?1, ?2, ?3, 'intent', ?4, ?5, ?6, ?6, NULL)"
            ))?
            .execute(params![fence.event, nonce, counter, body, by, at])?;
            Ok(counter)
        })
    }

    fn live_update(
        &self,
        fence: &Fence,
        nonce: &str,
        counter: u32,
        state: LiveState,
        body: Option<&str>,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Write<()> {
        let fence = fence.clone();
        let (nonce, body, detail) = (nonce.to_string(), body.map(str::to_string), detail.map(str::to_string));
        self.write_checked(move |c| {
            super::leases::check_fence(c, &fence)?;
            let n = c
                .prepare_cached(
                    "UPDATE live_commands SET state = ?4, body = COALESCE(?5, body), detail = COALESCE(?6, detail),
                         updated_at = ?7
                     WHERE event = ?1 AND nonce = ?2 AND counter = ?3",
                )?
                .execute(params![fence.event, nonce, counter, state.as_str(), body, detail, time_str(at)])?;
            if n == 0 {
                return Err(unknown(&fence.event, &nonce, counter));
            }
            Ok(())
        })
    }

    fn live_records(&self, event: &str, nonce: &str, limit: usize) -> Result<Vec<LiveRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let raw: Vec<Raw> = self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM live_commands WHERE event = ?1 AND nonce = ?2 ORDER BY counter DESC LIMIT ?3"
            ))?;
            let rows = st.query_map(params![event, nonce, limit], |r| r.try_into())?;
            rows.collect()
        })?;
        raw.into_iter().map(typed).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        (dir, store)
    }

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s, "test").expect("time")
    }

    #[test]
    fn the_counter_starts_at_1_rises_by_one_and_is_per_event_and_deployment() {
        let (_dir, store) = store();
        let (f, g) = (store.test_fence("final"), store.test_fence("semi"));
        let at = t("2026-12-18T20:00:00Z");
        let take = |f: &Fence, nonce: &str| store.live_intent(f, nonce, "{}", "cli:ops", at).wait().expect("intent");
        assert_eq!([take(&f, "abcd1234"), take(&f, "abcd1234"), take(&f, "abcd1234")], [1, 2, 3]);
        assert_eq!(take(&f, "efgh5678"), 1, "a new deployment counts from 1");
        assert_eq!(take(&g, "abcd1234"), 1, "another event counts on its own");
        assert_eq!(take(&f, "abcd1234"), 4);
        let r = &store.live_records("final", "abcd1234", 1).expect("q")[0];
        assert_eq!(
            (r.event.as_str(), r.nonce.as_str(), r.counter, r.state, r.body.as_str(), r.by.as_str()),
            ("final", "abcd1234", 4, LiveState::Intent, "{}", "cli:ops")
        );
        assert_eq!((r.at, r.updated_at, r.detail.as_deref()), (at, at, None));
    }

    #[test]
    fn an_update_sets_state_detail_body_and_updated_at_and_an_unknown_command_is_an_error() {
        let (_dir, store) = store();
        let f = store.test_fence("final");
        let (at, later) = (t("2026-12-18T20:00:00Z"), t("2026-12-18T20:00:02.5Z"));
        let n = store.live_intent(&f, "abcd1234", "{\"kind\":\"break\"}", "slack:U1", at).wait().expect("intent");
        store.live_update(&f, "abcd1234", n, LiveState::Sent, None, None, later).wait().expect("sent");
        let r = store.live_records("final", "abcd1234", 10).expect("q").remove(0);
        let sent = (r.state, r.body.as_str(), r.detail.as_deref(), r.at, r.updated_at);
        assert_eq!(sent, (LiveState::Sent, "{\"kind\":\"break\"}", None, at, later));
        let body = "{\"kind\":\"break\",\"seconds\":30}";
        store
            .live_update(&f, "abcd1234", n, LiveState::Done, Some(body), Some("verified"), later)
            .wait()
            .expect("done");
        store.live_update(&f, "abcd1234", n, LiveState::Done, None, None, later).wait().expect("again");
        let r = store.live_records("final", "abcd1234", 10).expect("q").remove(0);
        assert_eq!((r.state, r.body.as_str(), r.detail.as_deref()), (LiveState::Done, body, Some("verified")), "kept");

        for (nonce, counter) in [("abcd1234", n + 1), ("other", n)] {
            let e = store.live_update(&f, nonce, counter, LiveState::Failed, None, None, later).wait();
            let e = e.expect_err("not recorded");
            assert!(matches!(&e, StoreError::Corrupt { what: "live command", .. }), "{e}");
        }
        assert_eq!(store.live_records("final", "other", 10).expect("q"), [], "nothing written");
    }

    #[test]
    fn a_holder_whose_lease_moved_on_is_refused_and_takes_no_counter() {
        let (_dir, store) = store();
        let old = store.test_fence("final");
        let at = t("2026-12-18T20:00:00Z");
        assert_eq!(store.live_intent(&old, "abcd1234", "{}", "cli:ops", at).wait().expect("intent"), 1);
        let seen = store.lease("final").expect("q").expect("row").version;
        let new = store.acquire_lease("final", &Holder::new("live"), std::time::Duration::from_secs(60), Some(&seen));
        let new = new.wait().expect("q").expect("taken over").fence;

        let e = store.live_intent(&old, "abcd1234", "{}", "cli:ops", at).wait().expect_err("fenced");
        assert!(matches!(&e, StoreError::Fenced { term: 1, .. }), "{e}");
        let e = store.live_update(&old, "abcd1234", 1, LiveState::Failed, None, Some("stale"), at).wait();
        assert!(matches!(e, Err(StoreError::Fenced { .. })), "{e:?}");
        assert_eq!(store.live_records("final", "abcd1234", 10).expect("q")[0].state, LiveState::Intent);
        assert_eq!(store.live_intent(&new, "abcd1234", "{}", "cli:ops", at).wait().expect("intent"), 2, "no gap");
    }

    #[test]
    fn records_come_newest_first_and_limited() {
        let (_dir, store) = store();
        let f = store.test_fence("final");
        for i in 0..5 {
            let body = format!("{{\"n\":{i}}}");
            store.live_intent(&f, "abcd1234", &body, "cli:ops", Utc::now()).wait().expect("intent");
        }
        let counters = |limit| -> Vec<u32> {
            store.live_records("final", "abcd1234", limit).expect("q").iter().map(|r| r.counter).collect()
        };
        assert_eq!(counters(3), [5, 4, 3]);
        assert_eq!(counters(10), [5, 4, 3, 2, 1]);
        assert!(counters(0).is_empty());
        assert!(store.live_records("final", "nope", 10).expect("q").is_empty());
        assert!(store.live_records("semi", "abcd1234", 10).expect("q").is_empty());
    }

    #[test]
    fn a_state_word_parses_back_and_any_other_is_corrupt() {
        for s in LiveState::ALL {
            assert_eq!(LiveState::parse(s.as_str()).expect("parse"), s);
        }
        let e = LiveState::parse("sending").expect_err("no such state");
        assert!(matches!(&e, StoreError::Corrupt { what: "live_commands.state", value } if value == "sending"));
    }
}
