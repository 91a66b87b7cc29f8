//! Chat requests (`REQUEST` / id, 20 digits) on DynamoDB; ids from the `request` counter.
//! Settling is an update conditioned on the request still pending, so two clicks (or two
//! daemons) never both settle it.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::items::{get_i64, get_s, get_time, key, n, opt_s, s, Item};
use super::Dynamo;
use crate::store::requests::{Kind, Request, State};
use crate::store::{time_str, Requests, Result, StoreError, Write};

pub(super) const PK: &str = "REQUEST";

fn sk(id: i64) -> String {
    format!("{id:020}")
}

fn typed(item: &Item) -> Result<Request> {
    let kind = get_s(item, "kind", "chat_requests.kind")?;
    let state = get_s(item, "state", "chat_requests.state")?;
    Ok(Request {
        id: get_i64(item, "id", "chat_requests.id")?,
        kind: Kind::parse(&kind).ok_or(StoreError::Corrupt { what: "chat_requests.kind", value: kind })?,
        requester: get_s(item, "requester", "chat_requests.requester")?,
        channel: get_s(item, "channel", "chat_requests.channel")?,
        command: get_s(item, "command", "chat_requests.command")?,
        created_at: get_time(item, "created_at", "chat_requests.created_at")?,
        expires_at: get_time(item, "expires_at_time", "chat_requests.expires_at")?,
        state: State::parse(&state).ok_or(StoreError::Corrupt { what: "chat_requests.state", value: state })?,
        decided_by: opt_s(item, "decided_by", "chat_requests.decided_by")?,
    })
}

impl Requests for Dynamo {
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
        let (requester, channel, command) = (requester.to_string(), channel.to_string(), command.to_string());
        let groups = serde_json::to_string(groups).unwrap_or_else(|_| "[]".into());
        self.write(PK, move |db| async move {
            let id = db.next_id("request").await?;
            let mut item = key(PK, sk(id));
            item.insert("id".into(), n(id));
            item.insert("kind".into(), s(kind.as_str()));
            item.insert("requester".into(), s(requester));
            item.insert("channel".into(), s(channel));
            item.insert("command".into(), s(command));
            item.insert("created_at".into(), s(time_str(created_at)));
            // Not `expires_at`: that name is the table's TTL, and a request's record outlives
            // its expiry (until the upkeep prunes it).
            item.insert("expires_at_time".into(), s(time_str(expires_at)));
            item.insert("state".into(), s(State::Pending.as_str()));
            item.insert("requester_groups".into(), s(groups));
            db.put("PutItem (request)", item, None, vec![]).await?;
            Ok(id)
        })
    }

    fn request_groups(&self, id: i64) -> Result<Vec<String>> {
        self.read(|db| async move {
            match db.get(PK, &sk(id)).await? {
                None => Ok(Vec::new()),
                Some(item) => {
                    let text = get_s(&item, "requester_groups", "chat_requests.requester_groups")?;
                    serde_json::from_str(&text)
                        .map_err(|_| StoreError::Corrupt { what: "chat_requests.requester_groups", value: text })
                }
            }
        })
    }

    fn request(&self, id: i64) -> Result<Option<Request>> {
        self.read(|db| async move { db.get(PK, &sk(id)).await?.as_ref().map(typed).transpose() })
    }

    fn request_settle(&self, id: i64, state: State, by: &str, at: DateTime<Utc>) -> Write<bool> {
        let by = by.to_string();
        self.write(PK, move |db| async move {
            db.update(
                "UpdateItem (settle request)",
                key(PK, sk(id)),
                "SET #state = :state, #by = :by, #at = :at",
                Some("#state = :pending"),
                &[("#state", "state"), ("#by", "decided_by"), ("#at", "decided_at")],
                vec![
                    (":state", s(state.as_str())),
                    (":by", s(by)),
                    (":at", s(time_str(at))),
                    (":pending", AttributeValue::S(State::Pending.as_str().into())),
                ],
            )
            .await
        })
    }

    fn requests_prune(&self, before: DateTime<Utc>) -> Write<usize> {
        let before = time_str(before);
        self.write(PK, move |db| async move {
            let items = db
                .query(PK, |q| q.projection_expression("pk, sk, #c").expression_attribute_names("#c", "created_at"))
                .await?;
            let mut gone = Vec::new();
            for item in items {
                if get_s(&item, "created_at", "chat_requests.created_at")? < before {
                    gone.push(key(PK, get_s(&item, "sk", "chat_requests.id")?));
                }
            }
            db.delete_keys(gone).await
        })
    }
}
