//! Live control on the emulator (issue 21): breaks, back, the slate and input switches written
//! to a running channel's MediaLive schedule through the real AWS SDK, from the CLI (the
//! operations layer, the engine's lease and the state's records) and from the engine cut at
//! its kill points; a retry of the same command creates nothing twice.

mod common;

use std::process::Command;
use std::sync::Arc;

use chrono::Utc;
use ottd::aws::schedule;
use ottd::config::workflow::ChannelClass;
use ottd::engine::live::{LiveContext, SCHEDULE_KEY};
use ottd::engine::{EngineError, FaultPoint, Faults};
use ottd::live::{self, ChannelView, Decision, EventZone, Ids, Inputs, LiveCommand, Retry, Settings};
use ottd::store::{LiveState, Store};

use common::{channel_id, setup, Lines, ON_DEMAND_FINAL};

/// `final` deployed and on air through the engine: the test's setup, the engine, the state and
/// the deployment's nonce.
async fn on_air() -> (common::Setup, ottd::engine::Engine, Store, String) {
    let s = setup(ON_DEMAND_FINAL);
    let engine = s.engine(Arc::new(Lines::default())).await;
    let event = s.catalog().events.iter().find(|e| e.spec.id == "final").expect("final").clone();
    engine.deploy(&event).await.expect("deploy");
    engine.start("final").await.expect("start");
    let store = Store::open(&s.state_path()).expect("state");
    let nonce = store.deployment("final").expect("state").expect("deployed").nonce;
    (s, engine, store, nonce)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_reaches_the_channels_schedule_once_however_often_it_is_sent() {
    let (_s, engine, store, nonce) = on_air().await;
    let channel = channel_id(&store, "final");
    let ml = &engine.aws.medialive;
    let described = ml.describe_channel().channel_id(&channel).send().await.expect("DescribeChannel");
    let primary = described
        .input_attachments()
        .first()
        .and_then(|a| a.input_attachment_name())
        .expect("the channel's attachment")
        .to_string();

    let now = Utc::now();
    let zones = [EventZone { id: "final", tz: chrono_tz::UTC }];
    let command = live::parse("break final 90s", &zones, now).expect("the grammar");
    let view = ChannelView {
        class: ChannelClass::SinglePipeline,
        running: true,
        inputs: Inputs { primary: primary.clone(), backup: None, others: Vec::new(), pair: None },
        active: vec![Some(primary)],
        open_break: None,
        slate_up: false,
        slate_image: None,
        in_window: false,
        tz: chrono_tz::UTC,
    };
    let Decision::Write(plan) = live::decide(&command, &view, Ids { nonce: &nonce, counter: 1 }, now) else {
        panic!("a break on a running channel is written");
    };
    schedule::create(ml, &channel, &plan.actions).await.expect("BatchUpdateSchedule");

    // The same command again (a retry after a lost answer): MediaLive refuses the names it holds,
    // and what it holds is what was wanted.
    let again = schedule::create(ml, &channel, &plan.actions).await;
    assert!(again.is_err(), "MediaLive keeps action names unique: {again:?}");
    let held = schedule::describe(ml, &channel).await.expect("DescribeSchedule");
    assert_eq!(live::retry(&plan.actions, &held), Retry::Done, "{held:#?}");
    let breaks: Vec<_> = held.iter().filter(|a| matches!(a.settings, Settings::SpliceInsert { .. })).collect();
    assert_eq!(breaks.len(), 1, "one break, however often sent: {held:#?}");
    match &breaks[0].settings {
        Settings::SpliceInsert { duration, .. } => {
            assert_eq!(duration.map(|d| d.get()), Some(8_100_000), "90 s in 90 kHz ticks")
        }
        other => panic!("{other:?}"),
    }
}

/// `ottd ARGS` that must fail: its output.
fn ottd_fails(s: &common::Setup, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ottd")).args(args).envs(s.env()).output().expect("run ottd");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "ottd {args:?} should have failed:\n{text}");
    text
}

fn breaks(held: &[live::ScheduleAction]) -> usize {
    held.iter().filter(|a| matches!(a.settings, Settings::SpliceInsert { .. })).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_the_cli_a_break_a_return_and_what_would_repeat_is_refused() {
    let s = setup(ON_DEMAND_FINAL);
    s.ottd(&["bootstrap"]);
    s.ottd(&["deploy", "final"]);
    s.ottd(&["start", "final"]);

    let out = s.ottd(&["break", "final", "90s"]);
    assert!(out.contains("break on final now for 1m30s: splice insert 1 (8100000 ticks)"), "{out}");
    assert!(out.contains("done: in the channel's schedule"), "{out}");
    // The same command again: the break is open, nothing is sent.
    let again = ottd_fails(&s, &["break", "final", "90s"]);
    assert!(again.contains("a break is already open on final (splice event 1)"), "{again}");
    let listing = s.ottd(&["schedule-actions", "final"]);
    assert!(listing.contains("break 1 for 1m30s (8100000 ticks)"), "{listing}");
    let status = s.ottd(&["status", "final"]);
    assert!(status.contains("on air now: break 1 open (`back final` ends it)"), "{status}");
    assert!(listing.contains("channel RUNNING: pipeline 0 on `"), "{listing}");

    let back = s.ottd(&["back", "final"]);
    assert!(back.contains("back to the network on final: break 1 ends now"), "{back}");
    let twice = ottd_fails(&s, &["back", "final"]);
    assert!(twice.contains("no open break on final"), "{twice}");

    // A fixed time MediaLive would refuse is refused before AWS is called, with the reason.
    let soon = (Utc::now() + chrono::Duration::seconds(5)).format("%H:%M:%S").to_string();
    let early = ottd_fails(&s, &["break", "final", "30s", "at", &soon]);
    assert!(early.contains("15 s"), "{early}");
    let none = ottd_fails(&s, &["switch", "final", "backup"]);
    assert!(none.contains("final has no backup input"), "{none}");
    let typo = ottd_fails(&s, &["slate", "final", "up"]);
    assert!(typo.contains("`up`") && !typo.contains("panicked"), "{typo}");
    // The slate: bootstrap's default image, on layer 7, up then down; twice up is refused.
    let up = s.ottd(&["slate", "final", "on"]);
    assert!(up.contains("slate up on final") && up.contains("done:"), "{up}");
    let twice = ottd_fails(&s, &["slate", "final", "on"]);
    assert!(twice.contains("the slate is already up on final"), "{twice}");
    let listing = s.ottd(&["schedule-actions", "final"]);
    assert!(listing.contains("s3ssl://") && listing.contains("slate/default.png` on layer 7"), "{listing}");
    assert!(s.ottd(&["status", "final"]).contains("on air now: the slate is up"));
    let down = s.ottd(&["slate", "final", "off"]);
    assert!(down.contains("slate down on final"), "{down}");
    assert!(!s.ottd(&["status", "final"]).contains("on air now"), "nothing stands after back and slate off");

    let store = Store::open(&s.state_path()).expect("state");
    let nonce = store.deployment("final").expect("state").expect("deployed").nonce;
    let records = store.live_records("final", &nonce, 10).expect("records");
    let states: Vec<(u32, LiveState)> = records.iter().map(|r| (r.counter, r.state)).collect();
    assert_eq!(states.last(), Some(&(1, LiveState::Done)), "the break is recorded done: {states:?}");
    assert_eq!(states.get(states.len() - 2), Some(&(2, LiveState::Failed)), "its repeat refused: {states:?}");
    assert_eq!(states.first().map(|s| s.1), Some(LiveState::Done), "the slate down, newest first: {states:?}");
    let engine = s.engine(Arc::new(Lines::default())).await;
    let held = schedule::describe(&engine.aws.medialive, &channel_id(&store, "final")).await.expect("schedule");
    assert_eq!(breaks(&held), 1, "one break, however often asked: {held:#?}");
    let audit = s.ottd(&["audit", "final"]);
    for want in ["break", "back", "refused"] {
        assert!(audit.contains(want), "audit lacks {want}:\n{audit}");
    }

    // A break started in the console: ottd has no open break of its own, says how to end one
    // started elsewhere, and ends it by its splice event id.
    let console = ottd::live::ScheduleAction {
        name: "console-break-1".into(),
        start: ottd::live::When::immediate(),
        settings: Settings::SpliceInsert { splice_event_id: 90001, duration: None },
    };
    let channel = channel_id(&store, "final");
    schedule::create(&engine.aws.medialive, &channel, &[console]).await.expect("the console's break");
    let hint = ottd_fails(&s, &["back", "final"]);
    assert!(hint.contains("no open break on final by ottd") && hint.contains("back final SPLICE_ID"), "{hint}");
    let back = s.ottd(&["back", "final", "90001"]);
    assert!(back.contains("break 90001 ends now") && back.contains("done:"), "{back}");
    let held = schedule::describe(&engine.aws.medialive, &channel).await.expect("schedule");
    assert!(held.iter().any(|a| a.settings == Settings::ReturnToNetwork { splice_event_id: 90001 }), "{held:#?}");
}

/// Fails at one point, as if the process died there.
struct CutAt(&'static str);

impl Faults for CutAt {
    fn check(&self, p: FaultPoint<'_>) -> ottd::engine::Result<()> {
        match p {
            FaultPoint::BeforeCreate(SCHEDULE_KEY) if self.0 == "before" => Err(EngineError::Injected("before".into())),
            FaultPoint::AfterCreate(SCHEDULE_KEY) if self.0 == "after" => Err(EngineError::Injected("after".into())),
            _ => Ok(()),
        }
    }
}

fn ctx() -> LiveContext {
    LiveContext { tz: chrono_tz::UTC, in_window: false, slate_image: None, by: "test".into(), now: Utc::now() }
}

fn command(text: &str) -> LiveCommand {
    live::parse(text, &[EventZone { id: "final", tz: chrono_tz::UTC }], Utc::now()).expect("grammar")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_cut_at_either_side_of_medialive_is_settled_by_the_next_one() {
    let (s, engine, store, nonce) = on_air().await;
    let state_of = |counter: u32| {
        let records = store.live_records("final", &nonce, 50).expect("records");
        records.iter().find(|r| r.counter == counter).map(|r| (r.state, r.detail.clone()))
    };

    // Killed before BatchUpdateSchedule: recorded as intended, nothing in the schedule.
    let before = s.engine(Arc::new(Lines::default())).await.with_faults(Arc::new(CutAt("before")));
    assert!(matches!(before.live(&command("break final 60s"), &ctx()).await, Err(EngineError::Injected(_))));
    assert_eq!(state_of(1).map(|s| s.0), Some(LiveState::Intent));
    // Killed after MediaLive took a break, before the state said so.
    let after = s.engine(Arc::new(Lines::default())).await.with_faults(Arc::new(CutAt("after")));
    assert!(matches!(after.live(&command("break final 60s"), &ctx()).await, Err(EngineError::Injected(_))));
    assert_eq!(state_of(2).map(|s| s.0), Some(LiveState::Intent));

    // The next command settles both against the schedule: the first never arrived, the second
    // did and is the open break that `back` ends.
    let done = engine.live(&command("back final"), &ctx()).await.expect("back");
    assert!(done.answer.contains("break 2 ends now"), "{done:?}");
    let (first, why) = state_of(1).expect("first");
    assert_eq!(first, LiveState::Failed, "{why:?}");
    assert!(why.unwrap_or_default().contains("not in the schedule"));
    assert_eq!(state_of(2).map(|s| s.0), Some(LiveState::Sent));
    assert_eq!(state_of(3).map(|s| s.0), Some(LiveState::Done));
    let held = schedule::describe(&engine.aws.medialive, &channel_id(&store, "final")).await.expect("schedule");
    assert_eq!(breaks(&held), 1, "the cut before sending sent nothing: {held:#?}");

    // A fixed-time break fine when asked (22 s ahead) but not by the time it is ready to be
    // sent (12 s): refused with MediaLive's rule before AWS is called, and recorded so.
    let asked = ctx();
    let asked = LiveContext { now: asked.now - chrono::Duration::seconds(10), ..asked };
    let start = live::Start::Fixed(Utc::now() + chrono::Duration::seconds(12));
    let late = LiveCommand::Break { event: "final".into(), duration: None, start };
    let e = engine.live(&late, &asked).await.expect_err("too soon by now");
    assert!(matches!(e, EngineError::LiveRefused { .. }) && e.to_string().contains("checked again"), "{e}");
    let held = schedule::describe(&engine.aws.medialive, &channel_id(&store, "final")).await.expect("schedule");
    assert_eq!(breaks(&held), 1, "nothing sent: {held:#?}");
    assert_eq!(state_of(4).map(|s| s.0), Some(LiveState::Failed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_shows_as_an_ad_marker_in_the_hls_viewers_get() {
    use ottd::probe::fetch::HttpFetch;
    use ottd::probe::look::Fetch;
    let s = common::setup_live(ON_DEMAND_FINAL, "");
    s.ottd(&["bootstrap"]);
    s.ottd(&["deploy", "final"]);
    s.ottd(&["start", "final"]);
    let links: serde_json::Value =
        serde_json::from_str(&s.ottd(&["--output", "json", "links", "final"])).expect("json");
    let hls = links["playback"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["format"] == "HLS"))
        .and_then(|p| p["url"].as_str())
        .expect("an HLS link")
        .to_string();
    let fetch = HttpFetch::new(&s.catalog().settings.probe).expect("the probe's client");
    let get = |url: String| {
        let fetch = &fetch;
        async move {
            let f = fetch.get(&url, &[], None).await;
            assert_eq!(f.status, 200, "{url}: {:?}", f.error);
            String::from_utf8_lossy(&f.body).to_string()
        }
    };
    let multivariant = get(hls.clone()).await;
    let variant = multivariant.lines().find(|l| !l.starts_with('#') && !l.is_empty()).expect("a variant");
    let base = &hls[..=hls.rfind('/').expect("a path")];
    let media = format!("{base}{variant}");
    assert!(!get(media.clone()).await.contains("#EXT-X-CUE-OUT"), "no marker before the break");

    let out = s.ottd(&["break", "final", "30s"]);
    assert!(out.contains("break on final now for 30s"), "{out}");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut playlist = String::new();
    while std::time::Instant::now() < until {
        playlist = get(media.clone()).await;
        if playlist.contains("#EXT-X-CUE-OUT:30.000") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("no #EXT-X-CUE-OUT:30.000 through CloudFront within 20 s:\n{playlist}");
}

/// What MediaLive's schedule says when its answers go missing: a lost answer to a batch it
/// took reads as taken (the SDK's retry meets "already exists", the schedule holds it); a batch
/// that never gets an answer is left pending, said as such, and settled by the next command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_taken_and_a_batch_never_answered_is_settled_by_the_next_command() {
    let (mut s, engine, store, nonce) = on_air().await;
    let direct = s.endpoint.clone();
    let state_of = |counter: u32| {
        let records = store.live_records("final", &nonce, 50).expect("records");
        records.iter().find(|r| r.counter == counter).map(|r| (r.state, r.detail.clone().unwrap_or_default()))
    };
    const BATCH: &str = "^PUT /prod/channels/[^/]+/schedule$";

    // MediaLive takes the open break; its answer is lost on the way back.
    let lose = common::Proxy::start_args(&s.emu.url, &["--lose", &format!("{BATCH}=1")]);
    s.endpoint = lose.url.clone();
    let lossy = s.engine(Arc::new(Lines::default())).await;
    let done = lossy.live(&command("break final"), &ctx()).await.expect("taken despite the lost answer");
    assert_eq!(lose.log().matches("delay_proxy: lost the answer").count(), 1, "{}", lose.log());
    assert_eq!(done.counter, 1);
    assert!(matches!(state_of(1), Some((LiveState::Done, _))), "{:?}", state_of(1));

    // `back` never gets an answer (every attempt: 503).
    let fail = common::Proxy::start(&s.emu.url, &[&format!("{BATCH}=100")]);
    s.endpoint = fail.url.clone();
    let silent = s.engine(Arc::new(Lines::default())).await;
    let e = silent.live(&command("back final"), &ctx()).await.expect_err("no answer");
    assert!(matches!(e, EngineError::LiveUnanswered { .. }), "{e:?}");
    assert!(
        e.to_string().contains("MediaLive did not answer") && e.to_string().contains("schedule-actions final"),
        "{e}"
    );
    let (state, detail) = state_of(2).expect("the back's record");
    assert_eq!(state, LiveState::Intent, "left for the next command to settle: {detail}");
    assert!(detail.contains("no answer from MediaLive"), "{detail}");

    // The next command, MediaLive answering again, settles it (never arrived) and goes on:
    // the break is still open, so this `back` ends it.
    s.endpoint = direct;
    let done = engine.live(&command("back final"), &ctx()).await.expect("back");
    assert!(done.answer.contains("break 1 ends now"), "{done:?}");
    assert!(
        matches!(state_of(2), Some((LiveState::Failed, d)) if d.contains("not in the schedule")),
        "{:?}",
        state_of(2)
    );
    let held = schedule::describe(&engine.aws.medialive, &channel_id(&store, "final")).await.expect("schedule");
    assert_eq!(breaks(&held), 1, "one break, however often its answer was lost: {held:#?}");
}
