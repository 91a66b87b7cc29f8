//! The front desk on the operations layer's recording engine and a manual clock.

use std::time::Duration;

use super::*;
use crate::chat::access::{Grant, Principal, Role};
use crate::ops::tests::{world, World};

fn grant(role: Role, who: &str) -> Grant {
    Grant { role, who: vec![Principal::parse(who).expect("who")], events: None, channels: None }
}

/// The operations world of `ops::tests` (final on air 20:00-22:00, the clock at 20:30) with
/// viewers, an operator group and two admins.
fn desk() -> (World, Desk) {
    let w = world(Duration::ZERO);
    let mut chat = ChatSettings::default();
    chat.access.grants = vec![
        grant(Role::Viewer, "slack:*"),
        grant(Role::Operator, "slack:group:SOPS"),
        grant(Role::Admin, "slack:ULEAD"),
        grant(Role::Admin, "slack:ULEAD2"),
    ];
    let desk = Desk::new(w.ops.clone(), w.definitions.clone(), w.clock.clone()).with_settings(chat);
    (w, desk)
}

/// `final` deployed and started by the schedule.
async fn on_air(w: &World) {
    let actor = crate::ops::Actor::Schedule;
    w.ops.execute(&actor, Operation::Deploy { event: "final".into() }, None).await.expect("deploy");
    w.ops.execute(&actor, Operation::Start { event: "final".into() }, None).await.expect("start");
}

fn who(user: &str, groups: &[&str]) -> Caller {
    Caller {
        platform: Platform::Slack,
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        channel: "CLIVE".into(),
    }
}

async fn result(turn: Turn) -> Message {
    let mut last = turn.first;
    if let Some(mut rx) = turn.more {
        while let Some(m) = rx.recv().await {
            let done = m.is_final();
            last = m;
            if done {
                break;
            }
        }
    }
    last
}

fn value(m: &Message, prefix: &str) -> String {
    m.buttons.iter().find(|b| b.value.starts_with(prefix)).map(|b| b.value.clone()).expect("button")
}

#[tokio::test]
async fn a_viewer_is_refused_politely_and_the_refusal_is_audited() {
    let (w, desk) = desk();
    let m = desk.command(&who("UVIEW", &[]), "start final").await.first;
    assert_eq!((m.tone, m.visibility), (Tone::Failed, Visibility::Ephemeral));
    assert!(m.reply.headline.starts_with("this needs the operator role on final; you are viewer here"));
    assert!(w.engine.calls().is_empty());
    let rows = w.store.audit(Some("final"), None, true, 10).expect("audit");
    assert!(rows.iter().any(|r| r.actor == "slack:UVIEW" && r.decision == "denied"), "{rows:?}");
}

#[tokio::test]
async fn stop_inside_the_window_needs_a_second_person_and_runs_once() {
    let (w, desk) = desk();
    on_air(&w).await;
    let op = who("UOP", &["SOPS"]);
    let ask = desk.command(&op, "stop final").await.first;
    assert_eq!((ask.tone, ask.visibility), (Tone::Asking, Visibility::InChannel));
    assert!(ask.reply.notes.iter().any(|n| n.contains("inside its scheduled window")), "{:?}", ask.reply.notes);
    let approve = value(&ask, "approve:");
    let own = desk.press(&op, &approve).await.first;
    assert!(own.reply.headline.contains("a different person must approve"), "{}", own.reply.headline);
    let viewer = desk.press(&who("UVIEW", &[]), &approve).await.first;
    assert_eq!(viewer.tone, Tone::Failed);
    let calls_before = w.engine.calls().len();
    let done = result(desk.press(&who("UOP2", &["SOPS"]), &approve).await).await;
    assert!(done.reply.headline.starts_with("final is IDLE"), "{}", done.reply.headline);
    assert_eq!(w.engine.calls().len(), calls_before + 1, "one stop: {:?}", w.engine.calls());
    let again = desk.press(&who("ULEAD", &[]), &approve).await.first;
    assert!(again.reply.headline.contains("was already run by slack:UOP2"), "{}", again.reply.headline);
    assert_eq!(w.engine.calls().len(), calls_before + 1, "a second approval runs nothing");
    let rows = w.store.audit(Some("final"), None, true, 20).expect("audit");
    let stop = rows.iter().find(|r| r.operation == "stop" && r.decision == "allowed").expect("the stop");
    assert_eq!(stop.actor, "slack:UOP", "the requester's command, run on approval");
    assert!(
        stop.args.to_string().contains("approved by slack:UOP2") && stop.args.to_string().contains("slack:CLIVE"),
        "{}",
        stop.args
    );
}

#[tokio::test]
async fn a_switch_away_from_primary_on_air_asks_about_the_switch() {
    let (w, desk) = desk();
    on_air(&w).await;
    let ask = desk.command(&who("UOP", &["SOPS"]), "switch final backup").await.first;
    assert_eq!((ask.tone, ask.visibility), (Tone::Asking, Visibility::Ephemeral));
    assert!(ask.reply.headline.starts_with("Switch final to backup? It is on air now"), "{}", ask.reply.headline);
    assert!(!ask.reply.headline.contains("Tear down"), "{}", ask.reply.headline);
    value(&ask, "confirm:");
}

#[tokio::test]
async fn an_approval_expires_and_then_nothing_runs() {
    let (w, desk) = desk();
    let ask = desk.command(&who("ULEAD", &[]), "teardown final").await.first;
    let approve = value(&ask, "approve:");
    w.clock.advance(chrono::Duration::minutes(16));
    let late = desk.press(&who("ULEAD2", &[]), &approve).await;
    assert!(late.replace, "the request message is replaced");
    assert!(late.first.reply.headline.contains("expired"), "{}", late.first.reply.headline);
    assert!(w.engine.calls().is_empty(), "{:?}", w.engine.calls());
    let rows = w.store.audit(Some("final"), None, true, 20).expect("audit");
    assert!(rows.iter().any(|r| r.decision == "awaiting-approval" && r.actor == "slack:ULEAD"), "{rows:?}");
    assert!(rows.iter().any(|r| r.decision == "expired" && r.actor == "slack:ULEAD2"), "{rows:?}");
}

#[tokio::test]
async fn help_lists_only_what_the_caller_may_run() {
    let (_w, desk) = desk();
    let viewer = desk.command(&who("UVIEW", &[]), "help").await.first.reply.lines.join("\n");
    assert!(viewer.contains("/ott links EVENT") && !viewer.contains("/ott start"), "{viewer}");
    let admin = desk.command(&who("ULEAD", &[]), "help").await.first.reply.lines.join("\n");
    assert!(admin.contains("/ott teardown EVENT") && admin.contains("/ott restart EVENT PIPELINE"), "{admin}");
    let outsider = Caller { platform: Platform::Discord, ..who("UX", &[]) };
    let none = desk.command(&outsider, "help").await.first;
    assert!(none.reply.headline.starts_with("You have no ottd role here"), "{}", none.reply.headline);
}

fn request_id(button: &str) -> i64 {
    button.split_once(':').and_then(|(_, id)| id.parse().ok()).expect("request id")
}

#[tokio::test]
async fn an_approval_runs_only_while_the_requester_still_holds_the_role() {
    let (w, desk) = desk();
    let ask = desk.command(&who("ULEAD", &[]), "teardown final").await.first;
    let approve = value(&ask, "approve:");
    // A reload takes the requester's admin grant away before the second person clicks.
    let mut chat = (*desk.settings()).clone();
    chat.access.grants.retain(|g| !g.who.contains(&Principal::User(Platform::Slack, "ULEAD".into())));
    desk.set_settings(chat);
    let refused = desk.press(&who("ULEAD2", &[]), &approve).await.first;
    assert_eq!(refused.tone, Tone::Failed, "{}", refused.reply.headline);
    assert!(refused.reply.headline.contains("slack:ULEAD"), "{}", refused.reply.headline);
    assert!(w.engine.calls().is_empty(), "{:?}", w.engine.calls());
    let req = w.store.request(request_id(&approve)).expect("read").expect("request");
    assert_ne!(req.state, crate::chat::approval::State::Done);
    let rows = w.store.audit(Some("final"), None, true, 20).expect("audit");
    assert!(rows.iter().any(|r| r.decision == "denied" && r.actor == "slack:ULEAD2"), "{rows:?}");
    assert!(!rows.iter().any(|r| r.operation == "teardown" && r.decision == "allowed"), "{rows:?}");
}

#[tokio::test]
async fn a_click_from_another_channel_settles_nothing() {
    let (w, desk) = desk();
    let ask = desk.command(&who("ULEAD", &[]), "teardown final").await.first;
    let approve = value(&ask, "approve:");
    let elsewhere = Caller { channel: "COTHER".into(), ..who("ULEAD2", &[]) };
    let refused = desk.press(&elsewhere, &approve).await.first;
    assert_eq!(refused.tone, Tone::Failed, "{}", refused.reply.headline);
    assert!(w.engine.calls().is_empty(), "{:?}", w.engine.calls());
    let id = request_id(&approve);
    assert_eq!(w.store.request(id).expect("read").expect("request").state, crate::chat::approval::State::Pending);
    let rows = w.store.audit(Some("final"), None, true, 20).expect("audit");
    assert!(
        rows.iter().any(|r| r.decision == "denied"
            && r.actor == "slack:ULEAD2"
            && r.args.to_string().contains("slack:COTHER")),
        "{rows:?}"
    );
    // From the request's own channel, the same person's click counts.
    let _ = result(desk.press(&who("ULEAD2", &[]), &approve).await).await;
    assert_eq!(w.store.request(id).expect("read").expect("request").state, crate::chat::approval::State::Done);
}

#[tokio::test]
async fn a_replayed_read_is_refused_in_memory_and_after_a_restart_from_the_state_file() {
    let (w, desk) = desk();
    assert!(desk.first_sighting_of_read("slack:sig:v0=read").expect("first"), "the first copy");
    assert!(!desk.first_sighting_of_read("slack:sig:v0=read").expect("again"), "a replay, from memory");
    // A restart: a new desk with nothing in memory, on the same state file.
    w.store.flush().await.expect("flush");
    let again = Desk::new(w.ops.clone(), w.definitions.clone(), w.clock.clone());
    assert!(!again.first_sighting_of_read("slack:sig:v0=read").expect("after"), "a replay, from the state file");
    // A change's record is committed before it runs, and a read's copy of it is a replay too.
    assert!(again.first_sighting("slack:sig:v0=change").await.expect("first"));
    assert!(!again.first_sighting_of_read("slack:sig:v0=change").expect("copy"));
}
