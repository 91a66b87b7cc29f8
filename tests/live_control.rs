//! Live control's first edge on the emulator (issue 21, in progress): a command decided by the
//! pure `live` module is written to the running channel's MediaLive schedule through the real
//! AWS SDK (BatchUpdateSchedule), read back (DescribeSchedule), and a retry of the same command
//! creates nothing twice: MediaLive refuses the names it holds, and the comparison says done.

mod common;

use std::sync::Arc;

use chrono::Utc;
use ottd::aws::schedule;
use ottd::config::workflow::ChannelClass;
use ottd::live::{self, ChannelView, Decision, EventZone, Ids, Inputs, Retry, Settings};
use ottd::store::Store;

use common::{channel_id, setup, Lines, ON_DEMAND_FINAL};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_reaches_the_channels_schedule_once_however_often_it_is_sent() {
    let s = setup(ON_DEMAND_FINAL);
    let engine = s.engine(Arc::new(Lines::default())).await;
    let event = s.catalog().events.iter().find(|e| e.spec.id == "final").expect("final").clone();
    engine.deploy(&event).await.expect("deploy");
    engine.start("final").await.expect("start");
    let store = Store::open(&s.state_path()).expect("state");
    let channel = channel_id(&store, "final");
    let nonce = store.deployment("final").expect("state").expect("deployed").nonce;
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
