//! A viewer flood: 1,000 signed `/ott status` slash commands in a burst, from 64 connections at
//! once, while the daemon's timers put an event on air. Every request is answered within Slack's
//! 3 s (with the status, or "busy" past `[chat.slack] max_in_flight`); the daemon's tasks,
//! threads and memory stay bounded; and the scheduled deploy and start fire on time.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use ottd::lifecycle::Phase;
use ottd::store::Store;

use common::slack::{command_form, post_signed, SlackStandIn};
use common::{phase, rfc3339, setup, wait_for, Daemon};

const SECRET: &str = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e";
const REQUESTS: usize = 1_000;
const CONNECTIONS: usize = 64;
/// `[chat.slack] max_in_flight` in this test (the default).
const IN_FLIGHT: i64 = 32;

fn get(base: &str, path: &str) -> String {
    let hostport = base.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(hostport) else { return String::new() };
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A metric's value in Prometheus text (the first sample whose name and labels start so).
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()))
}

/// (VmRSS in kB, threads) of a process.
fn footprint(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

#[test]
fn a_viewer_flood_is_answered_bounded_and_the_timers_stay_on_time() {
    // On air 14 s from now: deployed at +6 s, started at +10 s, by the daemon's timers.
    let start = Utc::now() + chrono::Duration::seconds(14);
    let schedule = format!(
        "[[event]]\nid = \"final\"\nstart = \"{}\"\nend = \"{}\"\ndeploy_before = \"8s\"\nstart_before = \"4s\"\n[event.mediaLive]\nchannelClass = \"SINGLE_PIPELINE\"\ninputType = \"URL_PULL\"\npriUrl = \"https://example.com/final/index.m3u8\"\n[event.cloudFront]\naccess_logs = false\n",
        rfc3339(start),
        rfc3339(start + chrono::Duration::seconds(120))
    );
    let s = setup(&schedule);
    let slack = SlackStandIn::start();
    s.append_config(&slack.http_config("", &[("viewer", "\"slack:*\"")]));
    s.ottd(&["bootstrap"]);
    let d = Daemon::start_with(&s, "daemon", &[("SLACK_SIGNING_SECRET", SECRET.into())]);
    let base = d.base_url();
    let store = Store::open(&s.state_path()).expect("state");
    let (rss_before, _) = footprint(d.pid());

    // The burst begins just before the deploy's boundary and runs through it.
    let deploy_at = start - chrono::Duration::seconds(8);
    let lead = (deploy_at - chrono::Duration::milliseconds(500) - Utc::now()).to_std().unwrap_or_default();
    std::thread::sleep(lead); // waiting for a wall-clock instant, not for a signal
    let next = Arc::new(AtomicUsize::new(0));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let statuses = Arc::new(Mutex::new(Vec::with_capacity(REQUESTS)));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (base, done) = (base.clone(), done.clone());
        let pid = d.pid();
        std::thread::spawn(move || {
            let (mut tasks, mut rss, mut threads) = (0f64, 0u64, 0u64);
            while !done.load(Ordering::SeqCst) {
                tasks = tasks.max(metric(&get(&base, "/metrics"), "ottd_tasks").unwrap_or(0.0));
                let (r, t) = footprint(pid);
                (rss, threads) = (rss.max(r), threads.max(t));
                std::thread::sleep(Duration::from_millis(20)); // sampling period
            }
            (tasks, rss, threads)
        })
    };
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (base, next, slowest, statuses) = (base.clone(), next.clone(), slowest.clone(), statuses.clone());
            let response_url = slack.response_url(1);
            std::thread::spawn(move || loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= REQUESTS {
                    return;
                }
                let form = command_form(&format!("UVIEW{n}"), "CLIVE", "status final", &response_url);
                let t = Instant::now();
                let (status, body) =
                    post_signed(&format!("{base}/slack/commands"), SECRET, Utc::now().timestamp(), &form);
                let took = t.elapsed();
                let mut m = slowest.lock().unwrap_or_else(|p| p.into_inner());
                *m = (*m).max(took);
                drop(m);
                statuses.lock().unwrap_or_else(|p| p.into_inner()).push((status, body.contains("busy")));
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    done.store(true, Ordering::SeqCst);
    let (max_tasks, max_rss, max_threads) = watcher.join().expect("watcher");

    let statuses = statuses.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let busy = statuses.iter().filter(|(_, b)| *b).count();
    assert_eq!(statuses.len(), REQUESTS);
    assert!(statuses.iter().all(|(s, _)| *s == 200), "every request answered: {:?}", &statuses[..5]);
    let slowest = *slowest.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "flood: {REQUESTS} requests, {busy} answered busy, slowest {slowest:?}; peak tasks {max_tasks}, threads {max_threads}, RSS {rss_before} -> {max_rss} kB"
    );
    assert!(slowest < Duration::from_secs(3), "every answer within Slack's 3 s: slowest {slowest:?}");
    // Chat holds at most IN_FLIGHT requests, each with at most two tasks; the alert intake
    // and recovery add at most 40 of their own.
    assert!(max_tasks <= (2 * IN_FLIGHT + 40) as f64, "tasks bounded: peak {max_tasks}");
    assert!(max_threads <= 64, "threads bounded: peak {max_threads}");
    assert!(max_rss <= rss_before + 64 * 1024, "memory bounded: {rss_before} -> {max_rss} kB");

    // The timers: deployed and started by the schedule, each within a second of its boundary.
    wait_for("the event on air", &d, Duration::from_secs(40), || phase(&store, "final") == Some(Phase::Running));
    let m = get(&base, "/metrics");
    let count = metric(&m, "ottd_fire_lateness_seconds_count").unwrap_or(0.0);
    let within = metric(&m, "ottd_fire_lateness_seconds_bucket{le=\"1.0\"}").unwrap_or(0.0);
    assert!(count >= 2.0, "deploy and start fired: {m}");
    assert_eq!(within, count, "every scheduled action within 1 s of its boundary:\n{m}");
}
