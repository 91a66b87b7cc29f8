//! `ottd run` end to end: the daemon process against the emulator, with events a few seconds
//! ahead. The timeline is read from the state file the daemon writes; the clock is the real
//! one, so lead times are short and every assertion allows for it.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use ottd::lifecycle::Phase;
use ottd::store::Store;

use common::{phase, rfc3339, setup, wait_for, Daemon};

fn event(id: &str, start: DateTime<Utc>, end: DateTime<Utc>, lead: &str) -> String {
    format!(
        "[[event]]\nid = \"{id}\"\nstart = \"{}\"\nend = \"{}\"\n{lead}\n[event.mediaLive]\nchannelClass = \"SINGLE_PIPELINE\"\ninputType = \"URL_PULL\"\npriUrl = \"https://example.com/{id}/index.m3u8\"\n[event.cloudFront]\naccess_logs = false\n",
        rfc3339(start),
        rfc3339(end)
    )
}

/// Wait for wall-clock time itself (a schedule boundary), not for a signal.
fn wait_until(t: DateTime<Utc>) {
    if let Ok(d) = (t - Utc::now()).to_std() {
        std::thread::sleep(d);
    }
}

#[test]
fn the_daemon_puts_an_event_on_air_and_takes_it_down_on_time() {
    let now = Utc::now();
    let on_air = now + chrono::Duration::seconds(12);
    let off_air = on_air + chrono::Duration::seconds(4);
    let lead = "deploy_before = \"8s\"\nstart_before = \"4s\"\nteardown_after = \"3s\"";
    let past = event("over", now - chrono::Duration::seconds(120), now - chrono::Duration::seconds(60), lead);
    let s = setup(&format!("{}\n{past}", event("match", on_air, off_air, lead)));
    s.ottd(&["bootstrap"]);
    let d = Daemon::start(&s, "daemon");
    let store = Store::open(&s.state_path()).expect("state");
    let mut seen: Vec<(Phase, DateTime<Utc>)> = Vec::new();
    let mut gauge_saw_running = false;
    wait_for("the event to be torn down", &d, Duration::from_secs(60), || {
        if let Some(p) = phase(&store, "match") {
            if seen.last().map(|(q, _)| *q) != Some(p) {
                seen.push((p, Utc::now()));
            }
            // The phase gauge follows the state (one read per look, shared with the probe).
            if p == Phase::Running && !gauge_saw_running {
                let metrics = common::http_get(&format!("{}/metrics", d.base_url())).1;
                gauge_saw_running = metrics.contains("ottd_events{phase=\"running\"} 1");
            }
        }
        seen.last().is_some_and(|(p, _)| *p == Phase::TornDown)
    });
    assert!(gauge_saw_running, "ottd_events{{phase=\"running\"}} never said 1 while the event ran");
    let at = |p: Phase| seen.iter().find(|(q, _)| *q == p).map(|(_, t)| *t);
    // Each phase is recorded when its AWS work is done: allow for that on a loaded machine.
    let tolerance = chrono::Duration::milliseconds(2500);
    let deployed = at(Phase::Deployed).unwrap_or_else(|| panic!("never deployed: {seen:?}\n{}", d.log()));
    let running = at(Phase::Running).unwrap_or_else(|| panic!("never running: {seen:?}\n{}", d.log()));
    let stopped = at(Phase::Stopped).unwrap_or_else(|| panic!("never stopped: {seen:?}\n{}", d.log()));
    let torn = at(Phase::TornDown).expect("torn down");
    let (deploy_at, start_at) = (on_air - chrono::Duration::seconds(8), on_air - chrono::Duration::seconds(4));
    let teardown_at = off_air + chrono::Duration::seconds(3);
    assert!(deployed >= deploy_at && deployed <= deploy_at + tolerance, "deployed at {deployed}, due {deploy_at}");
    assert!(running >= start_at && running <= start_at + tolerance, "running at {running}, due {start_at}");
    assert!(stopped >= off_air && stopped <= off_air + tolerance, "stopped at {stopped}, due {off_air}");
    assert!(torn >= teardown_at && torn <= teardown_at + tolerance, "torn down at {torn}, due {teardown_at}");
    assert!(deployed < running && running < stopped && stopped < torn);
    // An event whose end had passed before the daemon started is never deployed or started.
    assert_eq!(phase(&store, "over"), None);
    let status = s.ottd(&["status", "match"]);
    assert!(status.contains("match: torn-down"), "{status}");
}

#[test]
fn after_kill_9_the_daemon_catches_up_with_the_schedule() {
    let now = Utc::now();
    let on_air = now + chrono::Duration::seconds(6);
    let off_air = on_air + chrono::Duration::seconds(8);
    let lead = "deploy_before = \"5s\"\nstart_before = \"2s\"\nteardown_after = \"1s\"";
    let s = setup(&event("final", on_air, off_air, lead));
    // A kill -9 may land before the deploy's lease is given back: the restarted daemon then
    // takes it over after one lease (3 s here; 15 s by default).
    s.append_config("[lease]\nduration = \"3s\"\nrenew_deadline = \"2s\"\nretry = \"500ms\"\n");
    s.ottd(&["bootstrap"]);
    let store = Store::open(&s.state_path()).expect("state");

    // Killed while deployed, before the start: restarted inside the window, it starts at once
    // (or one lease later, if the kill came before the deploy gave its lease back).
    let d = Daemon::start(&s, "first");
    wait_for("the deploy", &d, Duration::from_secs(20), || phase(&store, "final") == Some(Phase::Deployed));
    d.kill9();
    wait_until(on_air);
    let d = Daemon::start(&s, "second");
    wait_for("the channel to run after restart", &d, Duration::from_secs(15), || {
        phase(&store, "final") == Some(Phase::Running)
    });
    let caught_up = Utc::now();
    assert!(caught_up < on_air + chrono::Duration::seconds(3 + 5), "caught up at {caught_up}, window opened {on_air}");

    // Killed while running; the window ends while it is down: restarted, it stops and tears down.
    d.kill9();
    wait_until(off_air + chrono::Duration::seconds(2));
    let d = Daemon::start(&s, "third");
    wait_for("teardown after restart", &d, Duration::from_secs(20), || phase(&store, "final") == Some(Phase::TornDown));
    let log = d.log();
    assert!(!log.contains("action=start"), "an event whose end has passed is never started:\n{log}");
}

#[test]
fn a_broken_schedule_on_reload_keeps_the_last_good_one_running() {
    let now = Utc::now();
    let on_air = now + chrono::Duration::seconds(6);
    let off_air = on_air + chrono::Duration::seconds(30);
    let lead = "deploy_before = \"4s\"\nstart_before = \"2s\"\nteardown_after = \"1s\"";
    let s = setup(&event("keep", on_air, off_air, lead));
    s.ottd(&["bootstrap"]);
    let store = Store::open(&s.state_path()).expect("state");
    let d = Daemon::start(&s, "daemon");
    wait_for("the deploy", &d, Duration::from_secs(20), || phase(&store, "keep") == Some(Phase::Deployed));

    // A second file, broken: reported with file, line and field; the running schedule stays.
    let broken = s.schedule_file("broken.toml");
    std::fs::write(&broken, "[[event]]\nid = \"next\"\ninputType = 3\n").expect("write");
    wait_for("the reload error in status", &d, Duration::from_secs(30), || {
        s.ottd(&["status"]).contains("broken.toml:3:")
    });
    let status = s.ottd(&["status"]);
    assert!(status.contains("last good one is in force"), "{status}");
    assert!(d.log().contains("configuration NOT reloaded"), "{}", d.log());
    wait_for("the start on the old schedule", &d, Duration::from_secs(15), || {
        phase(&store, "keep") == Some(Phase::Running)
    });

    // Operator override: a manual stop is not fought; `resume` hands control back.
    s.ottd(&["stop", "keep"]);
    assert_eq!(phase(&store, "keep"), Some(Phase::Stopped));
    let status = s.ottd(&["status", "keep"]);
    assert!(status.contains("override: keep stop"), "{status}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(phase(&store, "keep"), Some(Phase::Stopped), "the daemon did not restart a manually stopped event");
    s.ottd(&["resume", "keep"]);
    wait_for("the schedule to take over again", &d, Duration::from_secs(30), || {
        phase(&store, "keep") == Some(Phase::Running)
    });

    // Removing the live event's file does not kill it: it runs on, with a warning.
    std::fs::remove_file(&broken).expect("remove");
    std::fs::remove_file(s.schedule_file("events.toml")).expect("remove");
    wait_for("the removal warning", &d, Duration::from_secs(30), || {
        d.log().contains("event removed from the schedule files")
    });
    assert!(!s.ottd(&["status"]).contains("could not load"), "errors cleared once the files are valid");
    assert_eq!(phase(&store, "keep"), Some(Phase::Running), "a removed live event keeps running");
}
