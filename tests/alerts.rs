//! Alerts end to end: MediaLive's events put on EventBridge (as MediaLive would), through the
//! rule `ottd bootstrap` made, to its SQS queue, into `ottd run`; recovery's actions visible
//! in the emulator and notifications reaching a local HTTP receiver subscribed to the SNS
//! topic. The daemon runs on the real clock; every wait polls for an observable effect.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use ottd::lifecycle::Phase;
use ottd::store::Store;

use common::{channel_id, on_air_event, phase, put_alert, rfc3339, setup, wait_for, Daemon, Setup};

/// The test's alert policies: fast, so the tests are short.
const POLICIES: &str = "\n[alerts]\nbreaker = 2\nbreaker_window = \"1h\"\n[alerts.policy.\"Failed to Write to Output\"]\nremedy = \"restart-pipeline\"\nwait = \"1s\"\n[alerts.policy.\"Failed HTTP Post Output Request\"]\nremedy = \"restart-pipeline\"\nwait = \"3s\"\n";

fn with_policies(s: &Setup) {
    s.append_config(POLICIES);
}

/// The alert tests' start: `final` on air, with the test policies and the plumbing
/// `bootstrap` made; the daemon running (as `name`); the event's MediaLive channel id.
struct OnAir {
    s: Setup,
    store: Store,
    d: Daemon,
    channel: String,
}

fn on_air(name: &str) -> OnAir {
    let s = setup(&on_air_event("final", 120, ""));
    with_policies(&s);
    let boot = s.ottd(&["bootstrap"]);
    assert!(boot.contains("alert queue:"), "{boot}");
    let store = Store::open(&s.state_path()).expect("state");
    let d = Daemon::start(&s, name);
    wait_for("the event on air", &d, Duration::from_secs(40), || phase(&store, "final") == Some(Phase::Running));
    let channel = channel_id(&store, "final");
    OnAir { s, store, d, channel }
}

/// A plain HTTP GET on the emulator (its test-only endpoints have no SDK).
fn http_get(base: &str, path: &str) -> String {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).expect("connect to the emulator");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

fn restarts(s: &Setup, channel: &str) -> Vec<serde_json::Value> {
    let body = http_get(&s.emu.url, &format!("/ottd-emulator/restarts?channel_id={channel}"));
    serde_json::from_str::<Vec<serde_json::Value>>(&body).unwrap_or_default()
}

/// Put a MediaLive alert on EventBridge, as MediaLive would.
/// A local HTTP receiver for SNS deliveries: every POST body, in order.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/sns", listener.local_addr().expect("addr"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let keep = bodies.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let mut r = BufReader::new(conn);
                let mut len = 0usize;
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                keep.lock().unwrap_or_else(|p| p.into_inner()).push(String::from_utf8_lossy(&body).to_string());
                let _ = r.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            }
        });
        Receiver { url, bodies }
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn subscribe(s: &Setup, store: &Store, receiver: &Receiver) {
    let topic = store.meta("alerts.topic_arn").expect("meta").expect("bootstrap recorded the topic");
    let aws = s.aws().await;
    aws.sns.subscribe().topic_arn(topic).protocol("http").endpoint(&receiver.url).send().await.expect("subscribe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_error_restarts_its_pipeline_and_people_are_told() {
    let s = setup(&on_air_event("final", 120, ""));
    with_policies(&s);
    let boot = s.ottd(&["bootstrap"]);
    assert!(boot.contains("alert queue:"), "{boot}");
    let store = Store::open(&s.state_path()).expect("state");
    let receiver = Receiver::start();
    subscribe(&s, &store, &receiver).await;
    let d = Daemon::start(&s, "daemon");
    wait_for("the event on air", &d, Duration::from_secs(40), || phase(&store, "final") == Some(Phase::Running));
    let channel = channel_id(&store, "final");

    put_alert(&s, &channel, "SET", "a1", "Failed to Write to Output", "0").await;
    wait_for("the pipeline restart", &d, Duration::from_secs(20), || !restarts(&s, &channel).is_empty());
    let r = restarts(&s, &channel);
    assert_eq!(r.len(), 1, "one restart: {r:?}");
    assert_eq!(r[0]["pipeline_ids"], serde_json::json!(["PIPELINE_0"]));
    wait_for("the notifications", &d, Duration::from_secs(10), || {
        let b = receiver.bodies().join("\n");
        b.contains("Failed to Write to Output") && b.contains("restart-pipeline")
    });
    let alerts = s.ottd(&["alerts", "final"]);
    assert!(alerts.contains("Failed to Write to Output") && alerts.contains("recovery: restart-pipeline"), "{alerts}");
    let audit = s.ottd(&["audit", "final"]);
    assert!(
        audit.lines().any(|l| l.contains("recovery") && l.contains("restart-pipeline") && l.contains(" ok")),
        "{audit}"
    );
    // The audit row says which alert it answered.
    let json = s.ottd(&["--output", "json", "audit", "final"]);
    assert!(json.contains("Failed to Write to Output on pipeline 0"), "{json}");

    // The same event delivered again changes nothing; CLEARED closes the alert.
    put_alert(&s, &channel, "CLEARED", "a1", "Failed to Write to Output", "0").await;
    wait_for("the alert cleared", &d, Duration::from_secs(10), || {
        store.alerts(Some("final"), false).map(|a| a.is_empty()).unwrap_or(false)
    });
    assert_eq!(restarts(&s, &channel).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_done_for_an_alert_cleared_in_time_or_on_hold_and_the_breaker_stops_repeats() {
    let OnAir { s, store, d, channel } = on_air("daemon");

    // SET then CLEARED within the 3 s wait: no action, even once the wait is over.
    put_alert(&s, &channel, "SET", "b1", "Failed HTTP Post Output Request", "0").await;
    put_alert(&s, &channel, "CLEARED", "b1", "Failed HTTP Post Output Request", "0").await;
    wait_for("both recorded", &d, Duration::from_secs(10), || {
        store.alerts(Some("final"), true).map(|a| a.iter().any(|x| x.cleared_at.is_some())).unwrap_or(false)
    });
    std::thread::sleep(Duration::from_secs(4)); // past the policy's wait: absence is the point
    assert!(restarts(&s, &channel).is_empty(), "cleared within the wait: nothing done");

    // On hold: recorded, not acted on.
    s.ottd(&["hold", "final"]);
    put_alert(&s, &channel, "SET", "b2", "Failed to Write to Output", "0").await;
    wait_for("the alert recorded", &d, Duration::from_secs(10), || {
        store.alerts(Some("final"), false).map(|a| a.len() == 1).unwrap_or(false)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(restarts(&s, &channel).is_empty(), "on hold: nothing done");
    // Cleared before the resume: an alert still SET at the resume would be acted on at the
    // next sweep (recovery looks again at every alert nobody settled).
    put_alert(&s, &channel, "CLEARED", "b2", "Failed to Write to Output", "0").await;
    wait_for("b2 cleared", &d, Duration::from_secs(10), || {
        store.alerts(Some("final"), false).map(|a| a.is_empty()).unwrap_or(false)
    });
    s.ottd(&["resume", "final"]);

    // The breaker (2 per hour here): a third alert only notifies.
    for (n, id) in ["c1", "c2", "c3"].iter().enumerate() {
        put_alert(&s, &channel, "SET", id, "Failed to Write to Output", "0").await;
        if n < 2 {
            wait_for("a restart", &d, Duration::from_secs(15), || restarts(&s, &channel).len() == n + 1);
        }
    }
    wait_for("the breaker notice", &d, Duration::from_secs(15), || d.log().contains("breaker open"));
    assert_eq!(restarts(&s, &channel).len(), 2, "no third restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_stopped_behind_ottds_back_during_its_window_is_started_again() {
    let OnAir { s, d, channel, .. } = on_air("daemon");
    let aws = s.aws().await;
    // Someone stops it in the console; MediaLive says so on EventBridge.
    aws.medialive.stop_channel().channel_id(&channel).send().await.expect("stop");
    let state = || {
        let aws = aws.clone();
        let channel = channel.clone();
        async move {
            aws.medialive
                .describe_channel()
                .channel_id(channel)
                .send()
                .await
                .ok()
                .and_then(|c| c.state)
                .map(|s| s.as_str().to_string())
        }
    };
    assert_eq!(state().await.as_deref(), Some("IDLE"));
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if state().await.as_deref() == Some("RUNNING") {
            break;
        }
        assert!(Instant::now() < until, "not started again; daemon log:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let audit = s.ottd(&["audit", "final"]);
    assert!(audit.lines().any(|l| l.contains("recovery") && l.contains("start")), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_stopped_with_its_event_lost_is_found_by_the_resync_and_started_again() {
    let OnAir { s, d, channel, .. } = on_air("daemon");
    let aws = s.aws().await;
    // EventBridge delivery is best effort: here nothing reaches the queue any more.
    aws.events
        .remove_targets()
        .rule("ottd-medialive-events")
        .ids("ottd-sqs")
        .ids("ottd-sns")
        .send()
        .await
        .expect("remove");
    aws.medialive.stop_channel().channel_id(&channel).send().await.expect("stop");
    // The daemon's resync (every 5 s in these tests) describes the channel and starts it.
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let audit = s.ottd(&["audit", "final"]);
        if audit.lines().any(|l| l.contains("recovery") && l.contains("start") && l.contains(" ok")) {
            break;
        }
        assert!(Instant::now() < until, "not started again; daemon log:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let state = aws.medialive.describe_channel().channel_id(&channel).send().await.expect("describe").state;
    assert_eq!(state.map(|s| s.as_str().to_string()).as_deref(), Some("RUNNING"));
    assert!(d.log().contains("resync: the channel is not running in AWS"), "{}", d.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_with_messages_in_flight_records_every_alert_exactly_once_after_restart() {
    let OnAir { s, store, d, channel } = on_air("first");
    // Unanswered messages come back after 2 s instead of a minute.
    let aws = s.aws().await;
    let queue = store.meta("alerts.queue_url").expect("meta").expect("queue");
    aws.sqs
        .set_queue_attributes()
        .queue_url(&queue)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .expect("visibility");
    const N: usize = 40;
    for i in 0..N {
        put_alert(&s, &channel, "SET", &format!("k{i}"), "Something Only Notified", "0").await;
    }
    wait_for("some alerts recorded", &d, Duration::from_secs(20), || {
        store.alerts(Some("final"), true).map(|a| !a.is_empty()).unwrap_or(false)
    });
    drop(d); // kill -9, some messages received and not yet recorded or deleted
    let recorded_before = store.alerts(Some("final"), true).expect("q").len();
    let d = Daemon::start(&s, "second");
    wait_for("every alert recorded", &d, Duration::from_secs(60), || {
        store.alerts(Some("final"), true).map(|a| a.len() >= N).unwrap_or(false)
    });
    std::thread::sleep(Duration::from_secs(3)); // past the visibility timeout: any redelivery lands
    let all = store.alerts(Some("final"), true).expect("q");
    let mut ids: Vec<&str> = all.iter().map(|a| a.alarm_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((all.len(), ids.len()), (N, N), "each alert exactly once ({recorded_before} before the kill)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_message_is_quarantined_and_left_for_the_dead_letter_queue_and_the_consumer_goes_on() {
    let s = setup(&on_air_event("final", 120, ""));
    with_policies(&s);
    s.ottd(&["bootstrap"]);
    let store = Store::open(&s.state_path()).expect("state");
    let aws = s.aws().await;
    let queue = store.meta("alerts.queue_url").expect("meta").expect("queue");
    let dlq = store.meta("alerts.dlq_url").expect("meta").expect("dead-letter queue");
    // Redeliveries after 1 s instead of a minute.
    aws.sqs
        .set_queue_attributes()
        .queue_url(&queue)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .expect("visibility");
    let d = Daemon::start(&s, "daemon");
    wait_for("the event on air", &d, Duration::from_secs(40), || phase(&store, "final") == Some(Phase::Running));
    aws.sqs
        .send_message()
        .queue_url(&queue)
        .message_body("{\"detail-type\": \"MediaLive Ch")
        .send()
        .await
        .expect("send");
    // The consumer goes on: a real alert after the broken one is recorded.
    let channel = channel_id(&store, "final");
    put_alert(&s, &channel, "SET", "q1", "Something Only Notified", "0").await;
    wait_for("the good alert recorded", &d, Duration::from_secs(20), || {
        store.alerts(Some("final"), true).map(|a| a.len() == 1).unwrap_or(false)
    });
    assert_eq!(store.quarantined().expect("q"), 1, "kept once, with its raw body");
    // After 5 deliveries SQS moves it to the dead-letter queue.
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let got = aws.sqs.receive_message().queue_url(&dlq).wait_time_seconds(1).send().await.expect("receive");
        if let Some(m) = got.messages().first() {
            assert_eq!(m.body(), Some("{\"detail-type\": \"MediaLive Ch"));
            break;
        }
        assert!(Instant::now() < until, "never reached the dead-letter queue; daemon log:\n{}", d.log());
    }
    assert_eq!(store.quarantined().expect("q"), 1, "redeliveries are not kept twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_done_for_an_alert_outside_the_events_window() {
    // Deployed now (58 s of lead), on air only in a minute: the window has not begun.
    let start = Utc::now() + chrono::Duration::seconds(60);
    let schedule = format!(
        "[[event]]\nid = \"later\"\nstart = \"{}\"\nend = \"{}\"\ndeploy_before = \"58s\"\nstart_before = \"10s\"\n[event.mediaLive]\nchannelClass = \"SINGLE_PIPELINE\"\ninputType = \"URL_PULL\"\npriUrl = \"https://example.com/later/index.m3u8\"\n[event.cloudFront]\naccess_logs = false\n",
        rfc3339(start),
        rfc3339(start + chrono::Duration::seconds(60))
    );
    let s = setup(&schedule);
    with_policies(&s);
    s.ottd(&["bootstrap"]);
    let store = Store::open(&s.state_path()).expect("state");
    let d = Daemon::start(&s, "daemon");
    wait_for("the event deployed", &d, Duration::from_secs(40), || phase(&store, "later") == Some(Phase::Deployed));
    let channel = channel_id(&store, "later");
    put_alert(&s, &channel, "SET", "w1", "Failed to Write to Output", "0").await;
    wait_for("the alert recorded", &d, Duration::from_secs(10), || {
        store.alerts(Some("later"), false).map(|a| a.len() == 1).unwrap_or(false)
    });
    std::thread::sleep(Duration::from_secs(3)); // past the policy's 1 s wait: absence is the point
    assert!(restarts(&s, &channel).is_empty(), "outside its window: nothing done");
    let alerts = s.ottd(&["alerts", "later"]);
    assert!(!alerts.contains("recovery:"), "{alerts}");
}

/// Put a MediaLive channel state change on EventBridge, as MediaLive would.
async fn put_state(s: &Setup, channel: &str, state: &str) {
    let detail = serde_json::json!({
        "channel_arn": format!("arn:aws:medialive:channel:{channel}"), "state": state,
        "message": "Stop detected on pipeline", "pipelines_running_count": 0, "pipeline": "0"
    });
    common::put_medialive(s, channel, "MediaLive Channel State Change", detail).await;
}

fn recovery_starts(s: &Setup) -> usize {
    let audit = s.ottd(&["audit", "final"]);
    audit.lines().filter(|l| l.contains("recovery") && l.contains("start")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_waiting_for_its_delay_is_acted_on_once_after_a_kill_9_and_restart() {
    let OnAir { s, store, d, channel } = on_air("first");
    // Restart-pipeline 3 s after SET; the daemon is killed inside those 3 s.
    put_alert(&s, &channel, "SET", "w1", "Failed HTTP Post Output Request", "0").await;
    wait_for("the alert recorded", &d, Duration::from_secs(10), || {
        store.alerts(Some("final"), false).map(|a| a.len() == 1).unwrap_or(false)
    });
    d.kill9();
    assert!(restarts(&s, &channel).is_empty(), "killed before the delay ended");
    let d = Daemon::start(&s, "second");
    wait_for("the pipeline restart after the restart", &d, Duration::from_secs(30), || {
        !restarts(&s, &channel).is_empty()
    });
    wait_for("the action recorded on the alert", &d, Duration::from_secs(10), || {
        store.alerts(Some("final"), false).map(|a| a.iter().all(|x| x.acted_at.is_some())).unwrap_or(false)
    });
    // Past one more resync (5 s here), whose sweep looks at undecided alerts again.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(restarts(&s, &channel).len(), 1, "acted on once:\n{}", d.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_console_stop_gives_one_start_however_many_state_changes_report_it() {
    let OnAir { s, d, channel, .. } = on_air("daemon");
    let aws = s.aws().await;
    // MediaLive says STOPPING, then STOPPED: two reports of one stop.
    aws.medialive.stop_channel().channel_id(&channel).send().await.expect("stop");
    let running = || {
        let (aws, channel) = (aws.clone(), channel.clone());
        async move {
            let c = aws.medialive.describe_channel().channel_id(channel).send().await.ok();
            c.and_then(|c| c.state).map(|s| s.as_str() == "RUNNING").unwrap_or(false)
        }
    };
    let until = Instant::now() + Duration::from_secs(30);
    while !running().await {
        assert!(Instant::now() < until, "not started again; daemon log:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A late (or repeated) STOPPED about a channel that runs again starts nothing.
    let looked = |d: &Daemon| d.log().matches("RUNNING now: nothing to do").count();
    let before = looked(&d);
    put_state(&s, &channel, "STOPPED").await;
    wait_for("the late report looked at", &d, Duration::from_secs(20), || {
        looked(&d) > before || recovery_starts(&s) > 1
    });
    assert_eq!(recovery_starts(&s), 1, "one start:\n{}\n{}", s.ottd(&["audit", "final"]), d.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_long_poll_answers_empty_even_when_the_call_timeout_is_shorter_than_the_wait() {
    let s = setup(common::ON_DEMAND_FINAL);
    let boot = s.ottd(&["bootstrap"]);
    assert!(boot.contains("alert queue:"), "{boot}");
    let store = Store::open(&s.state_path()).expect("state");
    let queue = store.meta("alerts.queue_url").expect("meta").expect("queue");
    // Each attempt of an ordinary call gets 1 s here; the long poll waits 3 s for messages.
    let mut settings = s.catalog().settings;
    settings.engine.call_timeout = Duration::from_secs(2);
    let creds = aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "ottd-tests");
    let conf = ottd::aws::Aws::loader(&settings).endpoint_url(&s.endpoint).credentials_provider(creds).load().await;
    let queue = ottd::aws::alerting::Queue::new(&ottd::aws::Aws::from_conf(&conf), queue);
    let started = Instant::now();
    let got = queue.receive(10, 3).await;
    assert!(got.as_ref().is_ok_and(|m| m.is_empty()), "an empty queue answers no messages: {got:?}");
    assert!(started.elapsed() >= Duration::from_secs(2), "it did wait for messages: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_policies_apply_on_reload_and_keys_read_at_start_say_they_need_a_restart() {
    let OnAir { s, store, d, channel } = on_air("daemon");
    // A new policy for an alert type the daemon only notified about, and an engine key.
    s.append_config("\n[alerts.policy.\"Something Only Notified\"]\nremedy = \"restart-pipeline\"\nwait = \"1s\"\n");
    let config = std::fs::read_to_string(&s.config).expect("config");
    std::fs::write(&s.config, config.replace("poll_interval = \"100ms\"", "poll_interval = \"200ms\""))
        .expect("config");
    wait_for("the reload", &d, Duration::from_secs(10), || d.log().contains("configuration reloaded"));
    assert!(
        d.log().contains("engine.poll_interval changed in") && d.log().contains("takes effect at the next restart"),
        "{}",
        d.log()
    );
    put_alert(&s, &channel, "SET", "r1", "Something Only Notified", "0").await;
    wait_for("the restart the new policy asks for", &d, Duration::from_secs(20), || !restarts(&s, &channel).is_empty());
    let alerts = store.alerts(Some("final"), false).expect("q");
    assert_eq!(alerts.iter().filter_map(|a| a.action.as_deref()).collect::<Vec<_>>(), ["restart-pipeline"]);
}

/// `final` on air from a few seconds from now: a STANDARD channel whose backup input operators
/// and recovery may switch to, and `Video Not Detected` answered by switching to it.
fn pair_on_air() -> Setup {
    let start = Utc::now() + chrono::Duration::seconds(4);
    let s = setup(&format!(
        "[[event]]\nid = \"final\"\nstart = \"{}\"\nend = \"{}\"\ndeploy_before = \"3s\"\nstart_before = \"2s\"\n\
         [event.mediaLive]\nchannelClass = \"STANDARD\"\ninputType = \"RTP_PUSH\"\ninputCidr = \"203.0.113.0/24\"\n\
         backupInput = true\nfailoverPreference = \"EQUAL_INPUT_PREFERENCE\"\n[event.cloudFront]\naccess_logs = false\n",
        rfc3339(start),
        rfc3339(start + chrono::Duration::seconds(300))
    ));
    s.append_config("\n[alerts.policy.\"Video Not Detected\"]\nremedy = \"switch-to-backup\"\nwait = \"1s\"\n");
    s
}

/// Wait until every pipeline of `channel` is on `name` (DescribeChannel's pipeline details).
async fn wait_on(aws: &ottd::aws::Aws, channel: &str, name: &str, d: &Daemon) {
    let until = Instant::now() + Duration::from_secs(40);
    let mut last = Vec::new();
    while Instant::now() < until {
        last = ottd::aws::schedule::describe_live(&aws.medialive, channel)
            .await
            .ok()
            .flatten()
            .map(|c| c.active)
            .unwrap_or_default();
        if last.len() == 2 && last.iter().all(|a| a.as_deref() == Some(name)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out waiting for both pipelines on {name} (last {last:?}); daemon log:\n{}", d.log());
}

/// [`pair_on_air`] bootstrapped and run by a daemon until `final` is on air (notifications to
/// `receiver` when given), with its channel and the attachment names of its pair.
struct Pair {
    s: Setup,
    d: Daemon,
    channel: String,
    aws: ottd::aws::Aws,
    primary: String,
    backup: String,
}

impl Pair {
    async fn on_air(receiver: Option<&Receiver>) -> Pair {
        let s = pair_on_air();
        s.ottd(&["bootstrap"]);
        let store = Store::open(&s.state_path()).expect("state");
        if let Some(r) = receiver {
            subscribe(&s, &store, r).await;
        }
        let d = Daemon::start(&s, "daemon");
        wait_for("the event on air", &d, Duration::from_secs(60), || phase(&store, "final") == Some(Phase::Running));
        let channel = channel_id(&store, "final");
        let aws = s.aws().await;
        let live =
            ottd::aws::schedule::describe_live(&aws.medialive, &channel).await.expect("describe").expect("channel");
        let (primary, backup) = (live.inputs.primary.clone(), live.inputs.backup.clone().expect("a backup"));
        Pair { s, d, channel, aws, primary, backup }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_lost_on_primary_switches_to_the_backup_and_back_once_it_clears() {
    let Pair { s, d, channel, aws, primary, backup } = Pair::on_air(None).await;

    put_alert(&s, &channel, "SET", "v1", "Video Not Detected", "0").await;
    wait_on(&aws, &channel, &backup, &d).await;
    put_alert(&s, &channel, "CLEARED", "v1", "Video Not Detected", "0").await;
    wait_on(&aws, &channel, &primary, &d).await;

    let audit = s.ottd(&["audit", "final"]);
    let switches: Vec<&str> = audit.lines().filter(|l| l.contains("recovery") && l.contains("switch")).collect();
    assert_eq!(switches.len(), 2, "one switch each way:\n{audit}");
    let alerts = s.ottd(&["alerts", "final", "--all"]);
    assert!(alerts.contains("switch-to-backup"), "{alerts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_made_in_the_console_is_told_and_recovery_leaves_the_channel_where_it_was_put() {
    // Recovery switches to the backup; then someone puts the channel back on primary in the
    // console. People are told, once for both pipelines (ottd's own switch was told as
    // recovery's action, never as a switch by someone else), and when the alert clears,
    // recovery leaves the channel where it was put. Five notices: within the storm limit.
    let receiver = Receiver::start();
    let Pair { s, d, channel, aws, primary, backup } = Pair::on_air(Some(&receiver)).await;

    put_alert(&s, &channel, "SET", "v2", "Video Not Detected", "0").await;
    wait_on(&aws, &channel, &backup, &d).await;
    let console = aws_sdk_medialive::types::ScheduleAction::builder()
        .action_name("console-switch-1")
        .schedule_action_start_settings(
            aws_sdk_medialive::types::ScheduleActionStartSettings::builder()
                .immediate_mode_schedule_action_start_settings(
                    aws_sdk_medialive::types::ImmediateModeScheduleActionStartSettings::builder().build(),
                )
                .build(),
        )
        .schedule_action_settings(
            aws_sdk_medialive::types::ScheduleActionSettings::builder()
                .input_switch_settings(
                    aws_sdk_medialive::types::InputSwitchScheduleActionSettings::builder()
                        .input_attachment_name_reference(&primary)
                        .build(),
                )
                .build(),
        )
        .build();
    aws.medialive
        .batch_update_schedule()
        .channel_id(&channel)
        .creates(
            aws_sdk_medialive::types::BatchScheduleActionCreateRequest::builder().schedule_actions(console).build(),
        )
        .send()
        .await
        .expect("the console's switch");
    let outside = |b: &String| b.contains("not by ottd");
    wait_for("the notice of the console's switch", &d, Duration::from_secs(30), || {
        receiver.bodies().iter().any(outside)
    });
    wait_on(&aws, &channel, &primary, &d).await;
    wait_for("both pipelines' reports taken", &d, Duration::from_secs(30), || {
        d.log().lines().filter(|l| l.contains("switched the channel's input") && l.contains("console-switch-1")).count()
            == 2
    });
    put_alert(&s, &channel, "CLEARED", "v2", "Video Not Detected", "0").await;
    wait_for("recovery saying it leaves the channel", &d, Duration::from_secs(30), || {
        receiver.bodies().iter().any(|b| b.contains("not on the backup recovery chose: left there"))
    });
    // Counted after a later notice through the same notifier: a second one for the switch
    // would be here by now.
    let told: Vec<String> = receiver.bodies().into_iter().filter(outside).collect();
    assert_eq!(told.len(), 1, "one notice for both pipelines, none for ottd's switches: {told:?}");
    assert!(told[0].contains("console-switch-1") && told[0].contains(&primary), "{told:?}");
    let audit = s.ottd(&["audit", "final"]);
    let switches: Vec<&str> = audit.lines().filter(|l| l.contains("recovery") && l.contains("switch")).collect();
    assert_eq!(switches.len(), 1, "to the backup, and not back:\n{audit}");
    let held = ottd::aws::schedule::describe(&aws.medialive, &channel).await.expect("schedule");
    let last = held.iter().rfind(|a| matches!(a.settings, ottd::live::Settings::InputSwitch { .. }));
    assert_eq!(last.map(|a| a.name.as_str()), Some("console-switch-1"), "{held:#?}");
}
