//! One behaviour, two backends: the same scenarios, each taking a [`Store`], run on the SQLite
//! file and on DynamoDB (the emulator), each on a fresh store. A new backend proves it
//! behaves like the others by passing these. Then what only the shared backend has: several
//! daemons racing for one lease or one deployment's live-command counter, TTL, a backend
//! dropped with writes queued, bootstrap.
//!
//! The DynamoDB side runs on a current-thread runtime on purpose: the store's sync reads are
//! called from such runtimes in the daemon, and must neither panic nor deadlock there.
// `acquire_lease` answers the record that refused it: the store's interface, not this file's.
#![allow(clippy::result_large_err)]

mod common;

use std::future::IntoFuture;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use futures::future::join_all;

use ottd::lifecycle::{AlarmState, Alert, OverrideKind, Phase, Status};
use ottd::plan::Kind;
use ottd::store::alerts::Recorded;
use ottd::store::requests::{Kind as RequestKind, State};
use ottd::store::*;

const LEASE: Duration = Duration::from_secs(3600);

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
}

async fn fence(store: &Store, event: &str) -> Fence {
    let me = Holder::new("test");
    store.acquire_lease(event, &me, LEASE, None).await.expect("store").expect("a free lease").fence
}

// --- the scenarios -------------------------------------------------------------------------

async fn deployments_and_resources(store: &Store) {
    assert!(store.deployment("final").expect("q").is_none());
    assert_eq!(store.phase("final").expect("q"), None);
    let f = fence(store, "final").await;
    store.begin_deployment(&f, "abcd1234", "{\"v\":1}").await.expect("begin");
    let d = store.deployment("final").expect("q").expect("row");
    assert_eq!((d.nonce.as_str(), d.phase, d.plan_json.as_str()), ("abcd1234", Phase::Deploying, "{\"v\":1}"));
    assert_eq!(d.last_error, None);

    // Resources come back in the order they were first written, not by key.
    store.record(&f, "input", Kind::Input, "n-in", Status::Creating, None, None, None).await.expect("intent");
    let attrs = serde_json::json!({"url": "x"});
    store
        .record(&f, "input", Kind::Input, "n-in", Status::Created, Some("123"), Some("arn:1"), Some(&attrs))
        .await
        .expect("done");
    store.record(&f, "channel", Kind::Channel, "n-ch", Status::Created, Some("9876"), None, None).await.expect("ch");
    store.record(&f, "input", Kind::Input, "n-in", Status::Deleting, None, None, None).await.expect("deleting");
    let row = store.resource("final", "input").expect("q").expect("row");
    assert_eq!((row.status, row.aws_id.as_deref(), row.arn.as_deref()), (Status::Deleting, Some("123"), Some("arn:1")));
    assert_eq!(row.attr("url"), Some("x"), "a write without attrs keeps them");
    assert_eq!(store.resource("final", "channel").expect("q").expect("row").attrs, serde_json::json!({}));
    let keys: Vec<String> = store.resources("final").expect("q").into_iter().map(|r| r.key).collect();
    assert_eq!(keys, ["input", "channel"]);
    assert!(store.resource("final", "nope").expect("q").is_none());
    assert_eq!(store.event_of_channel("9876").expect("q").as_deref(), Some("final"));
    assert_eq!(store.event_of_channel("1111").expect("q"), None);

    store.update_plan(&f, "{\"v\":2}").await.expect("plan");
    assert_eq!(store.deployment("final").expect("q").expect("row").plan_json, "{\"v\":2}");
    let since = d.phase_since;
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.set_phase(&f, Phase::Running, Some("slow")).await.expect("phase");
    let d = store.deployment("final").expect("q").expect("row");
    assert_eq!((d.phase, d.last_error.as_deref()), (Phase::Running, Some("slow")));
    assert!(d.phase_since > since, "a new phase starts its clock");
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.set_phase(&f, Phase::Running, None).await.expect("same phase");
    let d2 = store.deployment("final").expect("q").expect("row");
    assert_eq!((d2.phase_since, d2.last_error), (d.phase_since, None), "the same phase keeps its clock");
    store.set_error(&f, Some("boom")).await.expect("error");
    assert_eq!(store.deployment("final").expect("q").expect("row").last_error.as_deref(), Some("boom"));
    store.set_error(&f, None).await.expect("no error");
    assert_eq!(store.deployment("final").expect("q").expect("row").last_error, None);

    for (event, phase) in [("semi", Phase::Running), ("quali", Phase::Stopped)] {
        let f = fence(store, event).await;
        store.begin_deployment(&f, "n", "{}").await.expect("begin");
        store.set_phase(&f, phase, None).await.expect("phase");
    }
    let mut of = store.phases_of(&["final", "quali", "absent"]).expect("q");
    of.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        of.iter().map(|p| (p.0.as_str(), p.1)).collect::<Vec<_>>(),
        [("final", Phase::Running), ("quali", Phase::Stopped)]
    );
    assert!(store.phases_of(&[]).expect("q").is_empty());
    assert_eq!(store.phase("semi").expect("q").map(|p| p.0), Some(Phase::Running));
    let events: Vec<String> = store.deployments().expect("q").into_iter().map(|d| d.event).collect();
    assert_eq!(events, ["final", "quali", "semi"]);

    // A new deployment forgets the old one's resources.
    store.begin_deployment(&f, "efgh5678", "{}").await.expect("again");
    assert!(store.resources("final").expect("q").is_empty());
    let d = store.deployment("final").expect("q").expect("row");
    assert_eq!((d.nonce.as_str(), d.phase), ("efgh5678", Phase::Deploying));
    assert_eq!(store.event_of_channel("9876").expect("q"), None);

    // Writes to an event with no deployment change nothing and do not fail (no row to update).
    let g = fence(store, "ghost").await;
    store.update_plan(&g, "{}").await.expect("no row");
    store.set_phase(&g, Phase::Running, None).await.expect("no row");
    store.set_error(&g, Some("x")).await.expect("no row");
    assert!(store.deployment("ghost").expect("q").is_none());
}

async fn step_log(store: &Store) {
    let f = fence(store, "final").await;
    for i in 0..5 {
        store.log_step(&f, "start", "ok", None, 1000 + i).await.expect("log");
    }
    store.log_step(&f, "start", "error", Some("boom"), 5).await.expect("log");
    store.log_step(&f, "deploy", "ok", None, 9000).await.expect("log");
    store.log_step(&fence(store, "semi").await, "start", "ok", None, 2000).await.expect("log");
    assert_eq!(store.step_durations("final", "start", 3).expect("q"), [1004, 1003, 1002], "newest first, limited");
    assert!(store.step_durations("final", "stop", 3).expect("q").is_empty());
    assert_eq!(store.prune_step_log(Utc::now() - chrono::Duration::hours(1), 2).await.expect("prune"), 0);
    assert_eq!(store.prune_step_log(Utc::now() + chrono::Duration::hours(1), 2).await.expect("prune"), 4);
    assert_eq!(store.step_durations("final", "start", 20).expect("q"), [1004, 1003], "the latest two stay");
    assert_eq!(store.step_durations("final", "deploy", 20).expect("q"), [9000]);
    assert_eq!(store.step_durations("semi", "start", 20).expect("q"), [2000]);
    store.checkpoint().await.expect("checkpoint");
}

async fn leases(store: &Store) {
    let (a, b) = (Holder::new("deploy"), Holder::new("stop"));
    assert_eq!(store.lease("final").expect("q"), None);
    let ga = store.acquire_lease("final", &a, LEASE, None).await.expect("q").expect("free");
    assert_eq!((ga.fence.term, ga.took_over.as_deref()), (1, None));
    let again = store.acquire_lease("final", &a, LEASE, None).await.expect("q").expect("mine");
    assert_eq!(again.fence.term, 1, "the holder taking it again keeps its term");
    let held = store.acquire_lease("final", &b, LEASE, None).await.expect("q").expect_err("held");
    assert_eq!((held.holder.as_str(), held.doing.as_str(), held.term), (a.id.as_str(), "deploy", 1));
    assert_eq!(held.duration_ms, 3_600_000);
    let renewed = store.renew_lease(&ga.fence).await.expect("q").expect("still a's");
    assert_ne!(renewed, held.version, "a renewal changes the version");
    assert!(
        store.acquire_lease("final", &b, LEASE, Some(&held.version)).await.expect("q").is_err(),
        "a renewal since the version was watched keeps the lease"
    );
    let gb = store.acquire_lease("final", &b, LEASE, Some(&renewed)).await.expect("q").expect("takeover");
    assert_eq!((gb.fence.term, gb.took_over.as_deref()), (2, Some(a.id.as_str())));
    assert_eq!(store.renew_lease(&ga.fence).await.expect("q"), None, "the deposed holder cannot renew");
    store.release_lease(&ga.fence).await.expect("not a's to release: no error");
    assert_eq!(store.lease("final").expect("q").expect("row").holder, b.id);
    store.release_lease(&gb.fence).await.expect("release");
    let free = store.lease("final").expect("q").expect("row");
    assert!(free.is_free());
    assert_eq!(free.term, 2, "a release keeps the term");
    assert_eq!(store.renew_lease(&gb.fence).await.expect("q"), None, "released: nothing to renew");
    let ga2 = store.acquire_lease("final", &a, LEASE, None).await.expect("q").expect("free again");
    assert_eq!((ga2.fence.term, ga2.took_over), (3, None));
    fence(store, "semi").await;
    let all: Vec<String> = store.leases().expect("q").into_iter().map(|l| l.event).collect();
    assert_eq!(all, ["final", "semi"]);
}

/// 16 contenders at once for one free lease, spread over the stores given (one store per
/// daemon); then a takeover, after which the old holder's writes are refused and change
/// nothing.
async fn lease_race(stores: &[&Store]) {
    let holders: Vec<Holder> = (0..16).map(|_| Holder::new("deploy")).collect();
    let writes: Vec<_> = holders
        .iter()
        .enumerate()
        .map(|(i, h)| stores[i % stores.len()].acquire_lease("final", h, LEASE, None))
        .collect();
    let results: Vec<_> = join_all(writes.into_iter().map(IntoFuture::into_future))
        .await
        .into_iter()
        .map(|r| r.expect("store"))
        .collect();
    let grants: Vec<&Grant> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(grants.len(), 1, "exactly one grant: {results:?}");
    let winner = grants[0].clone();
    assert_eq!(winner.fence.term, 1);
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!((r.holder.as_str(), r.term), (winner.fence.holder.as_str(), 1), "the others see the winner");
    }
    let store = stores[0];
    store.begin_deployment(&winner.fence, "abcd1234", "{}").await.expect("the holder writes");
    store.log_step(&winner.fence, "deploy", "ok", None, 10).await.expect("the holder logs");

    let seen = store.lease("final").expect("q").expect("row").version;
    let other = Holder::new("deploy");
    let taken = stores[stores.len() - 1].acquire_lease("final", &other, LEASE, Some(&seen)).await.expect("q");
    let taken = taken.expect("takeover at the version watched");
    assert_eq!((taken.fence.term, taken.took_over.as_deref()), (2, Some(winner.fence.holder.as_str())));

    let old = &winner.fence;
    let refused = [
        store.begin_deployment(old, "zzzz", "{\"stale\":true}").await,
        store.update_plan(old, "{\"stale\":true}").await,
        store.set_phase(old, Phase::Running, None).await,
        store.set_error(old, Some("stale")).await,
        store.record(old, "channel", Kind::Channel, "x", Status::Creating, None, None, None).await,
        store.log_step(old, "deploy", "ok", None, 99).await,
    ];
    for r in refused {
        let e = r.expect_err("the old term is fenced off");
        assert!(matches!(&e, StoreError::Fenced { term: 1, .. }), "{e}");
        assert!(e.to_string().contains(&format!("held by {} at term 2", other.id)), "{e}");
    }
    let d = store.deployment("final").expect("q").expect("row");
    assert_eq!(
        (d.nonce.as_str(), d.phase, d.plan_json.as_str(), d.last_error),
        ("abcd1234", Phase::Deploying, "{}", None)
    );
    assert!(store.resources("final").expect("q").is_empty(), "no resource recorded by the old term");
    assert_eq!(store.step_durations("final", "deploy", 10).expect("q"), [10], "no step logged by the old term");
    store.set_phase(&taken.fence, Phase::Deployed, None).await.expect("the new holder writes");
    assert_eq!(store.phase("final").expect("q").map(|p| p.0), Some(Phase::Deployed));
    store.release_lease(&taken.fence).await.expect("release");
    let e = store.set_phase(&taken.fence, Phase::Running, None).await.expect_err("released: fenced");
    assert!(e.to_string().contains("released at term 2"), "{e}");
    let nobody = Fence { event: "other".into(), holder: other.id.clone(), term: 2 };
    let e = store.set_error(&nobody, Some("x")).await.expect_err("no lease at all is no fence either");
    assert!(e.to_string().contains("gone"), "{e}");
}

async fn overrides(store: &Store) {
    assert_eq!(store.override_of("semi").expect("q"), None);
    let o = StoredOverride {
        event: "semi".into(),
        kind: OverrideKind::Hold,
        set_at: t("2026-11-26T10:00:00Z"),
        until: None,
        by: "cli:ops".into(),
    };
    let p = StoredOverride {
        event: "final".into(),
        kind: OverrideKind::Stop,
        until: Some(t("2026-11-27T10:00:00.250Z")),
        ..o.clone()
    };
    store.set_override(&o).await.expect("set");
    store.set_override(&p).await.expect("set");
    assert_eq!(store.override_of("semi").expect("q"), Some(o.clone()));
    assert_eq!(store.overrides().expect("q"), [p.clone(), o.clone()], "by event");
    let o2 = StoredOverride { kind: OverrideKind::Start, ..o.clone() };
    store.set_override(&o2).await.expect("replace");
    assert_eq!(store.override_of("semi").expect("q").map(|o| o.kind), Some(OverrideKind::Start));
    assert!(store.clear_override("semi").await.expect("clear"));
    assert!(!store.clear_override("semi").await.expect("clear"), "nothing left to clear");
    assert_eq!(store.overrides().expect("q"), [p]);

    assert!(store.known_windows("final").expect("q").is_empty());
    let w = KnownWindow { deploy_at: t("2026-12-18T18:00:00Z"), teardown_at: t("2026-12-18T23:00:00Z") };
    store.set_known_windows(vec![("final".into(), vec![w]), ("semi".into(), vec![])]).await.expect("windows");
    assert_eq!(store.known_windows("final").expect("q"), [w]);
    assert!(store.known_windows("semi").expect("q").is_empty());
    store.set_known_windows(vec![("final".into(), vec![w, w])]).await.expect("windows");
    assert_eq!(store.known_windows("final").expect("q").len(), 2);
}

fn entry(actor: &str, event: &str, op: &str, at: &str) -> AuditEntry {
    AuditEntry {
        at: t(at),
        actor: actor.into(),
        event: Some(event.into()),
        operation: op.into(),
        args: "{\"k\":1}".into(),
        decision: "allowed".into(),
        changes: true,
    }
}

async fn audit(store: &Store) {
    let day = |h: i64| (Utc::now() - chrono::Duration::hours(h)).to_rfc3339();
    let key = store.audit_open(&entry("cli:ops", "final", "start", &day(30)));
    let open = store.audit(None, None, true, 10).expect("q");
    assert_eq!((open.len(), open[0].result.as_deref()), (1, None), "running: no result yet");
    assert_eq!((open[0].args.clone(), open[0].instance.as_str()), (serde_json::json!({"k": 1}), instance()));
    store.audit_close(&key, AuditEnd { result: "ok", duration_ms: 1500, error: None });
    let refused = AuditEntry { decision: "refused".into(), ..entry("slack:U1", "semi", "teardown", &day(20)) };
    store.audit_record(&refused, AuditEnd { result: "refused", duration_ms: 0, error: Some("on hold".into()) });
    let all = store.audit(None, None, true, 10).expect("q");
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].result.as_deref(), all[0].duration_ms), (Some("ok"), Some(1500)));
    assert_eq!((all[1].error.as_deref(), all[1].decision.as_str()), (Some("on hold"), "refused"));
    assert!(all[0].id < all[1].id);
    assert_eq!(store.audit(Some("semi"), None, true, 10).expect("q").len(), 1);
    let since = Utc::now() - chrono::Duration::hours(25);
    assert_eq!(store.audit(None, Some(since), true, 10).expect("q")[0].event.as_deref(), Some("semi"));
    assert_eq!(store.audit(None, None, true, 1).expect("q")[0].id, all[1].id, "the latest, when limited");
    let read = AuditEntry { changes: false, operation: "status".into(), ..entry("cli:ops", "final", "x", &day(10)) };
    store.audit_record(&read, AuditEnd { result: "ok", duration_ms: 3, error: None });
    assert_eq!(store.audit(None, None, false, 10).expect("q").len(), 2, "reads hidden unless asked");
    assert_eq!(store.audit(None, None, true, 10).expect("q").len(), 3);

    // A row refused when its turn came.
    let queued =
        store.audit_open(&AuditEntry { decision: "queued".into(), ..entry("schedule", "quali", "deploy", &day(5)) });
    store.audit_refuse(&queued, AuditEnd { result: "refused", duration_ms: 0, error: Some("hold".into()) });
    let q = store.audit(Some("quali"), None, true, 10).expect("q");
    assert_eq!((q[0].decision.as_str(), q[0].result.as_deref()), ("refused", Some("refused")));

    // Open then close of many keys, all detached: each close finds its row.
    let keys: Vec<AuditKey> =
        (0..40).map(|i| store.audit_open(&entry("cli:ops", &format!("ev-{i}"), "start", &day(1)))).collect();
    for k in &keys {
        store.audit_close(k, AuditEnd { result: "ok", duration_ms: 7, error: None });
    }
    let rows = store.audit(None, Some(Utc::now() - chrono::Duration::hours(2)), true, 100).expect("q");
    assert_eq!(rows.len(), 40);
    assert!(rows.iter().all(|r| r.result.as_deref() == Some("ok") && r.duration_ms == Some(7)), "every close applied");
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id), "oldest first");

    // What the recovery breaker counts: recovery's changes, not its refusals or reads.
    let now = Utc::now();
    for (decision, changes) in [("allowed", true), ("refused", true), ("allowed", false)] {
        let e = AuditEntry {
            decision: decision.into(),
            changes,
            ..entry("recovery", "final", "restart", &now.to_rfc3339())
        };
        store.audit_record(&e, AuditEnd { result: "ok", duration_ms: 1, error: None });
    }
    let acts = store.recovery_actions("final", now - chrono::Duration::minutes(1)).await.expect("q");
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert!(store.recovery_actions("semi", now - chrono::Duration::minutes(1)).await.expect("q").is_empty());

    assert_eq!(store.prune_audit(Utc::now() - chrono::Duration::hours(15)).await.expect("prune"), 2);
    assert_eq!(store.audit(None, None, true, 100).expect("q").len(), 47 - 2);
}

fn alert(state: AlarmState) -> Alert {
    Alert {
        state,
        alarm_id: "a1".into(),
        alert_type: "Failed to Write to Output".into(),
        pipeline: 1,
        message: "403".into(),
    }
}

async fn alerts(store: &Store) {
    let rec = |id: &'static str, time: &'static str, state| async move {
        store.record_alert(id, t(time), "final", "123", &alert(state)).await.expect("record")
    };
    let opened = rec("e1", "2026-12-18T20:00:00Z", AlarmState::Set).await;
    let Recorded::Opened { id } = opened else { panic!("{opened:?}") };
    assert_eq!(rec("e1", "2026-12-18T20:00:00Z", AlarmState::Set).await, Recorded::Duplicate);
    assert_eq!(rec("e2", "2026-12-18T20:00:05Z", AlarmState::Set).await, Recorded::StillOpen { id });
    assert_eq!(rec("e0", "2026-12-18T19:59:00Z", AlarmState::Cleared).await, Recorded::Stale, "older than recorded");
    assert_eq!(
        rec("e0", "2026-12-18T19:59:00Z", AlarmState::Cleared).await,
        Recorded::Duplicate,
        "a stale one is noted"
    );
    assert_eq!(store.alerts(Some("final"), false).expect("q").len(), 1);
    assert_eq!(rec("e3", "2026-12-18T20:00:20Z", AlarmState::Cleared).await, Recorded::Cleared { id });
    assert!(store.alerts(Some("final"), false).expect("q").is_empty(), "closed");
    assert_eq!(rec("e3b", "2026-12-18T20:00:20Z", AlarmState::Cleared).await, Recorded::AlreadyCleared { id });
    let again = rec("e4", "2026-12-18T21:00:00Z", AlarmState::Set).await;
    assert!(matches!(again, Recorded::Opened { id: n } if n > id), "the same alarm id later is a new alert");
    let other = Alert { alarm_id: "b2".into(), ..alert(AlarmState::Cleared) };
    let unseen = store.record_alert("e5", t("2026-12-18T21:00:00Z"), "semi", "456", &other).await.expect("record");
    assert!(matches!(unseen, Recorded::ClearedUnseen { .. }), "{unseen:?}");
    let all = store.alerts(None, true).expect("q");
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    assert_eq!((all[0].set_at, all[0].cleared_at), (t("2026-12-18T20:00:00Z"), Some(t("2026-12-18T20:00:20Z"))));
    assert_eq!((all[2].event.as_str(), all[2].pipeline, all[2].alarm_id.as_str()), ("semi", 1, "b2"));
    assert_eq!(store.alerts(Some("semi"), true).expect("q").len(), 1);
    let open_id = all[1].id;

    assert!(store.ack_alert(open_id, "cli:ops").await.expect("ack"));
    assert!(!store.ack_alert(999, "cli:ops").await.expect("ack"), "no such alert");
    assert_eq!(store.alert(open_id).expect("q").and_then(|a| a.acked_by).as_deref(), Some("cli:ops"));
    assert_eq!(store.alert(999).expect("q"), None);

    // Undecided: not told, or open and not acted on, or cleared after an action and not told.
    assert_eq!(store.events_with_undecided_alerts().expect("q"), ["final", "semi"]);
    for a in &all {
        assert!(store.alert_notified(a.id).await.expect("told"), "the first claim to tell wins");
        assert!(!store.alert_notified(a.id).await.expect("told"), "a second claim to tell loses");
    }
    assert!(!store.alert_notified(999).await.expect("no such alert: nothing"));
    assert!(store.alert(999).expect("q").is_none(), "an update of no alert makes none");
    assert_eq!(store.events_with_undecided_alerts().expect("q"), ["final"], "final's second alert is open");
    assert!(store.alert_acted(open_id, "restart", t("2026-12-18T21:01:00Z")).await.expect("acted"));
    assert!(
        !store.alert_acted(open_id, "restart-again", t("2026-12-18T21:02:00Z")).await.expect("acted"),
        "one claimant acts"
    );
    assert!(store.events_with_undecided_alerts().expect("q").is_empty());
    let a = store.alert(open_id).expect("q").expect("row");
    assert_eq!((a.action.as_deref(), a.acted_at), (Some("restart"), Some(t("2026-12-18T21:01:00Z"))));

    // The channel is gone: its open alerts close, told.
    assert_eq!(store.close_alerts_of("final", t("2026-12-18T22:00:00Z")).await.expect("close"), 1);
    assert_eq!(store.close_alerts_of("final", t("2026-12-18T22:00:00Z")).await.expect("close"), 0);
    let a = store.alert(open_id).expect("q").expect("row");
    assert_eq!((a.cleared_at, a.cleared_notified), (Some(t("2026-12-18T22:00:00Z")), true));
    assert!(store.alert_cleared_notified(all[0].id).await.expect("told"));
    assert!(!store.alert_cleared_notified(all[0].id).await.expect("told"), "told it cleared once");
    assert!(store.alert(all[0].id).expect("q").expect("row").cleared_notified);

    assert!(store.first_sight("state-1").await.expect("first"));
    assert!(!store.first_sight("state-1").await.expect("again"));
    assert!(!store.first_sight("e1").await.expect("an alert's envelope too"));

    store.quarantine("sqs:1", "{bad", "not JSON").await.expect("q");
    store.quarantine("sqs:1", "{bad", "not JSON").await.expect("a redelivery");
    store.quarantine("sqs:2", "x", "y").await.expect("q");
    assert_eq!(store.quarantined().expect("q"), 2);

    // Everything here is from before then: closed alerts, envelopes and quarantine all go.
    let before = (Utc::now() + chrono::Duration::hours(1)).max(t("2026-12-19T00:00:00Z"));
    let pruned = store.prune_alerts(before).await.expect("prune");
    assert_eq!(pruned, 3 + 8 + 2, "3 closed alerts, 8 envelopes, 2 quarantined");
    assert!(store.alerts(None, true).expect("q").is_empty());
    assert_eq!(store.quarantined().expect("q"), 0);
    assert!(store.first_sight("state-1").await.expect("pruned: new again"));
    let fresh = rec("e6", "2026-12-18T23:00:00Z", AlarmState::Set).await;
    assert!(matches!(fresh, Recorded::Opened { .. }), "the pruned alert no longer counts: {fresh:?}");
}

async fn requests(store: &Store) {
    let now = t("2026-12-01T10:00:00Z");
    let later = now + chrono::Duration::minutes(15);
    let id = store
        .request_open(RequestKind::Approve, "slack:UA", &["S1".to_string()], "slack:C1", "teardown final", now, later)
        .await
        .expect("open");
    let r = store.request(id).expect("read").expect("row");
    assert_eq!((r.kind, r.state, r.command.as_str()), (RequestKind::Approve, State::Pending, "teardown final"));
    assert_eq!(
        (r.requester.as_str(), r.channel.as_str(), r.created_at, r.expires_at),
        ("slack:UA", "slack:C1", now, later)
    );
    assert_eq!(store.request_groups(id).expect("groups"), ["S1"]);
    assert!(store.request_groups(id + 100).expect("groups").is_empty());
    let id2 = store
        .request_open(RequestKind::Confirm, "slack:UB", &[], "slack:C1", "stop semi", later, later)
        .await
        .expect("open");
    assert!(id2 > id);
    assert!(store.request_settle(id, State::Done, "slack:UB", now).await.expect("settle"));
    assert!(!store.request_settle(id, State::Rejected, "slack:UC", now).await.expect("again"), "settled once");
    assert!(!store.request_settle(id + 100, State::Done, "slack:UC", now).await.expect("none"), "no such request");
    let r = store.request(id).expect("read").expect("row");
    assert_eq!((r.state, r.decided_by.as_deref()), (State::Done, Some("slack:UB")));
    assert_eq!(store.request(id + 100).expect("read"), None);
    assert_eq!(store.requests_prune(now + chrono::Duration::minutes(1)).await.expect("prune"), 1);
    assert!(store.request(id).expect("read").is_none());
    assert!(store.request(id2).expect("read").is_some());
}

async fn seen(store: &Store) {
    let now = Utc::now();
    assert!(store.first_sighting("slack:sig:v0=ab", now).await.expect("first"));
    assert!(!store.first_sighting("slack:sig:v0=ab", now).await.expect("again"), "a replay");
    assert!(store.sighted("slack:sig:v0=ab").expect("read"));
    assert!(!store.sighted("discord:1").expect("read"));
    // Two copies at once: exactly one is first.
    let both =
        join_all([store.first_sighting("sns:1", now).into_future(), store.first_sighting("sns:1", now).into_future()])
            .await;
    assert_eq!(both.into_iter().filter(|r| matches!(r, Ok(true))).count(), 1);
    let day = chrono::Duration::days(1);
    assert_eq!(store.sightings_prune(now + day).await.expect("prune"), 0, "kept for a day");
    assert_eq!(store.sightings_prune(now + day + chrono::Duration::seconds(1)).await.expect("prune"), 2);
    assert!(!store.sighted("slack:sig:v0=ab").expect("read"));
}

async fn meta_and_flush(store: &Store) {
    assert_eq!(store.meta("roles.medialive").expect("q"), None);
    store.set_meta("roles.medialive", "arn:1").await.expect("set");
    store.set_meta("roles.medialive", "arn:2").await.expect("set");
    assert_eq!(store.meta("roles.medialive").expect("q").as_deref(), Some("arn:2"));
    // 500 writes nobody waits for, then a flush: every one is there.
    for i in 0..500 {
        store.set_meta(&format!("k{i}"), &format!("v{i}")).detach();
    }
    store.set_meta("k7", "last").detach();
    store.flush().await.expect("flush");
    for i in (0..500).step_by(7) {
        let want = if i == 7 { "last".to_string() } else { format!("v{i}") };
        assert_eq!(store.meta(&format!("k{i}")).expect("q"), Some(want), "k{i}, in the order written");
    }
    assert_eq!(store.meta("k499").expect("q").as_deref(), Some("v499"));
    // Set once: the first value stands, and of two racing writers both get the winner's.
    assert_eq!(store.meta_or_insert("preview.token.final", "t1").await.expect("insert"), "t1");
    assert_eq!(store.meta_or_insert("preview.token.final", "t2").await.expect("kept"), "t1");
    let both = join_all([
        store.meta_or_insert("preview.token.semi", "a").into_future(),
        store.meta_or_insert("preview.token.semi", "b").into_future(),
    ])
    .await;
    let got: Vec<String> = both.into_iter().map(|r| r.expect("insert")).collect();
    assert_eq!(got[0], got[1], "both racers see one value: {got:?}");
    assert_eq!(store.meta("preview.token.semi").expect("q").as_ref(), Some(&got[0]));
}

async fn live(store: &Store) {
    let (f, g) = (fence(store, "final").await, fence(store, "semi").await);
    let at = t("2026-12-18T20:00:00Z");
    let take = |f: &Fence, nonce: &'static str| {
        let f = f.clone();
        async move { store.live_intent(&f, nonce, "{\"kind\":\"break\"}", "slack:U1", at).await.expect("intent") }
    };
    assert_eq!([take(&f, "abcd1234").await, take(&f, "abcd1234").await, take(&f, "abcd1234").await], [1, 2, 3]);
    assert_eq!(take(&f, "efgh5678").await, 1, "a new deployment counts from 1");
    assert_eq!(take(&g, "abcd1234").await, 1, "another event counts on its own");
    let r = store.live_records("final", "abcd1234", 1).expect("q").remove(0);
    assert_eq!(
        r,
        LiveRecord {
            event: "final".into(),
            nonce: "abcd1234".into(),
            counter: 3,
            state: LiveState::Intent,
            body: "{\"kind\":\"break\"}".into(),
            by: "slack:U1".into(),
            at,
            updated_at: at,
            detail: None,
        }
    );

    // The outcome: state and updated_at always, body and detail when given.
    let later = t("2026-12-18T20:00:02.5Z");
    store.live_update(&f, "abcd1234", 2, LiveState::Sent, None, None, later).await.expect("sent");
    let body = "{\"kind\":\"break\",\"seconds\":30}";
    store
        .live_update(&f, "abcd1234", 3, LiveState::Failed, Some(body), Some("refused: overlaps"), later)
        .await
        .expect("x");
    store.live_update(&f, "abcd1234", 3, LiveState::Failed, None, None, later).await.expect("again");
    let rows = store.live_records("final", "abcd1234", 10).expect("q");
    let got: Vec<_> =
        rows.iter().map(|r| (r.counter, r.state, r.body.as_str(), r.detail.as_deref(), r.updated_at)).collect();
    assert_eq!(
        got,
        [
            (3, LiveState::Failed, body, Some("refused: overlaps"), later),
            (2, LiveState::Sent, "{\"kind\":\"break\"}", None, later),
            (1, LiveState::Intent, "{\"kind\":\"break\"}", None, at),
        ],
        "newest first"
    );
    let counters = |limit| -> Vec<u32> {
        store.live_records("final", "abcd1234", limit).expect("q").iter().map(|r| r.counter).collect()
    };
    assert_eq!(counters(2), [3, 2], "at most the limit");
    assert!(counters(0).is_empty());
    assert!(store.live_records("final", "nope", 10).expect("q").is_empty());

    // A command never recorded: an error, and nothing written.
    for (nonce, counter) in [("abcd1234", 4), ("nope", 1)] {
        let e = store.live_update(&f, nonce, counter, LiveState::Done, None, None, later).await.expect_err("unknown");
        assert!(matches!(&e, StoreError::Corrupt { what: "live command", .. }), "{e}");
    }
    assert_eq!(counters(10), [3, 2, 1]);
    assert!(store.live_records("final", "nope", 10).expect("q").is_empty());

    // A holder whose lease moved on writes nothing and takes no value.
    let seen = store.lease("final").expect("q").expect("row").version;
    let new = store.acquire_lease("final", &Holder::new("live"), LEASE, Some(&seen)).await.expect("q");
    let new = new.expect("taken over").fence;
    let e = store.live_intent(&f, "abcd1234", "{}", "slack:U1", at).await.expect_err("fenced");
    assert!(matches!(&e, StoreError::Fenced { .. }), "{e}");
    let e = store.live_update(&f, "abcd1234", 1, LiveState::Done, None, None, later).await.expect_err("fenced");
    assert!(matches!(&e, StoreError::Fenced { .. }), "{e}");
    assert_eq!(store.live_records("final", "abcd1234", 10).expect("q")[2].state, LiveState::Intent);
    assert_eq!(take(&new, "abcd1234").await, 4, "the next holder goes on with no gap");
}

/// Two stores (two daemons) on one state take values of one deployment's counter at once.
/// Both present the same fence: two holders cannot hold one lease at once, but a fence is
/// only data, so the two writes are truly concurrent against one valid lease and the counter
/// alone must keep them apart (on DynamoDB, two compare-and-set transactions racing; on
/// SQLite, two writers on one file). One gets 1, the other 2; then a crowd of six more over
/// both stores gets 3 to 8, each once.
async fn live_race(stores: &[&Store]) {
    let f = fence(stores[0], "final").await;
    let at = Utc::now();
    let take = |i: usize| stores[i % stores.len()].live_intent(&f, "abcd1234", "{}", &format!("racer-{i}"), at);
    let mut first: Vec<u32> =
        join_all((0..2).map(|i| take(i).into_future())).await.into_iter().map(|r| r.expect("take")).collect();
    first.sort_unstable();
    assert_eq!(first, [1, 2]);
    let mut crowd: Vec<u32> =
        join_all((2..8).map(|i| take(i).into_future())).await.into_iter().map(|r| r.expect("take")).collect();
    crowd.sort_unstable();
    assert_eq!(crowd, [3, 4, 5, 6, 7, 8]);
    for store in stores {
        let rows = store.live_records("final", "abcd1234", 100).expect("q");
        assert_eq!(rows.iter().map(|r| r.counter).collect::<Vec<_>>(), [8, 7, 6, 5, 4, 3, 2, 1], "each value once");
        let mut by: Vec<&str> = rows.iter().map(|r| r.by.as_str()).collect();
        by.sort_unstable();
        by.dedup();
        assert_eq!(by.len(), 8, "each value went to one racer: {by:?}");
    }
}

/// Every scenario above, each on a fresh store from `open`.
macro_rules! every_scenario {
    ($open:expr) => {{
        let started = std::time::Instant::now();
        deployments_and_resources(&$open("deployments").await).await;
        step_log(&$open("steps").await).await;
        leases(&$open("leases").await).await;
        overrides(&$open("overrides").await).await;
        audit(&$open("audit").await).await;
        alerts(&$open("alerts").await).await;
        requests(&$open("requests").await).await;
        seen(&$open("seen").await).await;
        meta_and_flush(&$open("meta").await).await;
        live(&$open("live").await).await;
        eprintln!("scenarios took {:?}", started.elapsed());
    }};
}

// --- SQLite ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_behaves_as_the_store_should() {
    let dir = tempfile::tempdir().expect("tmp");
    let open = |name: &str| {
        let path = dir.path().join(format!("{name}.db"));
        async move { Store::open(&path).expect("open") }
    };
    every_scenario!(open);
    let path = dir.path().join("race.db");
    let stores: Vec<Store> = (0..4).map(|_| Store::open(&path).expect("open")).collect();
    lease_race(&stores.iter().collect::<Vec<_>>()).await;
    let path = dir.path().join("live-race.db");
    let stores: Vec<Store> = (0..2).map(|_| Store::open(&path).expect("open")).collect();
    live_race(&stores.iter().collect::<Vec<_>>()).await;
}

// --- DynamoDB ---------------------------------------------------------------------------------

async fn aws(url: &str) -> SdkConfig {
    let creds = aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test");
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await
}

async fn dynamo(conf: &SdkConfig, table: &str) -> Store {
    assert!(ottd::store::dynamo::create_table(conf, table).await.expect("create table"), "a new table");
    Store::open_dynamo(conf, table).await.expect("open")
}

#[tokio::test]
async fn dynamodb_behaves_as_the_store_should() {
    let emu = common::Emulator::start();
    let conf = aws(&emu.url).await;
    let open = |name: &str| {
        let (conf, table) = (conf.clone(), format!("ottd-{name}"));
        async move { dynamo(&conf, &table).await }
    };
    every_scenario!(open);
}

#[tokio::test]
async fn dynamodb_daemons_race_for_a_lease_and_the_loser_is_fenced() {
    let emu = common::Emulator::start();
    let conf = aws(&emu.url).await;
    let first = dynamo(&conf, "ottd").await;
    // Four daemons: four backends, each with its own runtime and write lanes.
    let mut stores = vec![first];
    for _ in 0..3 {
        stores.push(Store::open_dynamo(&conf, "ottd").await.expect("open"));
    }
    lease_race(&stores.iter().collect::<Vec<_>>()).await;
}

#[tokio::test]
async fn dynamodb_daemons_take_live_counter_values_at_once_and_never_the_same() {
    let emu = common::Emulator::start();
    let conf = aws(&emu.url).await;
    let stores = [dynamo(&conf, "ottd").await, Store::open_dynamo(&conf, "ottd").await.expect("open")];
    live_race(&stores.iter().collect::<Vec<_>>()).await;
}

#[tokio::test]
async fn dynamodb_treats_expired_items_as_gone_and_keeps_writes_queued_at_drop() {
    let emu = common::Emulator::start();
    let conf = aws(&emu.url).await;
    let store = dynamo(&conf, "ottd").await;
    assert!(!ottd::store::dynamo::create_table(&conf, "ottd").await.expect("again"), "already there");

    // TTL deletes late (or, on the emulator, never): an item past its expires_at is gone.
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let poke = |pk: &str, sk: &str| {
        client
            .put_item()
            .table_name("ottd")
            .item("pk", AttributeValue::S(pk.into()))
            .item("sk", AttributeValue::S(sk.into()))
            .item("at", AttributeValue::S("2026-01-01T00:00:00.000Z".into()))
            .item("expires_at", AttributeValue::N((Utc::now().timestamp() - 60).to_string()))
            .send()
    };
    poke("SEEN", "slack:old").await.expect("poke");
    poke("ENVELOPE", "env-old").await.expect("poke");
    assert!(!store.sighted("slack:old").expect("read"), "expired: not sighted");
    assert!(store.first_sighting("slack:old", Utc::now()).await.expect("first"), "expired: first again");
    assert!(store.sighted("slack:old").expect("read"));
    assert!(!store.first_sighting("slack:old", Utc::now()).await.expect("again"));
    assert!(store.first_sight("env-old").await.expect("first"), "an expired envelope is new");
    let recorded = store.record_alert("env-old", Utc::now(), "final", "123", &alert(AlarmState::Set)).await;
    assert_eq!(recorded.expect("record"), Recorded::Duplicate, "the envelope is live again");

    // Writes queued when the backend is dropped are applied before the drop returns.
    for i in 0..200 {
        store.set_meta(&format!("queued-{i}"), "yes").detach();
    }
    let key = store.audit_open(&entry("cli:ops", "final", "start", &Utc::now().to_rfc3339()));
    store.audit_close(&key, AuditEnd { result: "ok", duration_ms: 1, error: None });
    drop(store);
    let again = Store::open_dynamo(&conf, "ottd").await.expect("reopen");
    for i in (0..200).step_by(13) {
        assert_eq!(again.meta(&format!("queued-{i}")).expect("q").as_deref(), Some("yes"), "queued-{i}");
    }
    assert_eq!(again.meta("queued-199").expect("q").as_deref(), Some("yes"));
    let rows = again.audit(Some("final"), None, true, 10).expect("q");
    assert_eq!(rows.iter().map(|r| r.result.as_deref()).collect::<Vec<_>>(), [Some("ok")]);

    // No table: a clear error that says what to do.
    let missing = Store::open_dynamo(&conf, "nope").await.err().expect("no table");
    assert!(matches!(&missing, StoreError::Dynamo { table, .. } if table == "nope"), "{missing}");
    assert!(missing.to_string().contains("ottd bootstrap"), "{missing}");
}

/// The SDK sends a `ClientRequestToken` with every transaction and the same one on its retries
/// (the emulator honours it, as DynamoDB does): a transaction applied whose answer was lost is
/// not applied twice. Here that matters: applied again, the alert's envelope would already be
/// there and the alert would come back a duplicate.
#[tokio::test]
async fn dynamodb_a_transaction_whose_answer_was_lost_is_retried_safely() {
    let emu = common::Emulator::start();
    let conf = aws(&emu.url).await;
    assert!(ottd::store::dynamo::create_table(&conf, "ottd").await.expect("create"));
    let proxy = common::Proxy::start_args(&emu.url, &["--lose", "TransactWriteItems=1"]);
    let store = Store::open_dynamo(&aws(&proxy.url).await, "ottd").await.expect("open");
    let opened = store.record_alert("env-1", Utc::now(), "final", "123", &alert(AlarmState::Set)).await;
    assert!(matches!(opened, Ok(Recorded::Opened { .. })), "{opened:?}");
    assert!(proxy.log().contains("lost the answer"), "the first answer was lost: {}", proxy.log());
    assert_eq!(store.alerts(None, true).expect("q").len(), 1);
}

// --- moving the state between backends (`ottd state export` / `import`) ---------------------

/// Every kind of record a store keeps, written through the store's own interface, as a box
/// that ran for a while leaves it; its leases released (the daemon stopped).
async fn fill(store: &Store) {
    let f = fence(store, "final").await;
    store.begin_deployment(&f, "abcd1234", "{\"v\":1}").await.expect("begin");
    let attrs = serde_json::json!({"url": "https://example.com/final/index.m3u8", "etag": "E1"});
    store
        .record(&f, "input", Kind::Input, "ottd-final-in", Status::Created, Some("123"), Some("arn:in"), Some(&attrs))
        .await
        .expect("input");
    store
        .record(&f, "channel", Kind::Channel, "ottd-final-ch", Status::Created, Some("9876"), Some("arn:ch"), None)
        .await
        .expect("channel");
    store
        .record(&f, "distribution", Kind::Distribution, "d", Status::Creating, None, None, None)
        .await
        .expect("intent");
    store.set_phase(&f, Phase::Running, Some("slow start")).await.expect("phase");
    for (i, step) in ["input", "channel", "start", "start"].into_iter().enumerate() {
        store.log_step(&f, step, "ok", None, 1000 + i as u128).await.expect("step");
    }
    store.log_step(&f, "start", "error", Some("throttled"), 5).await.expect("step");
    let live_at = t("2026-12-18T20:10:00Z");
    for kind in ["break", "back", "switch"] {
        let body = format!("{{\"kind\":\"{kind}\"}}");
        store.live_intent(&f, "abcd1234", &body, "slack:U1", live_at).await.expect("live intent");
    }
    let done = t("2026-12-18T20:10:03Z");
    store.live_update(&f, "abcd1234", 1, LiveState::Done, None, Some("in the schedule"), done).await.expect("done");
    store.live_update(&f, "abcd1234", 2, LiveState::Sent, None, None, done).await.expect("sent");
    store.release_lease(&f).await.expect("release");
    let g = fence(store, "semi").await;
    store.begin_deployment(&g, "efgh5678", "{}").await.expect("begin");
    store.set_phase(&g, Phase::Stopped, None).await.expect("phase");
    store.log_step(&g, "stop", "ok", None, 300).await.expect("step");
    store.release_lease(&g).await.expect("release");

    let hold = StoredOverride {
        event: "semi".into(),
        kind: OverrideKind::Hold,
        set_at: t("2026-12-01T10:00:00.125Z"),
        until: Some(t("2026-12-20T10:00:00Z")),
        by: "cli:ops".into(),
    };
    store.set_override(&hold).await.expect("override");
    let w = KnownWindow { deploy_at: t("2026-12-18T18:00:00Z"), teardown_at: t("2026-12-18T23:00:00Z") };
    store.set_known_windows(vec![("final".into(), vec![w])]).await.expect("windows");
    store.set_meta("roles.medialive", "arn:aws:iam::1:role/ml").await.expect("meta");
    store.set_meta("alerts.queue_url", "https://sqs/q").await.expect("meta");

    let now = Utc::now();
    let at = |h: i64| (now - chrono::Duration::hours(h)).to_rfc3339();
    let k = store.audit_open(&entry("cli:ops", "final", "deploy", &at(3)));
    store.audit_close(&k, AuditEnd { result: "ok", duration_ms: 1500, error: None });
    let refused = AuditEntry { decision: "refused".into(), ..entry("slack:U1", "semi", "teardown", &at(2)) };
    store.audit_record(&refused, AuditEnd { result: "refused", duration_ms: 0, error: Some("on hold".into()) });
    let read = AuditEntry { changes: false, ..entry("cli:ops", "final", "status", &at(1)) };
    store.audit_record(&read, AuditEnd { result: "ok", duration_ms: 2, error: None });
    store.audit_open(&entry("schedule", "final", "start", &at(0)));

    let rec = |env: &'static str, time: &'static str, alarm: &'static str, state| async move {
        let a = Alert { alarm_id: alarm.into(), ..alert(state) };
        store.record_alert(env, t(time), "final", "9876", &a).await.expect("record")
    };
    let Recorded::Opened { id: open } = rec("e1", "2026-12-18T20:00:00Z", "a1", AlarmState::Set).await else {
        panic!("a new alert")
    };
    assert!(store.alert_notified(open).await.expect("told"));
    assert!(store.ack_alert(open, "cli:ops").await.expect("ack"));
    let Recorded::Opened { id: acted } = rec("e2", "2026-12-18T20:01:00Z", "b2", AlarmState::Set).await else {
        panic!("a new alert")
    };
    assert!(store.alert_notified(acted).await.expect("told"));
    assert!(store.alert_acted(acted, "restart", t("2026-12-18T20:02:00Z")).await.expect("acted"));
    assert!(matches!(rec("e3", "2026-12-18T20:05:00Z", "b2", AlarmState::Cleared).await, Recorded::Cleared { .. }));
    assert!(store.alert_cleared_notified(acted).await.expect("told cleared"));
    assert!(matches!(
        rec("e4", "2026-12-18T20:06:00Z", "c3", AlarmState::Cleared).await,
        Recorded::ClearedUnseen { .. }
    ));
    assert!(store.first_sight("state-change-1").await.expect("first"));
    store.quarantine("sqs:1", "{bad", "not JSON").await.expect("quarantine");

    let when = t("2026-12-01T10:00:00Z");
    let later = when + chrono::Duration::minutes(15);
    let cmd = "teardown final";
    let pending = store.request_open(RequestKind::Approve, "slack:UA", &["S1".into()], "slack:C1", cmd, when, later);
    pending.await.expect("open");
    let done = store.request_open(RequestKind::Confirm, "slack:UB", &[], "slack:C1", "stop semi", when, later);
    let done = done.await.expect("open");
    assert!(store.request_settle(done, State::Done, "slack:UB", when).await.expect("settle"));
    assert!(store.first_sighting("slack:sig:v0=ab", now).await.expect("first"));
}

/// A snapshot as compared: the same records, whenever taken.
fn records(s: Snapshot) -> Snapshot {
    Snapshot { exported_at: DateTime::UNIX_EPOCH, ..s }
}

fn how_many(s: &Snapshot) -> usize {
    s.deployments.len()
        + s.resources.len()
        + s.steps.len()
        + s.overrides.len()
        + s.known_windows.len()
        + s.meta.len()
        + s.audit.len()
        + s.alerts.len()
        + s.requests.len()
        + s.seen.len()
        + s.envelopes.len()
        + s.quarantine.len()
        + s.live.len()
}

/// Fill `from`, move everything to `to` (fresh), and check `to` holds the same records and
/// goes on from them: exported again it is the same snapshot, a second import changes
/// nothing, new ids come after the imported ones, the indexes (alert keys, channels, dedupe
/// keys) answer as they did at the source.
async fn moved(from: &Store, to: &Store) {
    fill(from).await;
    let a = from.export().expect("export");
    for (what, n) in [
        ("deployments", a.deployments.len()),
        ("resources", a.resources.len()),
        ("steps", a.steps.len()),
        ("overrides", a.overrides.len()),
        ("windows", a.known_windows.len()),
        ("meta", a.meta.len()),
        ("audit", a.audit.len()),
        ("alerts", a.alerts.len()),
        ("requests", a.requests.len()),
        ("seen", a.seen.len()),
        ("envelopes", a.envelopes.len()),
        ("quarantine", a.quarantine.len()),
        ("live commands", a.live.len()),
        ("live counters", a.live_counters.len()),
    ] {
        assert!(n > 0, "the source has {what}: {}", a.to_json());
    }
    assert!(a.audit.iter().any(|r| r.result.is_none()) && a.audit.iter().any(|r| !r.changes), "open rows, reads");

    let n = to.import(&a).await.expect("import");
    assert_eq!((n.total().new, n.total().unchanged, n.total().kept), (how_many(&a), 0, 0), "{n:?}");
    let b = to.export().expect("export");
    assert_eq!(records(b.clone()), records(a.clone()), "the same records, ids and instants at the destination");

    let again = to.import(&a).await.expect("again");
    assert_eq!((again.changed(), again.total().unchanged), (0, how_many(&a)), "{again:?}");
    assert!(!again.counters_raised);
    assert_eq!(records(to.export().expect("export")), records(b), "a second import changes nothing");

    // The destination goes on from the imported records.
    let a1 = a.alerts.iter().find(|x| x.alarm_id == "a1").expect("a1").id;
    let later = Alert { alarm_id: "a1".into(), ..alert(AlarmState::Set) };
    let still = to.record_alert("e-after", t("2026-12-18T21:00:00Z"), "final", "9876", &later).await.expect("record");
    assert_eq!(still, Recorded::StillOpen { id: a1 }, "the alert key's latest alert came along");
    let fresh = Alert { alarm_id: "z9".into(), ..alert(AlarmState::Set) };
    let opened = to.record_alert("e-new", t("2026-12-18T21:00:00Z"), "final", "9876", &fresh).await.expect("record");
    let top_alert = a.alerts.iter().map(|x| x.id).max().unwrap_or(0).max(a.counters.alert);
    assert!(matches!(opened, Recorded::Opened { id } if id > top_alert), "{opened:?} after {top_alert}");
    let when = t("2026-12-02T10:00:00Z");
    let id = to.request_open(RequestKind::Confirm, "slack:UC", &[], "slack:C1", "start final", when, when).await;
    let top_request = a.requests.iter().map(|x| x.id).max().unwrap_or(0).max(a.counters.request);
    assert!(id.expect("open") > top_request);
    to.audit_record(
        &entry("cli:ops", "final", "status", &Utc::now().to_rfc3339()),
        AuditEnd { result: "ok", duration_ms: 1, error: None },
    );
    let last = to.audit(None, None, true, 1).expect("q");
    let top_audit = a.audit.iter().map(|x| x.id).max().unwrap_or(0);
    assert!(last[0].id > top_audit && last[0].operation == "status", "{last:?} after {top_audit}");
    assert!(!to.first_sight("state-change-1").await.expect("seen"), "an envelope taken at the source");
    assert!(!to.first_sighting("slack:sig:v0=ab", Utc::now()).await.expect("seen"), "a request taken at the source");
    assert_eq!(to.event_of_channel("9876").expect("q").as_deref(), Some("final"));
    assert_eq!(
        to.step_durations("final", "start", 5).expect("q"),
        from.step_durations("final", "start", 5).expect("q")
    );
    assert_eq!(to.lease("final").expect("q"), None, "leases are not carried");

    // Live commands came along, and the deployment's counter goes on after the highest value.
    assert_eq!(
        to.live_records("final", "abcd1234", 10).expect("q"),
        from.live_records("final", "abcd1234", 10).expect("q")
    );
    let top_live = a.live_counters.iter().find(|c| c.event == "final" && c.nonce == "abcd1234").expect("counter").last;
    assert_eq!(top_live, 3);
    let f = fence(to, "final").await;
    let next = to.live_intent(&f, "abcd1234", "{}", "cli:ops", Utc::now()).await.expect("intent");
    assert_eq!(next, top_live + 1, "no value taken at the source is taken again");
    to.release_lease(&f).await.expect("release");
}

/// An import into a store where a daemon holds one of the snapshot's events is refused,
/// naming the event and the holder, and writes nothing.
async fn refused_while_leased(to: &Store, snapshot: &Snapshot) {
    let holder = Holder::new("deploy");
    to.acquire_lease("semi", &holder, LEASE, None).await.expect("q").expect("free");
    let before = to.export().expect("export");
    let e = to.import(snapshot).await.expect_err("semi is leased");
    assert!(
        matches!(&e, TransferError::LeaseHeld(held) if held.len() == 1 && held[0].event == "semi" && held[0].holder == holder.id),
        "{e}"
    );
    assert!(
        e.to_string().contains(&format!("event semi is in use: its lease is held by {} (deploy)", holder.id)),
        "{e}"
    );
    assert_eq!(records(to.export().expect("export")), records(before), "nothing written");
}

#[tokio::test]
async fn sqlite_state_moves_to_dynamodb_with_every_record_and_a_second_import_changes_nothing() {
    let emu = common::Emulator::start();
    let conf = aws(&emu.url).await;
    let dir = tempfile::tempdir().expect("tmp");
    let from = Store::open(&dir.path().join("box.db")).expect("open");
    moved(&from, &dynamo(&conf, "ottd-pair").await).await;
}

#[tokio::test]
async fn dynamodb_state_moves_to_sqlite_with_every_record_and_a_second_import_changes_nothing() {
    let emu = common::Emulator::start();
    let conf = aws(&emu.url).await;
    let dir = tempfile::tempdir().expect("tmp");
    moved(&dynamo(&conf, "ottd-pair").await, &Store::open(&dir.path().join("box.db")).expect("open")).await;
}

#[tokio::test]
async fn an_import_is_refused_while_a_daemon_holds_an_events_lease_on_either_backend() {
    let dir = tempfile::tempdir().expect("tmp");
    let from = Store::open(&dir.path().join("box.db")).expect("open");
    fill(&from).await;
    let snapshot = from.export().expect("export");
    refused_while_leased(&Store::open(&dir.path().join("other.db")).expect("open"), &snapshot).await;
    let emu = common::Emulator::start();
    let conf = aws(&emu.url).await;
    refused_while_leased(&dynamo(&conf, "ottd-pair").await, &snapshot).await;
}
