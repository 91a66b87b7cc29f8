//! Chaos: several real `ottd run` processes on one shared state and one emulator, and the
//! holder of an event's lease killed (kill -9), paused (SIGSTOP) or run as PID 1 of its own PID
//! namespace, in the middle of a deploy. The other daemon (or the restarted one) must take the
//! lease over within one lease duration and finish the job, with exactly the event's resources
//! in AWS; a paused holder that wakes up after the takeover must record nothing.
//!
//! A deploy is caught in the middle by the delay proxy stalling CloudFront's
//! CreateDistribution for the first daemon only; the state file says when it is in there
//! (the distribution's row is `creating`).
//!
//! Leases here are short (3 s, renewed every 500 ms), so a takeover takes seconds.

mod common;

use std::time::{Duration, Instant};

use ottd::lifecycle::{Phase, Status};
use ottd::plan::Kind;
use ottd::store::{ResourceRow, Store};

use common::{census, setup, wait_for, Daemon, Proxy, Setup};

const LEASE: &str = "[lease]\nduration = \"3s\"\nrenew_deadline = \"2s\"\nretry = \"500ms\"\n";

/// Where the daemons share their state.
#[derive(Clone, Copy, Debug)]
enum Shared {
    /// One SQLite file on this host.
    File,
    /// One DynamoDB table on the emulator.
    Table,
}

fn share(s: &Setup, shared: Shared) {
    s.append_config(LEASE);
    if let Shared::Table = shared {
        s.append_config("[state]\nbackend = \"dynamodb\"\ntable = \"ottd-state\"\n");
    }
    s.ottd(&["bootstrap"]);
}
const LEASE_DURATION: Duration = Duration::from_secs(3);

/// CloudFront's CreateDistribution(WithTags), held this long by the proxy.
fn stall_distribution(s: &Setup, ms: u64) -> Proxy {
    Proxy::start_args(&s.endpoint, &["--stall", &format!("^POST /2020-05-31/distribution={ms}")])
}

fn distribution_row(store: &Store) -> Option<ResourceRow> {
    store.resource("final", ottd::plan::DISTRIBUTION).ok().flatten()
}

/// The first daemon recorded its intent to create the distribution and its call is held in
/// the proxy.
fn inside_create_distribution(proxy: &Proxy, store: &Store) -> bool {
    distribution_row(store).is_some_and(|r| r.status == Status::Creating)
        && proxy.log().contains("stalling POST /2020-05-31/distribution")
}

fn deployed(store: &Store) -> bool {
    matches!(common::phase(store, "final"), Some(Phase::Deployed | Phase::Starting | Phase::Running))
        && store.resources("final").is_ok_and(|rs| rs.iter().all(|r| r.status == Status::Created))
}

/// The holder id's instance part names this pid (`host:pid:random#n`).
fn held_by_pid(store: &Store, pid: u32) -> bool {
    store.lease("final").ok().flatten().is_some_and(|l| l.holder.split(':').nth(1) == Some(&pid.to_string()))
}

/// Exactly the event's resources: one of each, and every endpoint the state file records.
async fn assert_census_is_exactly_the_events(s: &Setup, store: &Store) {
    let c = census(&s.aws().await, "final").await;
    let endpoints = store.resources("final").expect("rows").iter().filter(|r| r.kind == Kind::Endpoint).count();
    assert!(endpoints > 0);
    assert_eq!(
        (c.channels, c.inputs, c.package_channels, c.distributions, c.secrets, c.endpoints),
        (1, 1, 1, 1, 1, endpoints),
        "nothing duplicated, nothing orphaned: {c:?}"
    );
}

/// An event deployed at once and started a minute later: the deploy is all that happens while
/// the test watches.
/// A plain HTTP/1.0 GET on the daemon's listener: the answer's text.
fn http_get(base: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let hostport = base.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(hostport) else { return String::new() };
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn two_daemon_setup(shared: Shared) -> Setup {
    let s = setup(&timed_event(60).0);
    share(&s, shared);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_in_the_middle_of_a_deploy_is_taken_over_and_the_deploy_finished_once_on_a_file() {
    killed_mid_deploy(Shared::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_in_the_middle_of_a_deploy_is_taken_over_and_the_deploy_finished_once_on_dynamodb() {
    killed_mid_deploy(Shared::Table).await;
}

async fn killed_mid_deploy(shared: Shared) {
    let s = two_daemon_setup(shared);
    let proxy = stall_distribution(&s, 4000);
    let store = s.state().await;
    let a = Daemon::start_with(&s, "a", &[("AWS_ENDPOINT_URL", proxy.url.clone())]);
    wait_for("a inside CreateDistribution", &a, Duration::from_secs(30), || inside_create_distribution(&proxy, &store));
    assert!(held_by_pid(&store, a.pid()), "a holds the lease: {:?}", store.lease("final"));
    let b = Daemon::start(&s, "b");
    let killed = Instant::now();
    a.kill9();
    wait_for("b to finish the deploy", &b, LEASE_DURATION + Duration::from_secs(20), || deployed(&store));
    let took = killed.elapsed();
    assert!(took <= LEASE_DURATION + Duration::from_secs(10), "b finished {took:?} after the kill");
    let log = b.log();
    assert!(log.contains("took over the lease of final from"), "b says it took over:\n{log}");
    let lease = store.lease("final").expect("read").expect("lease");
    assert!(lease.term >= 2, "a takeover is a new term: {lease:?}");
    let metrics = http_get(&b.base_url(), "/metrics");
    assert!(metrics.contains("ottd_lease_takeovers_total 1"), "b counts its takeover:\n{metrics}");
    assert!(metrics.contains("ottd_leases_held 0"), "and holds nothing once done:\n{metrics}");
    assert_census_is_exactly_the_events(&s, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_holder_that_wakes_after_a_takeover_records_nothing_and_stops_acting_on_a_file() {
    zombie(Shared::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_holder_that_wakes_after_a_takeover_records_nothing_and_stops_acting_on_dynamodb() {
    zombie(Shared::Table).await;
}

async fn zombie(shared: Shared) {
    let s = two_daemon_setup(shared);
    let proxy = stall_distribution(&s, 3000);
    let store = s.state().await;
    let a = Daemon::start_with(&s, "a", &[("AWS_ENDPOINT_URL", proxy.url.clone())]);
    wait_for("a inside CreateDistribution", &a, Duration::from_secs(30), || inside_create_distribution(&proxy, &store));
    let term = store.lease("final").expect("read").expect("lease").term;
    a.signal("STOP");
    let b = Daemon::start(&s, "b");
    wait_for("b to finish the deploy", &b, LEASE_DURATION + Duration::from_secs(20), || deployed(&store));
    let rows_before = store.resources("final").expect("rows");
    let deployment_before = store.deployment("final").expect("read").expect("row");
    // Wake the zombie only once its own CreateDistribution has been answered by the proxy (it
    // stalls 3 s): the answer waits in its socket, and it must not record it.
    wait_for("a's stalled call to be answered", &b, Duration::from_secs(30), || {
        proxy.stall_done("POST /2020-05-31/distribution")
    });
    a.signal("CONT");
    wait_for("a to say it lost the lease", &a, Duration::from_secs(30), || {
        a.log().contains(&format!("lost the lease of final at term {term}"))
    });
    // It stopped acting: its deploy was cancelled or refused, so it writes nothing after this.
    store.flush().await.expect("flush");
    assert_eq!(store.resources("final").expect("rows"), rows_before, "the zombie recorded no resource");
    let after = store.deployment("final").expect("read").expect("row");
    assert_eq!((after.nonce, after.phase_since), (deployment_before.nonce, deployment_before.phase_since));
    let a_log = a.log();
    assert!(
        !a_log.lines().any(|l| l.contains("created") && l.contains("CloudFront distribution")),
        "the zombie never reports the distribution as created:\n{a_log}"
    );
    assert_census_is_exactly_the_events(&s, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_running_as_pid_1_killed_mid_deploy_resumes_within_one_lease_when_restarted_the_same_way() {
    let s = two_daemon_setup(Shared::File);
    let proxy = stall_distribution(&s, 4000);
    let store = s.state().await;
    let a = Daemon::start_as_pid_1(&s, "a", &[("AWS_ENDPOINT_URL", proxy.url.clone())]);
    wait_for("a inside CreateDistribution", &a, Duration::from_secs(30), || inside_create_distribution(&proxy, &store));
    let dead = store.lease("final").expect("read").expect("lease");
    assert!(held_by_pid(&store, 1), "in its namespace the daemon is PID 1: {dead:?}");
    a.kill9();
    let restarted = Instant::now();
    let again = Daemon::start_as_pid_1(&s, "again", &[]);
    wait_for("the restarted daemon to finish the deploy", &again, LEASE_DURATION + Duration::from_secs(20), || {
        deployed(&store)
    });
    let took = restarted.elapsed();
    assert!(took <= LEASE_DURATION + Duration::from_secs(10), "resumed {took:?} after the restart");
    let log = again.log();
    assert!(
        log.contains(&format!("took over the lease of final from {}", dead.holder)),
        "another PID 1 is another holder: it takes the dead one's lease over, never shares it:\n{log}"
    );
    assert_census_is_exactly_the_events(&s, &store).await;
}

/// A timed event run by a pair: `start` at T, deployed well before, started 3 s before T.
fn timed_event(start_in: i64) -> (String, chrono::DateTime<chrono::Utc>) {
    let start = chrono::Utc::now() + chrono::Duration::seconds(start_in);
    let toml = format!(
        "[[event]]\nid = \"final\"\nstart = \"{}\"\nend = \"{}\"\ndeploy_before = \"{}s\"\nstart_before = \"3s\"\n[event.mediaLive]\nchannelClass = \"SINGLE_PIPELINE\"\ninputType = \"URL_PULL\"\npriUrl = \"https://example.com/final/index.m3u8\"\n[event.cloudFront]\naccess_logs = false\n",
        common::rfc3339(start),
        common::rfc3339(start + chrono::Duration::seconds(300)),
        start_in - 2
    );
    (toml, start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_event_whose_deploying_daemon_dies_10s_before_start_is_running_by_start_and_told_once() {
    let (schedule, start) = timed_event(16);
    let s = setup(&schedule);
    share(&s, Shared::Table);
    let store = s.state().await;
    let a = Daemon::start(&s, "a");
    let b = Daemon::start(&s, "b");
    wait_for("the deploy", &a, Duration::from_secs(30), || deployed(&store));
    // Whoever deployed it is the one to lose: the audit row names the instance that did it.
    let deployer = store
        .audit(Some("final"), None, false, 50)
        .expect("audit")
        .into_iter()
        .find(|r| r.operation == "deploy" && r.result.as_deref() == Some("ok"))
        .map(|r| r.instance)
        .expect("a deploy audit row");
    let pid_of = |instance: &str| instance.split(':').nth(1).and_then(|p| p.parse::<u32>().ok());
    let (dies, lives) = if pid_of(&deployer) == Some(a.pid()) { (a, b) } else { (b, a) };
    assert_eq!(pid_of(&deployer), Some(dies.pid()), "the deploy was done by one of the pair: {deployer}");
    let ten_before = start - chrono::Duration::seconds(10);
    let wait = (ten_before - chrono::Utc::now()).to_std().unwrap_or_default();
    std::thread::sleep(wait); // the scenario's moment, not a synchronisation
    dies.kill9();
    wait_for("the channel RUNNING", &lives, Duration::from_secs(20), || {
        common::phase(&store, "final") == Some(Phase::Running)
    });
    let running_at = chrono::Utc::now();
    assert!(running_at <= start, "RUNNING at {running_at}, after start {start}");
    wait_for("the survivor to say it is on air", &lives, Duration::from_secs(10), || {
        lives.log().contains("on air (schedule)")
    });
    let on_air = lives.log().lines().filter(|l| l.contains("on air (schedule)")).count();
    assert_eq!(on_air, 1, "the survivor says it once:\n{}", lives.log());
    let both = ["a.log", "b.log"].map(|f| std::fs::read_to_string(s.dir.path().join(f)).unwrap_or_default());
    let deployed_told: usize =
        both.iter().map(|l| l.lines().filter(|x| x.contains("deployed (schedule)")).count()).sum();
    assert_eq!(deployed_told, 1, "the pair told the deploy once");
}

const SLACK_SECRET: &str = "4f1d6c0b2a9e8d7c6b5a4f3e2d1c0b9a";

/// A plain test (the Slack stand-in runs its own runtime); AWS calls go through `rt`.
#[test]
fn a_daemon_killed_with_alerts_in_flight_and_an_approval_pending_loses_neither_on_dynamodb() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    use common::slack::{button_values, click_form, command_form, post_signed, text_of, SlackStandIn};
    let s = setup(&common::on_air_event("final", 300, ""));
    let slack = SlackStandIn::start();
    s.append_config(
        &slack.http_config("", &[("viewer", "\"slack:*\""), ("admin", "\"slack:ULEAD\", \"slack:ULEAD2\"")]),
    );
    share(&s, Shared::Table);
    let store = rt.block_on(s.state());
    let env = [("SLACK_SIGNING_SECRET", SLACK_SECRET.to_string()), ("SLACK_BOT_TOKEN", "xoxb-test".to_string())];
    let a = Daemon::start_with(&s, "a", &env);
    let b = Daemon::start_with(&s, "b", &env);
    let (base_a, base_b) = (a.base_url(), b.base_url());
    wait_for("the event on air", &b, Duration::from_secs(40), || {
        common::phase(&store, "final") == Some(Phase::Running)
    });

    // A teardown inside the window needs a second admin: asked on a, pending in the state.
    let form = command_form("ULEAD", "CLIVE", "teardown final", &slack.response_url(1));
    let (status, body) =
        post_signed(&format!("{base_a}/slack/commands"), SLACK_SECRET, chrono::Utc::now().timestamp(), &form);
    assert_eq!(status, 200, "{body}");
    let ask: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(text_of(&ask).contains("must approve"), "{ask}");
    let approve = button_values(&ask).into_iter().find(|v| v.starts_with("approve:")).expect("approve button");

    // Alerts in flight when a dies: unanswered messages come back after 2 s.
    let aws = rt.block_on(s.aws());
    let queue = store.meta("alerts.queue_url").expect("meta").expect("queue");
    rt.block_on(
        aws.sqs
            .set_queue_attributes()
            .queue_url(&queue)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "2")
            .send(),
    )
    .expect("visibility");
    let channel = common::channel_id(&store, "final");
    const N: usize = 40;
    for i in 0..N {
        rt.block_on(common::put_alert(&s, &channel, "SET", &format!("k{i}"), "Something Only Notified", "0"));
    }
    wait_for("some alerts recorded", &b, Duration::from_secs(20), || {
        store.alerts(Some("final"), true).is_ok_and(|a| !a.is_empty())
    });
    a.kill9();
    wait_for("every alert recorded", &b, Duration::from_secs(60), || {
        store.alerts(Some("final"), true).is_ok_and(|a| a.len() >= N)
    });
    std::thread::sleep(Duration::from_secs(3)); // past the visibility timeout: any redelivery lands
    let all = store.alerts(Some("final"), true).expect("alerts");
    let mut ids: Vec<&str> = all.iter().map(|a| a.alarm_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((all.len(), ids.len()), (N, N), "each alert recorded exactly once by the pair");

    // The approval asked on a is given on b.
    let form = click_form("ULEAD2", "CLIVE", &approve, &slack.response_url(2));
    let (status, body) =
        post_signed(&format!("{base_b}/slack/interactions"), SLACK_SECRET, chrono::Utc::now().timestamp(), &form);
    assert_eq!(status, 200, "{body}");
    wait_for("final torn down by b", &b, Duration::from_secs(60), || {
        common::phase(&store, "final") == Some(Phase::TornDown)
    });
    let audit = store.audit(Some("final"), None, true, 200).expect("audit");
    let approved = audit
        .iter()
        .find(|r| r.operation == "teardown" && r.args.to_string().contains("approved by slack:ULEAD2"))
        .unwrap_or_else(|| panic!("the approved teardown audited: {audit:#?}"));
    assert_eq!(approved.instance.split(':').nth(1), Some(b.pid().to_string().as_str()), "executed by b: {approved:?}");
}
