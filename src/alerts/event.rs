//! MediaLive's EventBridge events, parsed into what ottd acts on. Pure: a body in, an
//! [`Event`] or a [`ParseError`] out, never a panic, whatever the body (a property test feeds
//! it arbitrary JSON).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// The largest body accepted (SQS's and SNS's own limit).
pub const MAX_BODY: usize = 256 * 1024;

/// The detail types ottd subscribes to (the rule `bootstrap` makes matches them).
pub use crate::aws::alerting::{ALERT, DETAIL_TYPES, INPUT_CHANGE, STATE_CHANGE};

/// One event as EventBridge delivered it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The envelope's `id`: EventBridge may deliver an event more than once.
    pub id: String,
    /// When MediaLive says it happened.
    pub time: DateTime<Utc>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The channel it is about (the id in its ARN).
    pub channel_id: String,
    pub detail: Detail,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Detail {
    Alert(Alert),
    StateChange {
        /// `STARTING`, `RUNNING`, `STOPPING`, `STOPPED`, `DELETED`…
        state: String,
        pipelines_running: Option<u32>,
        message: String,
    },
    InputChange {
        pipeline: Option<u8>,
        active_input: Option<String>,
        /// The schedule action that made the switch (`active_input_switch_action_name`); none
        /// when MediaLive switched on its own (input failover).
        switch_action: Option<String>,
        message: String,
    },
}

pub use crate::lifecycle::{AlarmState, Alert};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message of {0} bytes is over the {MAX_BODY}-byte limit")]
    TooLarge(usize),
    #[error("not JSON: {0}")]
    Json(String),
    #[error("not a MediaLive channel event (source {from:?}, detail-type {detail_type:?})")]
    NotMediaLive { from: String, detail_type: String },
    #[error("field {0}: {1}")]
    Field(&'static str, String),
}

fn text<'a>(v: &'a Value, field: &'static str) -> Result<&'a str, ParseError> {
    match v.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ParseError::Field(field, format!("expected a string, found {}", kind(other)))),
        None => Err(ParseError::Field(field, "missing".into())),
    }
}

fn opt_text(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_string)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The channel id in a MediaLive channel ARN (`arn:aws:medialive:<region>:<account>:channel:<id>`).
pub fn channel_id_of(arn: &str) -> Option<&str> {
    let (head, id) = arn.rsplit_once(":channel:")?;
    (head.starts_with("arn:") && !id.is_empty() && !id.contains(':')).then_some(id)
}

/// A pipeline as MediaLive writes it in events (`"0"`, `"1"`, sometimes a number).
fn pipeline_of(v: &Value) -> Result<Option<u8>, ParseError> {
    let p = match v.get("pipeline") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<u8>().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        Some(_) => None,
    };
    match p {
        Some(p @ (0 | 1)) => Ok(Some(p)),
        _ => Err(ParseError::Field("detail.pipeline", format!("expected \"0\" or \"1\", found {}", v["pipeline"]))),
    }
}

/// Parse one EventBridge event body.
pub fn parse(body: &str) -> Result<Event, ParseError> {
    if body.len() > MAX_BODY {
        return Err(ParseError::TooLarge(body.len()));
    }
    let v: Value = serde_json::from_str(body).map_err(|e| ParseError::Json(e.to_string()))?;
    if !v.is_object() {
        return Err(ParseError::Json(format!("expected an object, found {}", kind(&v))));
    }
    let source = opt_text(&v, "source").unwrap_or_default();
    let detail_type = opt_text(&v, "detail-type").unwrap_or_default();
    if source != "aws.medialive" || !DETAIL_TYPES.contains(&detail_type.as_str()) {
        return Err(ParseError::NotMediaLive { from: source, detail_type });
    }
    let id = text(&v, "id")?.to_string();
    if id.is_empty() {
        return Err(ParseError::Field("id", "empty".into()));
    }
    let time = DateTime::parse_from_rfc3339(text(&v, "time")?)
        .map_err(|e| ParseError::Field("time", e.to_string()))?
        .with_timezone(&Utc);
    let detail = v.get("detail").filter(|d| d.is_object()).ok_or(ParseError::Field("detail", "missing".into()))?;
    let arn = opt_text(detail, "channel_arn")
        .or_else(|| v.get("resources").and_then(|r| r.get(0)).and_then(Value::as_str).map(str::to_string))
        .ok_or(ParseError::Field("detail.channel_arn", "missing".into()))?;
    let channel_id = channel_id_of(&arn)
        .ok_or_else(|| ParseError::Field("detail.channel_arn", format!("`{arn}` is not a MediaLive channel ARN")))?
        .to_string();
    let message = opt_text(detail, "message").unwrap_or_default();
    let detail = match detail_type.as_str() {
        ALERT => {
            let state = match text(detail, "alarm_state")
                .map_err(|_| ParseError::Field("detail.alarm_state", "missing or not a string".into()))?
            {
                "SET" => AlarmState::Set,
                "CLEARED" => AlarmState::Cleared,
                other => {
                    return Err(ParseError::Field("detail.alarm_state", format!("`{other}` is not SET or CLEARED")))
                }
            };
            let alarm_id = opt_text(detail, "alarm_id")
                .filter(|a| !a.is_empty())
                .ok_or(ParseError::Field("detail.alarm_id", "missing".into()))?;
            let alert_type = opt_text(detail, "alert_type")
                .filter(|a| !a.is_empty())
                .ok_or(ParseError::Field("detail.alert_type", "missing".into()))?;
            Detail::Alert(Alert { state, alarm_id, alert_type, pipeline: pipeline_of(detail)?.unwrap_or(0), message })
        }
        STATE_CHANGE => Detail::StateChange {
            state: opt_text(detail, "state").ok_or(ParseError::Field("detail.state", "missing".into()))?,
            pipelines_running: detail
                .get("pipelines_running_count")
                .and_then(|n| n.as_u64().or_else(|| n.as_str().and_then(|s| s.parse().ok())))
                .and_then(|n| u32::try_from(n).ok()),
            message,
        },
        _ => Detail::InputChange {
            pipeline: pipeline_of(detail)?,
            active_input: opt_text(detail, "active_input_attachment_name").or_else(|| opt_text(detail, "input_name")),
            switch_action: opt_text(detail, "active_input_switch_action_name").filter(|a| !a.is_empty()),
            message,
        },
    };
    Ok(Event { id, time, account: opt_text(&v, "account"), region: opt_text(&v, "region"), channel_id, detail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALERT_BODY: &str = r#"{"version":"0","id":"7f1c2e3a-1111-2222-3333-444455556666",
        "detail-type":"MediaLive Channel Alert","source":"aws.medialive","account":"123456789012",
        "time":"2026-12-18T20:14:03Z","region":"eu-west-1",
        "resources":["arn:aws:medialive:eu-west-1:123456789012:channel:1234567"],
        "detail":{"alarm_state":"SET","alarm_id":"4e912d2be849354108def40099483af0cbb8a6a",
        "alert_type":"Failed to Create Output File or Socket","pipeline":"1",
        "channel_arn":"arn:aws:medialive:eu-west-1:123456789012:channel:1234567",
        "message":"Output group MediaPackage: 403 Forbidden"}}"#;

    #[test]
    fn an_alert_is_read_with_its_key_fields() {
        let e = parse(ALERT_BODY).expect("alert");
        assert_eq!(e.channel_id, "1234567");
        assert_eq!(e.time.to_rfc3339(), "2026-12-18T20:14:03+00:00");
        let Detail::Alert(a) = &e.detail else { panic!("an alert: {e:?}") };
        assert_eq!(
            (a.state, a.pipeline, a.alert_type.as_str()),
            (AlarmState::Set, 1, "Failed to Create Output File or Socket")
        );
    }

    #[test]
    fn a_state_change_and_the_emulators_arns_are_read() {
        let body = r#"{"id":"x","detail-type":"MediaLive Channel State Change","source":"aws.medialive",
            "time":"2026-12-18T20:14:03Z","resources":[],
            "detail":{"channel_arn":"arn:aws:medialive:channel:abc","state":"STOPPED","pipelines_running_count":0}}"#;
        let e = parse(body).expect("state change");
        assert_eq!(e.channel_id, "abc");
        assert_eq!(
            e.detail,
            Detail::StateChange { state: "STOPPED".into(), pipelines_running: Some(0), message: String::new() }
        );
    }

    #[test]
    fn an_input_change_says_which_pipeline_which_attachment_and_which_action() {
        let body = r#"{"id":"y","detail-type":"MediaLive Channel Input Change","source":"aws.medialive",
            "time":"2026-12-18T20:14:03Z","resources":["arn:aws:medialive:eu-west-1:1:channel:abc"],
            "detail":{"channel_arn":"arn:aws:medialive:eu-west-1:1:channel:abc","pipeline":"1",
            "message":"Input switch event on pipeline","active_input_attachment_name":"final-backup","active_input_switch_action_name":"console-1"}}"#;
        let e = parse(body).expect("input change");
        assert_eq!(
            e.detail,
            Detail::InputChange {
                pipeline: Some(1),
                active_input: Some("final-backup".into()),
                switch_action: Some("console-1".into()),
                message: "Input switch event on pipeline".into(),
            }
        );
        // MediaLive's own failover names no action.
        let failover = body.replace(r#","active_input_switch_action_name":"console-1""#, "");
        assert_ne!(failover, body);
        assert!(matches!(parse(&failover).expect("failover").detail, Detail::InputChange { switch_action: None, .. }));
    }

    #[test]
    fn bad_bodies_are_errors_that_say_what_is_wrong() {
        assert!(matches!(parse("{"), Err(ParseError::Json(_))));
        assert!(matches!(parse("[]"), Err(ParseError::Json(_))));
        let other = ALERT_BODY.replace("aws.medialive", "aws.ec2");
        assert!(matches!(parse(&other), Err(ParseError::NotMediaLive { .. })));
        let bad_pipeline = ALERT_BODY.replace(r#""pipeline":"1""#, r#""pipeline":"7""#);
        assert!(matches!(parse(&bad_pipeline), Err(ParseError::Field("detail.pipeline", _))));
        let bad_time = ALERT_BODY.replace("2026-12-18T20:14:03Z", "yesterday");
        assert!(matches!(parse(&bad_time), Err(ParseError::Field("time", _))));
        assert!(matches!(parse(&" ".repeat(MAX_BODY + 1)), Err(ParseError::TooLarge(_))));
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "[ -~]{0,12}".prop_map(Value::String),
            prop_oneof![
                Just("aws.medialive"),
                Just(ALERT),
                Just(STATE_CHANGE),
                Just(INPUT_CHANGE),
                Just("SET"),
                Just("CLEARED"),
                Just("0"),
                Just("1"),
                Just("2026-12-18T20:14:03Z"),
                Just("arn:aws:medialive:eu-west-1:1:channel:9")
            ]
            .prop_map(|s| Value::String(s.to_string())),
        ];
        leaf.prop_recursive(4, 48, 8, |inner| {
            let keys = prop_oneof![
                Just("id"),
                Just("time"),
                Just("source"),
                Just("detail-type"),
                Just("detail"),
                Just("resources"),
                Just("alarm_state"),
                Just("alarm_id"),
                Just("alert_type"),
                Just("pipeline"),
                Just("channel_arn"),
                Just("state"),
                Just("pipelines_running_count"),
                Just("message"),
            ]
            .prop_map(str::to_string);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn the_parser_never_panics_on_any_json(v in json()) {
            let _ = parse(&v.to_string());
        }

        #[test]
        fn the_parser_never_panics_on_any_text(s in "\\PC{0,300}") {
            let _ = parse(&s);
        }

        #[test]
        fn a_valid_alert_with_any_wording_reads_back(alert_type in "[ -~]{1,60}", pipeline in 0u8..2, set in any::<bool>()) {
            let mut v: Value = serde_json::from_str(ALERT_BODY).expect("fixture");
            v["detail"]["alert_type"] = Value::String(alert_type.clone());
            v["detail"]["pipeline"] = Value::String(pipeline.to_string());
            v["detail"]["alarm_state"] = Value::String(if set { "SET" } else { "CLEARED" }.into());
            let e = parse(&v.to_string()).expect("valid");
            let Detail::Alert(a) = e.detail else { panic!("an alert") };
            prop_assert_eq!(a.alert_type, alert_type);
            prop_assert_eq!(a.pipeline, pipeline);
            prop_assert_eq!(a.state, if set { AlarmState::Set } else { AlarmState::Cleared });
        }
    }
}
