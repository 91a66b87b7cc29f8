use super::*;
use crate::lifecycle::{Phase, Status};
use crate::plan::Kind;
use crate::store::{Holder, Store};
use chrono::{DateTime, Utc};

fn t(s: &str) -> DateTime<Utc> {
    crate::store::parse_time(s, "test").expect("time")
}

fn deployment(event: &str, nonce: &str, updated: &str) -> DeploymentRecord {
    DeploymentRecord {
        event: event.into(),
        nonce: nonce.into(),
        phase: Phase::Running,
        phase_since: t("2026-12-18T18:00:00Z"),
        plan_json: "{}".into(),
        last_error: None,
        updated_at: t(updated),
    }
}

fn resource(event: &str, key: &str, updated: &str) -> ResourceRecord {
    ResourceRecord {
        event: event.into(),
        key: key.into(),
        kind: Kind::Input,
        name: format!("ottd-{event}-{key}"),
        status: Status::Created,
        aws_id: Some(format!("id-{key}")),
        arn: None,
        attrs: serde_json::json!({"url": "x"}),
        updated_at: t(updated),
    }
}

fn alert(id: i64) -> AlertRecord {
    AlertRecord {
        id,
        event: "final".into(),
        channel_id: "123".into(),
        pipeline: 0,
        alarm_id: "a1".into(),
        alert_type: "Failed".into(),
        message: "403".into(),
        set_at: t("2026-12-18T20:00:00Z"),
        cleared_at: None,
        last_time: t("2026-12-18T20:00:00Z"),
        notified_at: None,
        cleared_notified: false,
        acked_by: None,
        acked_at: None,
        action: None,
        acted_at: None,
    }
}

fn audit_row(id: i64, key: &str) -> AuditRecord {
    AuditRecord {
        id,
        key: key.into(),
        at: t("2026-12-18T20:00:00Z"),
        actor: "cli:ops".into(),
        event: Some("final".into()),
        operation: "deploy".into(),
        args: serde_json::json!({"event": "final"}),
        decision: "allowed".into(),
        changes: true,
        result: None,
        duration_ms: None,
        error: None,
        instance: "box:1:abcdef".into(),
    }
}

#[test]
fn the_newer_deployment_wins_and_its_resources_follow_it() {
    let mut here = Snapshot::empty(Utc::now());
    here.deployments = vec![
        deployment("final", "old1", "2026-12-18T19:00:00Z"),
        deployment("semi", "same", "2026-12-18T19:00:00Z"),
        deployment("quali", "mine", "2026-12-18T21:00:00Z"),
    ];
    here.resources = vec![
        resource("final", "input", "2026-12-18T19:00:00Z"),
        resource("final", "channel", "2026-12-18T19:00:00Z"),
        resource("semi", "input", "2026-12-18T20:30:00Z"),
        resource("quali", "input", "2026-12-18T21:00:00Z"),
    ];
    let mut there = Snapshot::empty(Utc::now());
    there.deployments = vec![
        deployment("final", "new2", "2026-12-18T20:00:00Z"),
        deployment("semi", "same", "2026-12-18T20:00:00Z"),
        deployment("quali", "theirs", "2026-12-18T20:00:00Z"),
    ];
    there.resources = vec![
        resource("final", "input", "2026-12-18T20:00:00Z"),
        resource("semi", "input", "2026-12-18T20:00:00Z"),
        resource("semi", "channel", "2026-12-18T20:00:00Z"),
        resource("quali", "input", "2026-12-18T20:00:00Z"),
    ];
    let (changes, n) = merge(&here, &there).expect("merge");
    assert_eq!((n.deployments.updated, n.deployments.kept), (2, 1), "final and semi newer there; quali newer here");
    assert_eq!(changes.replace_resources_of, ["final"], "another nonce: the old deployment's rows go");
    assert_eq!(n.resources.removed, 1, "final's channel belonged to the replaced deployment");
    let written: Vec<(&str, &str)> =
        changes.records.resources.iter().map(|r| (r.event.as_str(), r.key.as_str())).collect();
    assert_eq!(written, [("final", "input"), ("semi", "channel")], "semi's input is newer here; quali is kept");
    assert_eq!(n.resources.kept, 2);
}

#[test]
fn an_alert_keeps_every_mark_either_side_made_and_another_alert_under_its_id_is_refused() {
    let mut here = Snapshot::empty(Utc::now());
    let mut told = alert(3);
    told.notified_at = Some(t("2026-12-18T20:00:01Z"));
    here.alerts = vec![told.clone()];
    let mut there = Snapshot::empty(Utc::now());
    let mut acted = alert(3);
    acted.acted_at = Some(t("2026-12-18T20:01:00Z"));
    acted.action = Some("restart".into());
    there.alerts = vec![acted];
    let (changes, n) = merge(&here, &there).expect("merge");
    assert_eq!(n.alerts.updated, 1);
    let merged = &changes.records.alerts[0];
    assert_eq!((merged.notified_at, merged.action.as_deref()), (told.notified_at, Some("restart")));
    assert!(changes.counters.is_some_and(|c| c.alert == 3), "{:?}", changes.counters);

    let mut other = alert(3);
    other.channel_id = "999".into();
    there.alerts = vec![other];
    let e = merge(&here, &there).expect_err("another alert");
    assert!(matches!(e, TransferError::Conflict { what: "alert", id: 3, .. }), "{e}");
}

#[test]
fn an_audit_row_keeps_its_id_unless_taken_and_an_open_row_takes_the_snapshots_end() {
    let mut here = Snapshot::empty(Utc::now());
    here.audit = vec![audit_row(1, "box-1-0"), audit_row(2, "pair-2-0")];
    here.counters.audit = 2;
    let mut there = Snapshot::empty(Utc::now());
    let closed = AuditRecord { result: Some("ok".into()), duration_ms: Some(5), ..audit_row(1, "box-1-0") };
    there.audit = vec![closed, audit_row(2, "box-2-0"), audit_row(7, "box-7-0")];
    there.counters.audit = 9;
    let (changes, n) = merge(&here, &there).expect("merge");
    assert_eq!((n.audit.updated, n.audit.new), (1, 2));
    let ids: Vec<(i64, &str)> = changes.records.audit.iter().map(|a| (a.id, a.key.as_str())).collect();
    assert_eq!(ids, [(1, "box-1-0"), (10, "box-2-0"), (7, "box-7-0")], "id 2 is another row's here");
    assert_eq!(changes.counters.map(|c| c.audit), Some(10), "the counter above every id");
}

#[test]
fn a_bad_snapshot_is_refused_at_its_line_and_column_or_for_its_format() {
    let e = Snapshot::parse("{\n  \"format\": 1,\n  oops").expect_err("not JSON");
    assert!(matches!(e, SnapshotError::Json { line: 3, .. }), "{e}");
    let e = Snapshot::parse("{\"format\": 2, \"whatever\": []}").expect_err("format 2");
    assert!(matches!(&e, SnapshotError::Format { found } if found == "2"), "{e}");
    assert!(matches!(Snapshot::parse("[]"), Err(SnapshotError::Json { .. })), "not an object");
    let mut s = Snapshot::empty(t("2026-12-18T20:00:00Z"));
    s.deployments.push(deployment("final", "n", "2026-12-18T20:00:00Z"));
    let text = s.to_json().replace("\"running\"", "\"flying\"");
    let e = Snapshot::parse(&text).expect_err("a bad phase");
    let line = text.lines().position(|l| l.contains("flying")).expect("the line") + 1;
    match e {
        SnapshotError::Json { line: l, message, .. } => {
            assert_eq!(l, line);
            assert!(message.contains("`flying` is not a phase"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(Snapshot::parse(&s.to_json()).expect("round trip"), s);
}

#[tokio::test]
async fn sqlite_to_sqlite_carries_every_record_and_a_second_import_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let from = Store::open(&dir.path().join("a.db")).expect("open");
    let f = from.test_fence("final");
    from.begin_deployment(&f, "abcd1234", "{\"v\":1}").await.expect("begin");
    from.record(&f, "input", Kind::Input, "n", Status::Created, Some("1"), Some("arn:1"), None).await.expect("rec");
    from.record(&f, "channel", Kind::Channel, "c", Status::Created, Some("99"), None, None).await.expect("rec");
    from.log_step(&f, "deploy", "ok", None, 1200).await.expect("step");
    from.set_meta("roles.medialive", "arn:role").await.expect("meta");
    let key = from.audit_open(&crate::store::AuditEntry {
        at: Utc::now(),
        actor: "cli:ops".into(),
        event: Some("final".into()),
        operation: "deploy".into(),
        args: "{}".into(),
        decision: "allowed".into(),
        changes: true,
    });
    from.audit_close(&key, crate::store::AuditEnd { result: "ok", duration_ms: 3, error: None });
    from.release_lease(&f).await.expect("release");
    let a = from.export().expect("export");
    assert_eq!((a.deployments.len(), a.resources.len(), a.steps.len(), a.audit.len()), (1, 2, 1, 1));

    let to = Store::open(&dir.path().join("b.db")).expect("open");
    let n = to.import(&a).await.expect("import");
    assert_eq!((n.total().new, n.changed()), (6, 6), "{n:?}");
    let b = to.export().expect("export");
    assert_eq!(Snapshot { exported_at: a.exported_at, ..b.clone() }, a);
    assert_eq!(to.event_of_channel("99").expect("q").as_deref(), Some("final"));
    let again = to.import(&a).await.expect("again");
    assert_eq!(again.changed(), 0, "{again:?}");
    assert_eq!(Snapshot { exported_at: b.exported_at, ..to.export().expect("export") }, b);

    // A lease held on the destination: nothing is imported.
    let holder = Holder::new("deploy");
    to.acquire_lease("final", &holder, std::time::Duration::from_secs(60), None).await.expect("q").expect("free");
    let e = to.import(&a).await.expect_err("leased");
    assert!(e.to_string().contains(&format!("event final is in use: its lease is held by {}", holder.id)), "{e}");
}

fn live(counter: u32, state: crate::store::LiveState, updated: &str) -> LiveCommandRecord {
    LiveCommandRecord {
        event: "final".into(),
        nonce: "abcd1234".into(),
        counter,
        state,
        body: "{\"kind\":\"break\"}".into(),
        by: "slack:U1".into(),
        at: t("2026-12-18T20:00:00Z"),
        updated_at: t(updated),
        detail: None,
    }
}

fn counter(nonce: &str, last: u32) -> LiveCounterRecord {
    LiveCounterRecord { event: "final".into(), nonce: nonce.into(), last }
}

#[test]
fn a_live_command_keeps_its_later_update_its_counter_only_rises_and_another_command_under_its_key_is_refused() {
    use crate::store::LiveState::{Done, Intent, Sent};
    let mut here = Snapshot::empty(Utc::now());
    here.live = vec![live(1, Done, "2026-12-18T20:00:05Z"), live(2, Intent, "2026-12-18T20:01:00Z")];
    here.live_counters = vec![counter("abcd1234", 2), counter("efgh5678", 9)];
    let mut there = Snapshot::empty(Utc::now());
    there.live = vec![
        live(1, Sent, "2026-12-18T20:00:01Z"),
        live(2, Done, "2026-12-18T20:01:04Z"),
        live(3, Intent, "2026-12-18T20:02:00Z"),
    ];
    // A counter exported below its commands (by hand): the commands raise it.
    there.live_counters = vec![counter("abcd1234", 1), counter("efgh5678", 4)];
    let (changes, n) = merge(&here, &there).expect("merge");
    assert_eq!((n.live.new, n.live.updated, n.live.kept, n.live.unchanged), (1, 1, 1, 0), "{n:?}");
    let written: Vec<(u32, crate::store::LiveState)> =
        changes.records.live.iter().map(|l| (l.counter, l.state)).collect();
    assert_eq!(written, [(2, Done), (3, Intent)], "the later update of 2, the new 3; here's newer 1 stays");
    assert_eq!(changes.records.live_counters, [counter("abcd1234", 3)], "raised to 3; 9 stays 9");
    assert!(n.counters_raised);
    assert!(changes.records.events().contains("final"), "an import waits for the event's lease");

    let mut other = there.clone();
    other.live[0].by = "cli:someone".into();
    let e = merge(&here, &other).expect_err("another command as #1");
    assert!(matches!(&e, TransferError::Conflict { what: "live command", id: 1, .. }), "{e}");
    assert!(e.to_string().contains("final deployment abcd1234 #1 taken by slack:U1"), "{e}");

    // An ottd from before live control wrote no `live` fields: none, not an error.
    let mut old: serde_json::Value = serde_json::from_str(&Snapshot::empty(Utc::now()).to_json()).expect("json");
    old.as_object_mut().expect("object").retain(|k, _| k != "live" && k != "live_counters");
    let read = Snapshot::parse(&old.to_string()).expect("an older format 1 snapshot");
    assert!(read.live.is_empty() && read.live_counters.is_empty());
    let mut twice = there.clone();
    twice.live.push(live(3, Done, "2026-12-18T20:03:00Z"));
    assert!(matches!(twice.check(), Err(TransferError::Duplicate { what: "live command", .. })));
}

#[tokio::test]
async fn sqlite_to_sqlite_carries_live_commands_and_the_next_command_takes_a_value_neither_side_used() {
    use crate::store::LiveState;
    let dir = tempfile::tempdir().expect("tmp");
    let from = Store::open(&dir.path().join("a.db")).expect("open");
    let f = from.test_fence("final");
    let at = t("2026-12-18T20:00:00Z");
    for _ in 0..3 {
        from.live_intent(&f, "abcd1234", "{}", "slack:U1", at).await.expect("intent");
    }
    from.live_update(&f, "abcd1234", 2, LiveState::Failed, None, Some("refused"), at).await.expect("update");
    from.live_intent(&f, "efgh5678", "{}", "slack:U1", at).await.expect("intent");
    // The counter stays above a command whose record is gone (never handed out twice).
    from.sqlite().with(|c| c.execute("DELETE FROM live_commands WHERE counter = 3", [])).expect("poke");
    from.release_lease(&f).await.expect("release");
    let a = from.export().expect("export");
    assert_eq!(a.live.len(), 3);
    assert_eq!(a.live_counters, [counter("abcd1234", 3), counter("efgh5678", 1)]);

    let to = Store::open(&dir.path().join("b.db")).expect("open");
    let n = to.import(&a).await.expect("import");
    assert_eq!((n.live.new, n.counters_raised), (3, true), "{n:?}");
    assert_eq!(Snapshot { exported_at: a.exported_at, ..to.export().expect("export") }, a);
    let again = to.import(&a).await.expect("again");
    assert_eq!((again.changed(), again.counters_raised), (0, false), "{again:?}");
    let g = to.test_fence("final");
    assert_eq!(to.live_intent(&g, "abcd1234", "{}", "cli:ops", at).await.expect("intent"), 4);
    let r = to.live_records("final", "abcd1234", 10).expect("q");
    let got: Vec<(u32, LiveState, Option<&str>)> =
        r.iter().map(|r| (r.counter, r.state, r.detail.as_deref())).collect();
    assert_eq!(
        got,
        [(4, LiveState::Intent, None), (2, LiveState::Failed, Some("refused")), (1, LiveState::Intent, None)]
    );
}
