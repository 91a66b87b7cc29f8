//! Chat requests waiting for a confirmation or a second person's approval: the records
//! ([`Request`], its [`Kind`] and [`State`]) and their table. Chat decides what a click does to
//! one; settling it is a compare-and-set on its state here, so two clicks (or two daemons)
//! never both run it.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::sqlite::Sqlite;
use super::{parse_time, time_str, Result, StoreError, Write};

/// What a request waits for: its requester's confirmation, or a second person's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Confirm,
    Approve,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Confirm => "confirm",
            Kind::Approve => "approve",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Confirm, Kind::Approve].into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    /// Confirmed or approved: the command ran.
    Done,
    /// Withdrawn by the requester.
    Cancelled,
    /// Denied by another person.
    Rejected,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Done => "done",
            State::Cancelled => "cancelled",
            State::Rejected => "rejected",
            State::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [State::Pending, State::Done, State::Cancelled, State::Rejected, State::Expired]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A command waiting for a confirmation or an approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub id: i64,
    pub kind: Kind,
    /// `slack:U0123`.
    pub requester: String,
    /// `slack:C0123`: where it was asked.
    pub channel: String,
    /// The command text (`teardown final`).
    pub command: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: State,
    pub decided_by: Option<String>,
}

type Raw = (i64, String, String, String, String, String, String, String, Option<String>);

fn typed((id, kind, requester, channel, command, created_at, expires_at, state, decided_by): Raw) -> Result<Request> {
    Ok(Request {
        id,
        kind: Kind::parse(&kind).ok_or(StoreError::Corrupt { what: "chat_requests.kind", value: kind })?,
        requester,
        channel,
        command,
        created_at: parse_time(&created_at, "chat_requests.created_at")?,
        expires_at: parse_time(&expires_at, "chat_requests.expires_at")?,
        state: State::parse(&state).ok_or(StoreError::Corrupt { what: "chat_requests.state", value: state })?,
        decided_by,
    })
}

/// Chat confirmations and two-person approvals, settled once.
pub trait Requests {
    #[allow(clippy::too_many_arguments)]
    fn request_open(
        &self,
        kind: Kind,
        requester: &str,
        groups: &[String],
        channel: &str,
        command: &str,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Write<i64>;
    /// The requester's groups kept with request `id` (none for an unknown request).
    fn request_groups(&self, id: i64) -> Result<Vec<String>>;
    fn request(&self, id: i64) -> Result<Option<Request>>;
    /// Move a pending request to `state`; `false` when it was no longer pending (someone
    /// else settled it first).
    fn request_settle(&self, id: i64, state: State, by: &str, at: DateTime<Utc>) -> Write<bool>;
    /// Forget requests settled or created before `before` (the daily upkeep).
    fn requests_prune(&self, before: DateTime<Utc>) -> Write<usize>;
}

impl Requests for Sqlite {
    /// Keep a new request; answers its id. `groups`: the requester's user groups (Discord
    /// roles) as the platform told them with the request, for the check at approval time.
    #[allow(clippy::too_many_arguments)]
    fn request_open(
        &self,
        kind: Kind,
        requester: &str,
        groups: &[String],
        channel: &str,
        command: &str,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Write<i64> {
        let row = (kind.as_str(), requester.to_string(), channel.to_string(), command.to_string());
        let groups = serde_json::to_string(groups).unwrap_or_else(|_| "[]".into());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO chat_requests (kind, requester, channel, command, created_at, expires_at, state, requester_groups)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
            )?
            .execute(params![row.0, row.1, row.2, row.3, time_str(created_at), time_str(expires_at), groups])?;
            Ok(c.last_insert_rowid())
        })
    }

    fn request_groups(&self, id: i64) -> Result<Vec<String>> {
        let raw: Option<String> = self.with(|c| {
            c.prepare_cached("SELECT requester_groups FROM chat_requests WHERE id = ?1")?
                .query_row(params![id], |r| r.get(0))
                .optional()
        })?;
        match raw {
            None => Ok(Vec::new()),
            Some(text) => serde_json::from_str(&text)
                .map_err(|_| StoreError::Corrupt { what: "chat_requests.requester_groups", value: text }),
        }
    }

    fn request(&self, id: i64) -> Result<Option<Request>> {
        let raw: Option<Raw> = self.with(|c| {
            c.prepare_cached(
                "SELECT id, kind, requester, channel, command, created_at, expires_at, state, decided_by
                 FROM chat_requests WHERE id = ?1",
            )?
            .query_row(params![id], |r| r.try_into())
            .optional()
        })?;
        raw.map(typed).transpose()
    }

    fn request_settle(&self, id: i64, state: State, by: &str, at: DateTime<Utc>) -> Write<bool> {
        let by = by.to_string();
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE chat_requests SET state = ?2, decided_by = ?3, decided_at = ?4
                     WHERE id = ?1 AND state = 'pending'",
                )?
                .execute(params![id, state.as_str(), by, time_str(at)])?;
            Ok(n == 1)
        })
    }

    fn requests_prune(&self, before: DateTime<Utc>) -> Write<usize> {
        self.write(move |c| c.execute("DELETE FROM chat_requests WHERE created_at < ?1", params![time_str(before)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::*;

    #[tokio::test]
    async fn a_request_is_settled_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("s.db")).expect("store");
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let later = now + chrono::Duration::minutes(15);
        let id = store
            .request_open(Kind::Approve, "slack:UA", &["S1".to_string()], "slack:C1", "teardown final", now, later)
            .await
            .expect("open");
        let r = store.request(id).expect("read").expect("row");
        assert_eq!((r.kind, r.state, r.command.as_str()), (Kind::Approve, State::Pending, "teardown final"));
        assert_eq!(r.expires_at, later);
        assert_eq!(store.request_groups(id).expect("groups"), ["S1"]);
        assert!(store.request_settle(id, State::Done, "slack:UB", now).await.expect("settle"));
        assert!(!store.request_settle(id, State::Rejected, "slack:UC", now).await.expect("again"), "settled once");
        let r = store.request(id).expect("read").expect("row");
        assert_eq!((r.state, r.decided_by.as_deref()), (State::Done, Some("slack:UB")));
        assert_eq!(store.request(id + 1).expect("read"), None);
    }
}
