//! The decision tables, and the issue's examples from the typed text to the plan.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Europe::Paris;
use proptest::prelude::*;

use super::*;
use crate::config::grants::Role;
use crate::config::workflow::ChannelClass;
use crate::live::naming::NamingError;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
}

/// 20:00 in Paris.
fn now() -> DateTime<Utc> {
    t("2026-12-18T19:00:00Z")
}

const PRIMARY: &str = "ottd-final-1a2b3c4d-rtmp-push";
const BACKUP: &str = "ottd-final-1a2b3c4d-rtmp-push-backup";
const IDS: Ids<'static> = Ids { nonce: "1a2b3c4d", counter: 17 };

/// A running STANDARD channel on primary, inside its window, no break, no slate.
fn channel() -> ChannelView {
    ChannelView {
        class: ChannelClass::Standard,
        running: true,
        inputs: Inputs {
            primary: PRIMARY.into(),
            backup: Some(BACKUP.into()),
            others: vec!["slate-loop".into()],
            pair: None,
        },
        active: vec![Some(PRIMARY.into()), Some(PRIMARY.into())],
        open_break: None,
        slate_up: false,
        slate_image: Some("s3://ottd-assets/final/slate.png".into()),
        in_window: true,
        tz: Paris,
    }
}

fn run(text: &str, ch: &ChannelView) -> Decision {
    let events = [EventZone { id: "final", tz: Paris }];
    match parse(text, &events, now()) {
        Ok(cmd) => decide(&cmd, ch, IDS, now()),
        Err(e) => panic!("{text}: {e}"),
    }
}

fn write(text: &str, ch: &ChannelView) -> Plan {
    match run(text, ch) {
        Decision::Write(p) => p,
        other => panic!("{text}: {other:?}"),
    }
}

fn refusal(text: &str, ch: &ChannelView) -> String {
    match run(text, ch) {
        Decision::Refuse(r) => r.to_string(),
        other => panic!("{text}: {other:?}"),
    }
}

fn action(name: &str, start: When, settings: Settings) -> ScheduleAction {
    ScheduleAction { name: name.into(), start, settings }
}

#[test]
fn issue_break_final_90s_is_a_splice_insert_of_8_100_000_ticks() {
    let p = write("break final 90s", &channel());
    let ticks = Ticks::from_millis(90_000).ok();
    assert_eq!(ticks.map(Ticks::get), Some(8_100_000));
    assert_eq!(
        p.actions,
        [action(
            "ottd-final-1a2b3c4d-break-17",
            When::immediate(),
            Settings::SpliceInsert { splice_event_id: 17, duration: ticks }
        )]
    );
    assert_eq!(p.confirm, None);
    assert_eq!(p.answer, "break on final now for 1m30s: splice insert 17 (8100000 ticks)");
    assert_eq!(p, write("break final 90s", &channel()), "the same command and counter, the same plan");
}

#[test]
fn issue_back_final_returns_to_network_with_the_open_breaks_id() {
    let ch = ChannelView { open_break: Some(12), ..channel() };
    let p = write("back final", &ch);
    assert_eq!(
        p.actions,
        [action("ottd-final-1a2b3c4d-back-12", When::immediate(), Settings::ReturnToNetwork { splice_event_id: 12 })]
    );
    assert_eq!(p.answer, "back to the network on final: break 12 ends now");
    let no = refusal("back final", &channel());
    assert!(no.starts_with("no open break on final by ottd") && no.contains("/ott back final SPLICE_ID"), "{no}");
    // A break started elsewhere, by its splice id, whatever ottd's own say.
    let p = write("back final 4242", &channel());
    assert_eq!(
        p.actions,
        [action(
            "ottd-final-1a2b3c4d-return-17",
            When::immediate(),
            Settings::ReturnToNetwork { splice_event_id: 4242 }
        )]
    );
    assert_eq!(p.answer, "back to the network on final: break 4242 ends now");
}

#[test]
fn issue_switch_final_backup_asks_inside_the_window() {
    let p = write("switch final backup", &channel());
    assert_eq!(
        p.actions,
        [action(
            "ottd-final-1a2b3c4d-switch-17",
            When::immediate(),
            Settings::InputSwitch { attachment: BACKUP.into() }
        )]
    );
    assert_eq!(
        p.confirm.as_deref(),
        Some(format!("final is on air: switch it away from primary, to backup (`{BACKUP}`)?").as_str())
    );
    assert_eq!(
        p.answer,
        format!("switching final to backup (`{BACKUP}`) in about 10 s: MediaLive switches both pipelines together")
    );
    let outside = ChannelView { in_window: false, ..channel() };
    assert_eq!(write("switch final backup", &outside).confirm, None, "outside the window: no question");
    let on_backup = ChannelView { active: vec![Some(BACKUP.into()); 2], ..channel() };
    assert_eq!(write("switch final primary", &on_backup).confirm, None, "back to primary: no question");
    assert!(write("switch final slate-loop", &channel()).confirm.is_some(), "any other attachment asks too");
}

#[test]
fn issue_schedule_actions_is_a_viewers_read() {
    let events = [EventZone { id: "final", tz: Paris }];
    let cmd = parse("schedule-actions final", &events, now()).expect("parses");
    assert_eq!((cmd.role(), cmd.changes_aws()), (Role::Viewer, false));
    // Whatever the channel's state, even off air: a read.
    let idle = ChannelView { running: false, ..channel() };
    assert_eq!(decide(&cmd, &idle, IDS, now()), Decision::Read);
}

#[test]
fn a_single_pipeline_switch_is_immediate() {
    let ch = ChannelView { class: ChannelClass::SinglePipeline, active: vec![Some(PRIMARY.into())], ..channel() };
    assert_eq!(write("switch final backup", &ch).answer, format!("switching final to backup (`{BACKUP}`) now"));
}

#[test]
fn breaks_open_close_and_schedule() {
    let p = write("break final", &channel());
    assert_eq!(p.actions[0].settings, Settings::SpliceInsert { splice_event_id: 17, duration: None });
    assert_eq!(p.answer, "break on final now until `/ott back final`: splice insert 17");
    let open = ChannelView { open_break: Some(12), ..channel() };
    assert_eq!(
        refusal("break final 30s", &open),
        "a break is already open on final (splice event 12): `/ott back final` ends it"
    );
    // A later break may be scheduled while one is open, and while the channel is off air.
    let p = write("break final 2m at 20:15", &open);
    assert_eq!(p.actions[0].start, When::fixed(t("2026-12-18T19:15:00Z")));
    assert_eq!(p.answer, "break on final at 20:15:00 CET for 2m: splice insert 17 (10800000 ticks)");
    let idle = ChannelView { running: false, ..channel() };
    assert_eq!(write("break final at 20:15", &idle).actions.len(), 1);
    assert_eq!(refusal("break final", &idle), "final's channel is not running: `break` needs it on air");
}

#[test]
fn fixed_breaks_obey_medialives_15_s_to_14_days() {
    assert_eq!(
        refusal("break final at 20:00:04", &channel()),
        "MediaLive needs 15 s to 14 days ahead: 20:00:04 CET is 4 s from now"
    );
    assert_eq!(
        refusal("break final at 19:59:55", &channel()),
        "MediaLive needs 15 s to 14 days ahead: 19:59:55 CET was 5 s ago"
    );
    assert_eq!(
        write("break final at 20:00:15", &channel()).actions[0].start,
        When::fixed(now() + Duration::seconds(15))
    );
    // At the exact bounds, through `decide` (`at` reaches 12 h; 14 days come from the CLI).
    let at = |secs| LiveCommand::Break {
        event: "final".into(),
        duration: None,
        start: Start::Fixed(now() + Duration::seconds(secs)),
    };
    let fourteen_days = 14 * 86_400;
    assert!(matches!(decide(&at(fourteen_days), &channel(), IDS, now()), Decision::Write(_)));
    assert!(matches!(decide(&at(fourteen_days + 1), &channel(), IDS, now()), Decision::Refuse(Refusal::Timing { .. })));
    assert!(matches!(decide(&at(14), &channel(), IDS, now()), Decision::Refuse(Refusal::Timing { .. })));
}

#[test]
fn the_slate_goes_up_and_down_once() {
    let p = write("slate final on", &channel());
    assert_eq!(
        p.actions,
        [action(
            "ottd-final-1a2b3c4d-slate-on-17",
            When::immediate(),
            Settings::StaticImageActivate {
                uri: "s3://ottd-assets/final/slate.png".into(),
                layer: 7,
                duration_ms: None
            }
        )]
    );
    assert_eq!(p.answer, "slate up on final (full frame, top layer) until `/ott slate final off`");
    let up = ChannelView { slate_up: true, ..channel() };
    assert_eq!(refusal("slate final on", &up), "the slate is already up on final");
    let p = write("slate final off", &up);
    assert_eq!(
        p.actions,
        [action("ottd-final-1a2b3c4d-slate-off-17", When::immediate(), Settings::StaticImageDeactivate { layer: 7 })]
    );
    assert_eq!(refusal("slate final off", &channel()), "the slate is not up on final");
    let no_image = ChannelView { slate_image: None, ..channel() };
    assert_eq!(refusal("slate final on", &no_image), "final has no slate image: its workflow names none");
    let idle = ChannelView { running: false, ..channel() };
    assert_eq!(refusal("slate final on", &idle), "final's channel is not running: `slate` needs it on air");
}

#[test]
fn switches_check_the_target_and_where_the_channel_is() {
    assert_eq!(refusal("switch final bakup", &channel()), "final has no attachment `bakup`: did you mean `backup`?");
    assert_eq!(refusal("switch final primary", &channel()), format!("final is already on primary (`{PRIMARY}`)"));
    // One pipeline on each (a failover on one): the switch aligns them.
    let split = ChannelView { active: vec![Some(PRIMARY.into()), Some(BACKUP.into())], ..channel() };
    assert!(matches!(run("switch final primary", &split), Decision::Write(_)));
    // A pipeline nobody reported: not known to be there already.
    let unknown = ChannelView { active: vec![Some(PRIMARY.into()), None], ..channel() };
    assert!(matches!(run("switch final primary", &unknown), Decision::Write(_)));
    let alone = ChannelView { inputs: Inputs { backup: None, ..channel().inputs }, ..channel() };
    assert!(refusal("switch final backup", &alone).starts_with("final has no backup input"));
    let by_name = write(&format!("switch final {BACKUP}"), &channel());
    assert_eq!(by_name.actions[0].settings, Settings::InputSwitch { attachment: BACKUP.into() });
    let idle = ChannelView { running: false, ..channel() };
    assert_eq!(refusal("switch final backup", &idle), "final's channel is not running: `switch` needs it on air");
}

#[test]
fn medialive_switches_within_a_failover_pair_only_with_equal_preference() {
    let pair = |pref| ChannelView { inputs: Inputs { pair: Some(pref), ..channel().inputs }, ..channel() };
    let preferred = pair(InputPreference::PrimaryPreferred);
    assert!(
        refusal("switch final backup", &preferred).contains("switches within a pair only with EQUAL_INPUT_PREFERENCE")
    );
    let failed_over = ChannelView { active: vec![Some(BACKUP.into()); 2], ..preferred.clone() };
    assert!(refusal("switch final primary", &failed_over).starts_with("final is on its backup"));
    // Out of the pair and back into it by its primary is fine.
    assert!(matches!(run("switch final slate-loop", &preferred), Decision::Write(_)));
    let on_loop = ChannelView { active: vec![Some("slate-loop".into()); 2], ..preferred };
    assert!(matches!(run("switch final primary", &on_loop), Decision::Write(_)));
    let equal = pair(InputPreference::Equal);
    assert!(matches!(run("switch final backup", &equal), Decision::Write(_)));
}

#[test]
fn a_bad_nonce_is_refused_before_anything_is_written() {
    let cmd = LiveCommand::Back { event: "final".into(), splice: None };
    let ch = ChannelView { open_break: Some(3), ..channel() };
    let r = decide(&cmd, &ch, Ids { nonce: "", counter: 1 }, now());
    assert_eq!(r, Decision::Refuse(Refusal::Naming(NamingError::Empty { part: "deployment nonce" })));
}

#[test]
fn a_retried_command_finds_its_own_action() {
    let p = write("break final 90s at 20:15", &channel());
    assert_eq!(retry(&p.actions, &[]), Retry::Send);
    assert_eq!(retry(&p.actions, &p.actions), Retry::Done, "the first attempt went through");
    let again = write("break final 90s at 20:15", &channel());
    assert_eq!(retry(&again.actions, &p.actions), Retry::Done, "same counter, same name, same settings");
    let other = write("break final 30s at 20:15", &channel());
    assert!(matches!(retry(&other.actions, &p.actions), Retry::Conflict { .. }), "same name, other settings");
}

fn view() -> impl Strategy<Value = ChannelView> {
    let attachment = prop::sample::select(vec![
        Some(PRIMARY.to_string()),
        Some(BACKUP.to_string()),
        Some("slate-loop".into()),
        None,
    ]);
    (
        any::<bool>(),
        any::<bool>(),
        prop::option::of(any::<u32>()),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(attachment, 1..=2),
        prop::option::of(prop::sample::select(vec![InputPreference::PrimaryPreferred, InputPreference::Equal])),
    )
        .prop_map(|(standard, running, open_break, slate_up, in_window, active, pair)| ChannelView {
            class: if standard { ChannelClass::Standard } else { ChannelClass::SinglePipeline },
            running,
            inputs: Inputs { pair, ..channel().inputs },
            active,
            open_break,
            slate_up,
            in_window,
            ..channel()
        })
}

proptest! {
    #[test]
    fn every_plan_is_one_valid_action_that_fits_medialive(
        ch in view(),
        text in prop::sample::select(vec![
            "break final", "break final 90s", "break final 26h30m43s", "break final 1 at 20:30", "back final",
            "slate final on", "slate final off", "switch final primary", "switch final backup",
            "switch final slate-loop", "schedule-actions final",
        ]),
        counter in any::<u32>(),
    ) {
        let events = [EventZone { id: "final", tz: Paris }];
        let cmd = parse(text, &events, now()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match decide(&cmd, &ch, Ids { nonce: "1a2b3c4d", counter }, now()) {
            Decision::Write(p) => {
                prop_assert!(cmd.changes_aws());
                prop_assert_eq!(p.actions.len(), 1);
                let a = &p.actions[0];
                let name = ActionName::parse(&a.name).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(name.parts().map(|n| n.event), Some("final".to_string()));
                if let When::Start(Start::Fixed(at)) = a.start {
                    prop_assert!(check_fixed(now(), at).is_ok());
                } else {
                    prop_assert!(ch.running, "immediate actions only on a running channel");
                }
                match &a.settings {
                    Settings::SpliceInsert { duration, .. } => prop_assert!(duration.is_none_or(|d| d <= Ticks::MAX)),
                    Settings::ReturnToNetwork { splice_event_id } => prop_assert_eq!(Some(*splice_event_id), ch.open_break),
                    Settings::InputSwitch { attachment } => prop_assert!(ch.inputs.slot(attachment).is_some()),
                    _ => {}
                }
                let leaves_primary = matches!(&a.settings, Settings::InputSwitch { attachment } if *attachment != ch.inputs.primary);
                prop_assert_eq!(p.confirm.is_some(), leaves_primary && ch.in_window);
            }
            Decision::Read => prop_assert!(!cmd.changes_aws()),
            Decision::Refuse(r) => prop_assert!(!r.to_string().is_empty()),
        }
    }
}
