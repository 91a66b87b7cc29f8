//! The operations layer with a recording engine over a temp state file: each operation for
//! each actor, overrides, audit rows, and two actors racing on one event in one process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::workflows::BoxFuture;
use super::*;
use crate::aws::{iam, AwsError};
use crate::clock::ManualClock;
use crate::config::{Catalog, Resolved};
use crate::engine::deploy::DeploySummary;
use crate::engine::report::{EventStatus, Links, Playback};
use crate::engine::teardown::TeardownSummary;
use crate::lifecycle::{OverrideKind, Phase};
use crate::schedule::{Timing, When};
use crate::store::Store;

/// The engine as a recorder: phases in the temp state file, every call with when it began
/// and ended, and how many ran at once.
pub(crate) struct Recorder {
    store: Arc<Store>,
    /// How long each action takes (tokio time).
    delay: Duration,
    /// When set, each action waits for a permit: the test decides when it ends.
    gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    active: AtomicUsize,
    most_at_once: AtomicUsize,
    calls: Mutex<Vec<String>>,
    /// Teardowns answer "CloudFront still disabling" while set.
    pending: Mutex<bool>,
}

impl Recorder {
    fn new(store: Arc<Store>, delay: Duration) -> Arc<Recorder> {
        Arc::new(Recorder {
            store,
            delay,
            gate: Mutex::new(None),
            active: AtomicUsize::new(0),
            most_at_once: AtomicUsize::new(0),
            calls: Mutex::default(),
            pending: Mutex::new(false),
        })
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("calls").clone()
    }

    async fn action(&self, what: &str, event: &str, phase: Phase) -> crate::engine::Result<()> {
        let n = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(n, Ordering::SeqCst);
        self.calls.lock().expect("calls").push(format!("{what} {event}"));
        let gate = self.gate.lock().expect("gate").clone();
        if let Some(g) = gate {
            if let Ok(p) = g.acquire().await {
                p.forget();
            }
        }
        tokio::time::sleep(self.delay).await;
        let r = match (what, self.store.deployment(event)?) {
            ("deploy", _) => {
                let fence = self.store.test_fence(event);
                self.store.begin_deployment(&fence, "abcd1234", "{}").await?;
                self.store.set_phase(&fence, phase, None).await.map_err(Into::into)
            }
            (_, None) => Err(crate::engine::EngineError::NotDeployed(event.to_string())),
            (_, Some(_)) => self.store.set_phase(&self.store.test_fence(event), phase, None).await.map_err(Into::into),
        };
        self.active.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

impl Workflows for Recorder {
    fn deploy<'a>(&'a self, event: &'a Resolved) -> BoxFuture<'a, crate::engine::Result<DeploySummary>> {
        Box::pin(async move {
            let id = &event.spec.id;
            self.action("deploy", id, Phase::Deployed).await?;
            Ok(DeploySummary { event: id.clone(), nonce: "abcd1234".into(), created: 9, critical_path: 5 })
        })
    }
    fn start<'a>(&'a self, event: &'a str) -> BoxFuture<'a, crate::engine::Result<()>> {
        Box::pin(self.action("start", event, Phase::Running))
    }
    fn stop<'a>(&'a self, event: &'a str) -> BoxFuture<'a, crate::engine::Result<()>> {
        Box::pin(self.action("stop", event, Phase::Stopped))
    }
    fn teardown<'a>(&'a self, event: &'a str) -> BoxFuture<'a, crate::engine::Result<TeardownSummary>> {
        Box::pin(async move {
            let pending = *self.pending.lock().expect("pending");
            let phase = if pending { Phase::TearingDown } else { Phase::TornDown };
            self.action("teardown", event, phase).await?;
            Ok(TeardownSummary { event: event.to_string(), deleted: 9, pending })
        })
    }
    fn restart_pipeline<'a>(&'a self, event: &'a str, pipeline: u8) -> BoxFuture<'a, crate::engine::Result<()>> {
        Box::pin(async move {
            self.calls.lock().expect("calls").push(format!("restart-pipeline {event} {pipeline}"));
            Ok(())
        })
    }
    fn live_state<'a>(&'a self, _: &'a str) -> BoxFuture<'a, crate::engine::Result<Option<String>>> {
        Box::pin(async { Ok(None) })
    }
    fn status<'a>(&'a self, event: &'a str) -> BoxFuture<'a, crate::engine::Result<EventStatus>> {
        Box::pin(async move {
            let d = self
                .store
                .deployment(event)?
                .ok_or_else(|| crate::engine::EngineError::NotDeployed(event.to_string()))?;
            Ok(EventStatus {
                event: d.event,
                phase: d.phase,
                deployment: d.nonce,
                last_error: d.last_error,
                updated_at: d.updated_at.to_rfc3339(),
                channel_state: None,
                ingest: vec![],
                backup_ingest: vec![],
                resources: vec![],
                lease: None,
                live: None,
            })
        })
    }
    fn links<'a>(&'a self, event: &'a str) -> BoxFuture<'a, crate::engine::Result<Links>> {
        Box::pin(async move {
            match self.store.deployment(event)? {
                Some(d) if d.phase != Phase::TornDown => {}
                _ => return Err(crate::engine::EngineError::NotDeployed(event.to_string())),
            }
            Ok(Links {
                event: event.to_string(),
                domain: "d111.cloudfront.net".into(),
                playback: vec![Playback {
                    format: "HLS",
                    url: "https://d111.cloudfront.net/out/v1/x/index.m3u8".into(),
                    player: Some("https://player.example/?src=x".into()),
                }],
                ingest: vec![],
                backup_ingest: vec![],
                preview: None,
            })
        })
    }
    fn live<'a>(
        &'a self,
        cmd: &'a crate::live::LiveCommand,
        ctx: &'a crate::engine::live::LiveContext,
    ) -> BoxFuture<'a, crate::engine::Result<crate::engine::live::LiveDone>> {
        Box::pin(async move {
            self.calls.lock().expect("calls").push(format!(
                "{} by {}",
                crate::live::command::format(cmd, ctx.tz),
                ctx.by
            ));
            Ok(crate::engine::live::LiveDone {
                answer: format!("{} on {}", cmd.word(), cmd.event()),
                verified: true,
                detail: "in the channel's schedule".into(),
                counter: 1,
            })
        })
    }
    fn schedule_actions<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, crate::engine::Result<crate::engine::live::LiveListing>> {
        Box::pin(async {
            Ok(crate::engine::live::LiveListing {
                actions: Vec::new(),
                active: vec![Some("primary".into())],
                state: "RUNNING".into(),
                backup: None,
            })
        })
    }
    fn bootstrap(&self) -> BoxFuture<'_, Result<super::workflows::Bootstrapped, AwsError>> {
        Box::pin(async move {
            let roles = iam::Roles {
                medialive: "arn:aws:iam::123456789012:role/ottd-medialive".into(),
                mediapackage: "arn:aws:iam::123456789012:role/ottd-mediapackage".into(),
            };
            Ok(super::workflows::Bootstrapped { roles, alerts: None, slate_uri: None, removed: Vec::new() })
        })
    }
}

pub(crate) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
}

/// On air 20:00-22:00 UTC on 2026-12-18, deployed 30 min before, torn down 5 min after.
fn timed(id: &str, template: &Resolved) -> Arc<Resolved> {
    let mut e = template.clone();
    e.spec.id = id.to_string();
    e.spec.timing = Some(Timing {
        when: When::Once { start: t("2026-12-18T20:00:00Z"), end: t("2026-12-18T22:00:00Z") },
        tz: chrono_tz::UTC,
        deploy_before: Duration::from_secs(30 * 60),
        start_before: Duration::from_secs(10 * 60),
        stop_after: Duration::ZERO,
        teardown_after: Duration::from_secs(5 * 60),
        keep_deployed: false,
        max_runtime: None,
        adaptive_lead: false,
    });
    Arc::new(e)
}

pub(crate) struct World {
    pub(crate) ops: Arc<Ops>,
    pub(crate) store: Arc<Store>,
    pub(crate) engine: Arc<Recorder>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) definitions: Arc<InForce>,
    _dir: tempfile::TempDir,
}

/// Events: `final` (timed, above) and `demo` (the shipped on-demand event); the clock at
/// 20:30, inside final's window.
pub(crate) fn world(delay: Duration) -> World {
    let dir = tempfile::tempdir().expect("tmp");
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ottd.toml");
    let catalog = Catalog::load(&config).expect("shipped configuration");
    let demo = catalog.event("demo").expect("demo event").clone();
    let store = Arc::new(Store::open(&dir.path().join("ottd.db")).expect("state file"));
    let engine = Recorder::new(store.clone(), delay);
    let definitions = Arc::new(InForce::new(catalog.settings.clone(), None));
    let events: HashMap<String, Arc<Resolved>> =
        [("final".to_string(), timed("final", &demo)), ("demo".to_string(), demo)].into_iter().collect();
    definitions.set(Arc::new(events));
    let clock = Arc::new(ManualClock::new(t("2026-12-18T20:30:00Z")));
    let ops = Arc::new(Ops::new(store.clone(), engine.clone(), definitions.clone(), clock.clone()));
    World { ops, store, engine, clock, definitions, _dir: dir }
}

fn cli() -> Actor {
    Actor::Cli { user: "alice".into() }
}

fn chat() -> Actor {
    Actor::Chat { platform: Platform::Slack, user: "U42".into() }
}

#[tokio::test]
async fn a_persons_action_on_a_timed_event_is_an_override_until_the_windows_end_the_daemons_is_not() {
    for actor in [cli(), chat()] {
        let w = world(Duration::ZERO);
        let r = w.ops.execute(&actor, Operation::Deploy { event: "final".into() }, None).await.expect("deploy");
        assert!(r.headline.starts_with("deployed final (deployment abcd1234)"), "{}", r.headline);
        let o = w.store.override_of("final").expect("q").expect("an override");
        assert_eq!(
            (o.kind, o.until, o.by.clone()),
            (OverrideKind::Deploy, Some(t("2026-12-18T22:05:00Z")), actor.label())
        );
        assert!(r.notes.iter().any(|n| n.contains("until 2026-12-18 22:05:00 UTC")), "{:?}", r.notes);
        w.ops.execute(&actor, Operation::Stop { event: "final".into() }, None).await.expect("stop");
        assert_eq!(w.store.override_of("final").expect("q").map(|o| o.kind), Some(OverrideKind::Stop));
    }
    for actor in [Actor::Schedule, Actor::Recovery] {
        let w = world(Duration::ZERO);
        w.ops.execute(&actor, Operation::Deploy { event: "final".into() }, None).await.expect("deploy");
        assert_eq!(w.store.override_of("final").expect("q"), None, "{actor} acts for the schedule: no override");
        assert_eq!(w.engine.calls(), ["deploy final"]);
    }
    // The cost guard's stop keeps the daemon from starting it again.
    let w = world(Duration::ZERO);
    w.ops.execute(&cli(), Operation::Deploy { event: "final".into() }, None).await.expect("deploy");
    let guard = Actor::Guard { reason: "cost-guard".into() };
    w.ops.execute(&guard, Operation::Stop { event: "final".into() }, None).await.expect("stop");
    let o = w.store.override_of("final").expect("q").expect("override");
    assert_eq!((o.kind, o.by.as_str()), (OverrideKind::Stop, "guard:cost-guard"));
}

#[tokio::test]
async fn on_demand_events_get_no_override_and_auto_start_is_a_persons_deploy_only() {
    let w = world(Duration::ZERO);
    let auto = w.definitions.event("demo").expect("demo").workflow.media_live.auto_start;
    let r = w.ops.execute(&cli(), Operation::Deploy { event: "demo".into() }, None).await.expect("deploy");
    assert_eq!(w.store.override_of("demo").expect("q"), None);
    let expected: Vec<&str> = if auto { vec!["deploy demo", "start demo"] } else { vec!["deploy demo"] };
    assert_eq!(w.engine.calls(), expected);
    assert_eq!(!r.links.is_empty(), auto, "on air: the reply carries the links");
    let w = world(Duration::ZERO);
    w.ops.execute(&Actor::Schedule, Operation::Deploy { event: "demo".into() }, None).await.expect("deploy");
    assert_eq!(w.engine.calls(), ["deploy demo"], "the schedule starts at its start time, not on deploy");
}

#[tokio::test]
async fn links_and_start_answers_carry_the_preview_page_with_the_events_one_token() {
    let w = world(Duration::ZERO);
    w.ops.execute(&cli(), Operation::Deploy { event: "final".into() }, None).await.expect("deploy");
    let r = w.ops.execute(&chat(), Operation::Links { event: "final".into() }, None).await.expect("links");
    let token = w.store.meta("preview.token.final").expect("q").expect("made at first use");
    let want = format!("http://127.0.0.1:9180/preview/final?t={token}");
    let labels: Vec<&str> = r.links.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(labels, ["HLS", "HLS player", "Preview"], "beside the test players");
    assert_eq!(r.links[2].url, want, "no public_url: the listen address");
    assert!(r.lines.iter().any(|l| l.contains(&want)), "{:?}", r.lines);
    assert_eq!(r.data["preview"], want.as_str(), "--output json has it too");

    let ops = Ops::new(w.store.clone(), w.engine.clone(), w.definitions.clone(), w.clock.clone())
        .with_preview_base("https://ottd.example.net".into());
    let r = ops.execute(&cli(), Operation::Start { event: "final".into() }, None).await.expect("start");
    let preview = r.links.iter().find(|l| l.label == "Preview").expect("the start answer has it");
    assert_eq!(preview.url, format!("https://ottd.example.net/preview/final?t={token}"), "the same token, kept");

    // A link that went too far: a new token replaces it, for everyone who reads the state.
    let r = ops.execute(&chat(), Operation::RotatePreview { event: "final".into() }, None).await.expect("rotate");
    let fresh = w.store.meta("preview.token.final").expect("q").expect("a token");
    assert_ne!(fresh, token, "a new token");
    assert_eq!(r.links[0].url, format!("https://ottd.example.net/preview/final?t={fresh}"));
    let unknown = ops.execute(&chat(), Operation::RotatePreview { event: "nope".into() }, None).await;
    assert_eq!(unknown.expect_err("no such event").kind, ErrorKind::Refused);
    assert_eq!(w.store.meta("preview.token.nope").expect("q"), None, "no row for a name nobody defined");
}

#[tokio::test]
async fn every_operation_by_every_actor_is_audited_with_its_decision_and_result() {
    let w = world(Duration::ZERO);
    let ops: Vec<Operation> = vec![
        Operation::Validate,
        Operation::Bootstrap,
        Operation::Plan { event: "final".into() },
        Operation::Deploy { event: "final".into() },
        Operation::Start { event: "final".into() },
        Operation::Status { event: Some("final".into()) },
        Operation::Links { event: "final".into() },
        Operation::Schedule,
        Operation::Stop { event: "final".into() },
        Operation::Hold { event: "final".into() },
        Operation::Resume { event: "final".into() },
        Operation::Teardown { event: "final".into() },
        Operation::Audit { event: None, since: None, all: true },
    ];
    let actors = [cli(), Actor::Schedule, Actor::Recovery, chat()];
    let mut expected = 0;
    for actor in &actors {
        for op in &ops {
            let r = w.ops.execute(actor, op.clone(), None).await;
            assert!(r.is_ok(), "{} by {actor}: {:?}", op.name(), r.err());
            expected += 1;
        }
    }
    let rows = w.store.audit(None, None, true, 1000).expect("audit");
    assert_eq!(rows.len(), expected, "one row per operation");
    for (row, (actor, op)) in rows.iter().zip(actors.iter().flat_map(|a| ops.iter().map(move |o| (a, o)))) {
        assert_eq!((row.actor.as_str(), row.operation.as_str()), (actor.label().as_str(), op.name()));
        assert_eq!((row.decision.as_str(), row.result.as_deref()), ("allowed", Some("ok")), "{row:?}");
        assert_eq!(row.event.as_deref(), op.event());
        assert!(row.duration_ms.is_some());
    }
    let links = w.ops.execute(&chat(), Operation::Links { event: "final".into() }, None).await;
    assert!(links.is_err(), "torn down: no links");
    let last = w.store.audit(None, None, true, 1).expect("audit").remove(0);
    assert_eq!((last.result.as_deref(), last.actor.as_str()), (Some("refused"), "slack:U42"));
}

#[tokio::test]
async fn the_daemon_never_acts_on_a_held_event_and_says_so_in_the_audit() {
    let w = world(Duration::ZERO);
    w.ops.execute(&cli(), Operation::Hold { event: "final".into() }, None).await.expect("hold");
    for actor in [Actor::Schedule, Actor::Recovery] {
        let e = w.ops.execute(&actor, Operation::Deploy { event: "final".into() }, None).await.expect_err("held");
        assert_eq!(e.kind, ErrorKind::Refused, "{e}");
    }
    assert!(w.engine.calls().is_empty());
    let rows = w.store.audit(Some("final"), None, true, 10).expect("audit");
    assert_eq!(rows.iter().filter(|r| r.decision == "refused").count(), 2);
    // A person may act; the hold stays.
    let r = w.ops.execute(&cli(), Operation::Deploy { event: "final".into() }, None).await.expect("deploy");
    assert_eq!(w.store.override_of("final").expect("q").map(|o| o.kind), Some(OverrideKind::Hold));
    assert!(r.notes.iter().any(|n| n.contains("stays on hold")), "{:?}", r.notes);
}

#[tokio::test]
async fn a_manual_command_while_the_files_are_broken_gets_an_override_bounded_by_the_last_good_windows() {
    let w = world(Duration::ZERO);
    // The last good configuration recorded final's window; now the files are broken.
    w.store
        .set_known_windows(vec![(
            "final".to_string(),
            vec![crate::store::KnownWindow {
                deploy_at: t("2026-12-18T19:30:00Z"),
                teardown_at: t("2026-12-18T22:05:00Z"),
            }],
        )])
        .await
        .expect("windows");
    w.definitions.set(Arc::new(HashMap::new()));
    w.store.begin_deployment(&w.store.test_fence("final"), "abcd1234", "{}").await.expect("deployed");
    w.ops.execute(&cli(), Operation::Stop { event: "final".into() }, None).await.expect("stop");
    let o = w.store.override_of("final").expect("q").expect("override");
    assert_eq!(o.until, Some(t("2026-12-18T22:05:00Z")));
    // Nothing recorded for this one: twelve hours, never unbounded.
    w.store.begin_deployment(&w.store.test_fence("other"), "abcd1234", "{}").await.expect("deployed");
    w.ops.execute(&cli(), Operation::Stop { event: "other".into() }, None).await.expect("stop");
    let o = w.store.override_of("other").expect("q").expect("override");
    assert_eq!(o.until, Some(w.clock.now() + policy::FALLBACK_OVERRIDE));
    // Deploy needs the definition: refused, with the reason.
    let e = w.ops.execute(&cli(), Operation::Deploy { event: "final".into() }, None).await.expect_err("unknown");
    assert_eq!(e.kind, ErrorKind::Refused);
}

#[tokio::test]
async fn a_teardown_closes_the_events_open_alerts() {
    let w = world(Duration::ZERO);
    w.ops.execute(&cli(), Operation::Deploy { event: "final".into() }, None).await.expect("deploy");
    let alert = crate::alerts::event::Alert {
        state: crate::alerts::event::AlarmState::Set,
        alarm_id: "a1".into(),
        alert_type: "Video Not Detected".into(),
        pipeline: 0,
        message: String::new(),
    };
    w.store.record_alert("e1", w.clock.now(), "final", "123", &alert).await.expect("record");
    assert_eq!(w.store.alerts(Some("final"), false).expect("q").len(), 1);
    w.ops.execute(&Actor::Schedule, Operation::Teardown { event: "final".into() }, None).await.expect("teardown");
    assert!(w.store.alerts(Some("final"), false).expect("q").is_empty(), "nothing left open");
    assert_eq!(w.store.alerts(Some("final"), true).expect("q").len(), 1, "kept in the history");
}

#[tokio::test]
async fn a_teardown_still_waiting_on_cloudfront_is_pending_not_failed() {
    let w = world(Duration::ZERO);
    w.ops.execute(&cli(), Operation::Deploy { event: "final".into() }, None).await.expect("deploy");
    *w.engine.pending.lock().expect("pending") = true;
    let e = w.ops.execute(&cli(), Operation::Teardown { event: "final".into() }, None).await.expect_err("pending");
    assert_eq!(e.kind, ErrorKind::Pending);
    assert!(e.message.contains("run `ottd teardown final` again later"), "{e}");
    let last = w.store.audit(Some("final"), None, true, 1).expect("audit").remove(0);
    assert_eq!(last.result.as_deref(), Some("pending"));
}

/// Two actors on one event in one process: the second is queued behind the first, told so,
/// and never runs beside it; `first` and `second` in both orders.
async fn race(first: (Actor, Operation), second: (Actor, Operation)) -> (World, Result<Reply, OpError>) {
    race_with(first, second, Vec::new()).await
}

/// [`race`], with `meanwhile` run (each to its end) while the second waits in the queue.
async fn race_with(
    first: (Actor, Operation),
    second: (Actor, Operation),
    meanwhile: Vec<(Actor, Operation)>,
) -> (World, Result<Reply, OpError>) {
    let w = world(Duration::ZERO);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    *w.engine.gate.lock().expect("gate") = Some(gate.clone());
    w.store.begin_deployment(&w.store.test_fence("final"), "abcd1234", "{}").await.expect("deployed");
    w.store.set_phase(&w.store.test_fence("final"), Phase::Deployed, None).await.expect("phase");
    let ops = w.ops.clone();
    let (a1, o1) = first;
    let one = tokio::spawn(async move { ops.execute(&a1, o1, None).await });
    // The first holds the event's worker, stopped inside its engine call.
    for tries in 0.. {
        if !w.engine.calls().is_empty() {
            break;
        }
        assert!(tries < 10_000, "the first action never reached the engine");
        tokio::task::yield_now().await;
    }
    let ops = w.ops.clone();
    let (a2, o2) = second;
    let two = tokio::spawn(async move { ops.execute(&a2, o2, None).await });
    // The second is admitted and queued behind it (its audit row says so).
    for tries in 0.. {
        let rows = w.store.audit(Some("final"), None, true, 10).expect("audit");
        if rows.iter().any(|r| r.decision == "queued") {
            break;
        }
        assert!(tries < 10_000, "the second action was never queued: {rows:?}");
        tokio::task::yield_now().await;
    }
    for (actor, op) in meanwhile {
        w.ops.execute(&actor, op, None).await.expect("meanwhile");
    }
    // Now let both finish, one after the other.
    gate.add_permits(2);
    one.await.expect("first task").expect("first operation");
    let two = two.await.expect("second task");
    (w, two)
}

#[tokio::test]
async fn a_chat_stop_during_the_schedules_start_waits_for_it_and_never_runs_beside_it() {
    let (w, second) = race(
        (Actor::Schedule, Operation::Start { event: "final".into() }),
        (chat(), Operation::Stop { event: "final".into() }),
    )
    .await;
    let reply = second.expect("stop");
    assert!(reply.notes.iter().any(|n| n.contains("busy (start by schedule since")), "{:?}", reply.notes);
    assert_eq!(w.engine.calls(), ["start final", "stop final"]);
    assert_eq!(w.engine.most_at_once.load(Ordering::SeqCst), 1, "never two actions at once");
    assert_eq!(w.store.phase("final").expect("q").map(|p| p.0), Some(Phase::Stopped));
    let rows = w.store.audit(Some("final"), None, true, 10).expect("audit");
    let decisions: Vec<(&str, &str)> = rows.iter().map(|r| (r.actor.as_str(), r.decision.as_str())).collect();
    assert_eq!(decisions, [("schedule", "allowed"), ("slack:U42", "queued")]);
}

#[tokio::test]
async fn the_schedules_start_during_a_chat_stop_waits_for_it_and_never_runs_beside_it() {
    let (w, second) = race(
        (chat(), Operation::Stop { event: "final".into() }),
        (Actor::Schedule, Operation::Start { event: "final".into() }),
    )
    .await;
    second.expect("start");
    assert_eq!(w.engine.calls(), ["stop final", "start final"]);
    assert_eq!(w.engine.most_at_once.load(Ordering::SeqCst), 1, "never two actions at once");
    let rows = w.store.audit(Some("final"), None, true, 10).expect("audit");
    let decisions: Vec<(&str, &str)> = rows.iter().map(|r| (r.actor.as_str(), r.decision.as_str())).collect();
    assert_eq!(decisions, [("slack:U42", "allowed"), ("schedule", "queued")]);
    // The person's stop recorded an override first: the scheduler's next pass sees it.
    assert_eq!(w.store.override_of("final").expect("q").map(|o| o.kind), Some(OverrideKind::Stop));
}

#[tokio::test]
async fn a_hold_placed_while_a_daemon_action_is_queued_refuses_it_when_its_turn_comes() {
    let (w, second) = race_with(
        (Actor::Recovery, Operation::Start { event: "final".into() }),
        (Actor::Schedule, Operation::Stop { event: "final".into() }),
        vec![(cli(), Operation::Hold { event: "final".into() })],
    )
    .await;
    let e = second.expect_err("held while it waited: refused");
    assert_eq!(e.kind, ErrorKind::Refused, "{e}");
    assert!(e.message.contains("on hold"), "{e}");
    assert_eq!(w.engine.calls(), ["start final"], "the queued stop never reached the engine");
    let rows = w.store.audit(Some("final"), None, true, 10).expect("audit");
    let stop = rows.iter().find(|r| r.actor == "schedule").expect("the schedule's row");
    assert_eq!((stop.decision.as_str(), stop.result.as_deref()), ("refused", Some("refused")), "{stop:?}");
    assert!(stop.error.as_deref().is_some_and(|e| e.contains("on hold")), "{stop:?}");
}

#[tokio::test]
async fn holding_an_event_ottd_does_not_know_is_refused_and_records_nothing() {
    let w = world(Duration::ZERO);
    let e = w.ops.execute(&chat(), Operation::Hold { event: "no-such-event".into() }, None).await.expect_err("unknown");
    assert_eq!(e.kind, ErrorKind::Refused, "{e}");
    assert!(w.store.overrides().expect("q").is_empty(), "no override row for a name nobody defined");
    w.ops.execute(&chat(), Operation::Hold { event: "final".into() }, None).await.expect("a known event");
    assert_eq!(w.store.overrides().expect("q").len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn reading_the_audit_while_the_writer_is_busy_never_blocks_the_runtime() {
    let w = world(Duration::ZERO);
    // The state file's writer is busy for half a second (a checkpoint, a big batch).
    let release = w.store.sqlite().pause_writer();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500)); // how long the writer stays busy
        let _ = release.send(());
    });
    // Meanwhile the runtime's one thread must go on serving others: a ticker counts.
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let audit = Operation::Audit { event: None, since: None, all: true };
    w.ops.execute(&chat(), audit, None).await.expect("audit");
    ticker.abort();
    assert!(ticks.load(Ordering::SeqCst) >= 10, "the runtime went on while the audit waited for the writer");
}

#[tokio::test]
async fn a_stop_or_teardown_says_what_the_run_cost_and_cost_answers_estimate_and_runs() {
    let w = world(Duration::ZERO);
    // The schedule starts final 10 min before its 20:00 on-air time and stops it at 22:00:30.
    w.clock.set(t("2026-12-18T19:30:00Z"));
    w.ops.execute(&Actor::Schedule, Operation::Deploy { event: "final".into() }, None).await.expect("deploy");
    w.clock.set(t("2026-12-18T19:50:00Z"));
    w.ops.execute(&Actor::Schedule, Operation::Start { event: "final".into() }, None).await.expect("start");
    w.clock.set(t("2026-12-18T22:00:30Z"));
    let r = w.ops.execute(&Actor::Schedule, Operation::Stop { event: "final".into() }, None).await.expect("stop");
    // 130 min 30 s: 131 billed minutes of the HD-720p ladder on one pipeline ($1.1988/h).
    assert!(r.lines.contains(&"this run cost about $2.62 (131 billed minutes)".to_string()), "{:?}", r.lines);
    let r = w.ops.execute(&Actor::Schedule, Operation::Teardown { event: "final".into() }, None).await.expect("down");
    assert!(r.lines.contains(&"this run cost about $2.62 (131 billed minutes)".to_string()), "{:?}", r.lines);

    // A person's deploy of the on-demand demo starts it (autoStart); 3 minutes bill 10.
    w.clock.set(t("2026-12-19T10:00:00Z"));
    w.ops.execute(&cli(), Operation::Deploy { event: "demo".into() }, None).await.expect("deploy");
    w.clock.set(t("2026-12-19T10:03:00Z"));
    let r = w.ops.execute(&cli(), Operation::Stop { event: "demo".into() }, None).await.expect("stop");
    assert!(r.lines.contains(&"this run cost about $0.20 (10 billed minutes)".to_string()), "{:?}", r.lines);
    let again = w.ops.execute(&cli(), Operation::Stop { event: "demo".into() }, None).await.expect("stop");
    assert!(again.lines.is_empty(), "a stop that ended no run says no cost: {:?}", again.lines);

    let r = w.ops.execute(&cli(), Operation::Cost { event: "final".into(), audience: 100 }, None).await.expect("cost");
    let text = r.text();
    assert!(text.contains("final: prices of 2026-09-18 from "), "{text}");
    assert!(text.contains("MediaLive (single pipeline, us-east-1, prices of 2026-09-18): input HD AVC"), "{text}");
    assert!(
        text.contains("window 2026-12-18 19:50 → 22:00 UTC (on air 20:00 → 22:00, 2h): 130 billed minutes"),
        "{text}"
    );
    assert!(text.contains("2026-12-18 19:50:00 → 2026-12-18 22:00:30 UTC (schedule → schedule): 131 billed minutes, $2.62; on air 2h: 1.09 ×"), "{text}");
    assert_eq!(r.data["actual"]["billed_minutes"], 131);
    let plan = w.ops.execute(&cli(), Operation::Plan { event: "demo".into() }, None).await.expect("plan");
    assert!(plan.lines.iter().any(|l| l.starts_with("  cost: about $1.20 MediaLive")), "{:?}", plan.lines);
}
