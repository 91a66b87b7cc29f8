//! Slack over HTTP, end to end: `ottd run` with `[chat.slack] mode = "http"`, requests signed
//! as Slack signs them, follow-ups received by a local stand-in's `response_url`, the Web API
//! (user groups) served by the same stand-in, AWS by the emulator. Roles, confirmation and the
//! two-person rule are exercised with signed button clicks.

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use ottd::lifecycle::Phase;
use ottd::store::Store;
use serde_json::Value;

use common::slack::{button_values, click_form, command_form, post_signed, responses, text_of, SlackStandIn};
use common::{phase, setup, wait_for, Daemon, Setup};

const SECRET: &str = "4f1d6c0b2a9e8d7c6b5a4f3e2d1c0b9a";
const BOT: &str = "xoxb-test-bot-token-7e1f";

fn chat_config(s: &Setup, slack: &SlackStandIn) {
    chat_config_with(s, slack, "")
}

/// [`chat_config`] with more `[chat.slack]` keys. The stand-in's workspace is ours, and its
/// `response_url`s are the only ones ottd may post to.
fn chat_config_with(s: &Setup, slack: &SlackStandIn, slack_keys: &str) {
    let grants = [
        ("viewer", "\"slack:*\""),
        ("operator", "\"slack:group:SOPS\""),
        ("admin", "\"slack:ULEAD\", \"slack:ULEAD2\""),
    ];
    s.append_config(&slack.http_config(slack_keys, &grants));
}

struct Chat {
    s: Setup,
    slack: SlackStandIn,
    d: Daemon,
    base: String,
    store: Store,
}

fn start() -> Chat {
    start_with("")
}

/// [`start`] with more `[chat.slack]` keys.
fn start_with(slack_keys: &str) -> Chat {
    start_on(common::ON_DEMAND_FINAL, slack_keys)
}

/// [`start_with`] on the events of `schedule`.
fn start_on(schedule: &str, slack_keys: &str) -> Chat {
    let s = setup(schedule);
    let slack = SlackStandIn::start();
    slack.set_group("SOPS", &["UOP", "UOP2"]);
    chat_config_with(&s, &slack, slack_keys);
    s.ottd(&["bootstrap"]);
    let d =
        Daemon::start_with(&s, "daemon", &[("SLACK_SIGNING_SECRET", SECRET.into()), ("SLACK_BOT_TOKEN", BOT.into())]);
    let base = d.base_url();
    let store = Store::open(&s.state_path()).expect("state");
    Chat { s, slack, d, base, store }
}

impl Chat {
    /// `/ott TEXT` by `user`, follow-ups to response_url N: the acknowledgement's JSON and how
    /// long it took.
    fn command(&self, user: &str, text: &str, n: u32) -> (Value, Duration) {
        let form = command_form(user, "CLIVE", text, &self.slack.response_url(n));
        let t = Instant::now();
        let (status, body) =
            post_signed(&format!("{}/slack/commands", self.base), SECRET, Utc::now().timestamp(), &form);
        let took = t.elapsed();
        assert_eq!(status, 200, "/ott {text}: {body}\n{}", self.d.log());
        (serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}")), took)
    }

    fn click(&self, user: &str, value: &str, n: u32) {
        let form = click_form(user, "CLIVE", value, &self.slack.response_url(n));
        let (status, body) =
            post_signed(&format!("{}/slack/interactions", self.base), SECRET, Utc::now().timestamp(), &form);
        assert_eq!(status, 200, "click {value}: {body}");
    }

    /// The follow-ups on response_url N once one of them says `want`.
    fn follow_ups(&self, n: u32, want: &str, limit: Duration) -> Vec<Value> {
        let items = self.slack.log.wait(&format!("a follow-up on /response/{n} saying {want:?}"), limit, |items| {
            responses(items, n).iter().any(|v| text_of(v).contains(want))
        });
        responses(&items, n)
    }
}

#[test]
fn only_signed_requests_within_five_minutes_reach_ottd() {
    let c = start();
    let url = format!("{}/slack/commands", c.base);
    let form = command_form("UOP", "CLIVE", "hold final", &c.slack.response_url(1));
    let now = Utc::now().timestamp();
    let refused = [
        ("a wrong secret", post_signed(&url, "not-the-secret", now, &form)),
        ("six minutes old", post_signed(&url, SECRET, now - 360, &form)),
        ("six minutes ahead", post_signed(&url, SECRET, now + 360, &form)),
        ("no signature", common::slack::http_post(&url, &[("X-Slack-Request-Timestamp", now.to_string())], &form)),
        ("no headers at all", common::slack::http_post(&url, &[], &form)),
    ];
    for (what, (status, _)) in &refused {
        assert_eq!(*status, 401, "{what}");
    }
    // A body changed after signing (a replayed signature on another command).
    let sig = common::slack::sign(SECRET, now, &form);
    let tampered = form.replace("hold", "teardown");
    let headers = [("X-Slack-Request-Timestamp", now.to_string()), ("X-Slack-Signature", sig)];
    assert_eq!(common::slack::http_post(&url, &headers, &tampered).0, 401, "tampered body");
    let clicks = format!("{}/slack/interactions", c.base);
    let click = click_form("UOP", "CLIVE", "run:hold final", &c.slack.response_url(2));
    assert_eq!(post_signed(&clicks, "not-the-secret", now, &click).0, 401, "a forged click");
    assert_eq!(c.store.override_of("final").expect("read"), None, "nothing refused reached the operations layer");

    let (ack, took) = c.command("UOP", "hold final", 3);
    assert!(took < Duration::from_secs(3), "acknowledged in {took:?}");
    assert!(text_of(&ack).contains("final is on hold") || text_of(&ack).contains("hold"), "{ack}");
    assert_eq!(ack["response_type"], "in_channel", "changes are said in the channel");
    assert!(c.store.override_of("final").expect("read").is_some(), "the signed hold is in force");
    let log = c.d.log();
    assert!(!log.contains(SECRET) && !log.contains(BOT), "a secret reached the log:\n{log}");
}

#[test]
fn deploy_start_and_links_from_slack_with_roles_confirmation_and_two_people() {
    let c = start();
    // A viewer may look, not change.
    let (help, _) = c.command("UVIEW", "help", 1);
    let help_text = text_of(&help);
    assert!(help_text.contains("/ott links EVENT") && !help_text.contains("/ott start"), "{help_text}");
    let (denied, _) = c.command("UVIEW", "deploy final", 2);
    assert_eq!(denied["response_type"], "ephemeral");
    assert!(text_of(&denied).contains("this needs the operator role on final; you are viewer here"), "{denied}");
    let (typo, _) = c.command("UOP", "deploy finall", 3);
    assert!(text_of(&typo).contains("did you mean `final`?"), "{typo}");

    // An operator (through the SOPS user group) deploys: acknowledged at once, progress and
    // the result on response_url, never more than Slack's 5 messages.
    let (ack, took) = c.command("UOP", "deploy final", 4);
    assert!(took < Duration::from_secs(3), "acknowledged in {took:?}");
    assert!(text_of(&ack).contains("under way"), "{ack}");
    // The shipped workflow has autoStart: a person's deploy also starts the channel.
    let deployed = c.follow_ups(4, "deployed final", Duration::from_secs(90));
    assert!(deployed.len() <= 5, "at most Slack's 5 messages on one response_url: {deployed:#?}");
    assert!(deployed.iter().all(|m| m["replace_original"] == true), "progress edits replace the message");
    assert_eq!(phase(&c.store, "final"), Some(Phase::Running));

    let (ack, _) = c.command("UOP", "start final", 5);
    assert!(text_of(&ack).contains("under way"), "{ack}");
    let started = c.follow_ups(5, "final is on air", Duration::from_secs(90));
    let on_air = text_of(started.last().expect("result"));
    assert!(on_air.contains(".m3u8") && on_air.contains("hls-js"), "on air with links:\n{on_air}");

    let (links, took) = c.command("UVIEW", "links final", 6);
    assert!(took < Duration::from_secs(3));
    assert_eq!(links["response_type"], "ephemeral");
    let buttons: Vec<&str> = links["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["elements"].as_array().into_iter().flatten())
        .filter_map(|e| e["url"].as_str())
        .collect();
    assert!(
        buttons.iter().any(|u| u.starts_with("https://hls-js.netlify.app/demo/?src=https%3A%2F%2F")),
        "{buttons:?}"
    );
    assert!(buttons.iter().any(|u| u.contains("dash-if-reference-player")), "{buttons:?}");
    // The preview page, on the address the daemon listens on (no public_url), with a token
    // that opens it.
    let preview = buttons.iter().find(|u| u.contains("/preview/final?t=")).expect("a Preview button");
    assert!(preview.starts_with(&format!("{}/preview/final?t=", c.base)), "{preview}");
    assert_eq!(common::http_get(preview).0, 200, "the Preview button opens the page");

    // Stop of a running event outside any window: the requester confirms.
    let (ask, _) = c.command("UOP", "stop final", 7);
    let buttons = button_values(&ask);
    let confirm = buttons.iter().find(|b| b.starts_with("confirm:")).expect("a confirm button").clone();
    c.click("UOP2", &confirm, 8);
    c.follow_ups(8, "only slack:UOP can confirm", Duration::from_secs(10));
    assert_eq!(phase(&c.store, "final"), Some(Phase::Running), "someone else's click ran nothing");
    // The confirmation was only the requester's; the stop is the channel's business.
    let form = common::slack::click_form_on("UOP", "CLIVE", &confirm, &c.slack.response_url(9), true);
    let (status, _) = post_signed(&format!("{}/slack/interactions", c.base), SECRET, Utc::now().timestamp(), &form);
    assert_eq!(status, 200);
    let stopped = c.follow_ups(9, "IDLE", Duration::from_secs(60));
    assert_eq!(stopped[0]["delete_original"], true, "the ephemeral prompt is removed: {stopped:#?}");
    let result = stopped.last().expect("result");
    assert_eq!(
        (&result["response_type"], &result["replace_original"]),
        (&Value::from("in_channel"), &Value::from(false))
    );
    c.click("UOP", &confirm, 10);
    c.follow_ups(10, "already run", Duration::from_secs(10));

    // Teardown needs a second admin.
    let (ask, _) = c.command("ULEAD", "teardown final", 11);
    assert_eq!(ask["response_type"], "in_channel");
    assert!(text_of(&ask).contains("a second person with the admin role must approve"), "{ask}");
    let approve = button_values(&ask).into_iter().find(|b| b.starts_with("approve:")).expect("approve button");
    c.click("ULEAD", &approve, 12);
    c.follow_ups(12, "a different person must approve", Duration::from_secs(10));
    c.click("UOP", &approve, 13);
    c.follow_ups(13, "needs a role you do not have", Duration::from_secs(10));
    assert_eq!(phase(&c.store, "final"), Some(Phase::Stopped), "no teardown yet");
    c.click("ULEAD2", &approve, 14);
    wait_for("final torn down", &c.d, Duration::from_secs(120), || phase(&c.store, "final") == Some(Phase::TornDown));

    let audit = c.s.ottd(&["--output", "json", "audit", "final", "--all"]);
    for want in [
        "slack:UVIEW",
        "denied",
        "slack:UOP",
        "deploy",
        "start",
        "stop",
        "awaiting-approval",
        "approved by slack:ULEAD2",
    ] {
        assert!(audit.contains(want), "audit lacks {want:?}:\n{audit}");
    }
    let log = c.d.log();
    assert!(!log.contains(SECRET) && !log.contains(BOT), "a secret reached the log");
}

/// A STANDARD channel on demand with a backup input its operators may switch to.
const PAIR_FINAL: &str = "[[event]]\nid = \"final\"\n[event.mediaLive]\nchannelClass = \"STANDARD\"\ninputType = \"RTP_PUSH\"\ninputCidr = \"203.0.113.0/24\"\nbackupInput = true\nfailoverPreference = \"EQUAL_INPUT_PREFERENCE\"\n[event.cloudFront]\naccess_logs = false\n";

#[test]
fn breaks_returns_and_input_switches_from_slack_once_each_and_only_for_operators() {
    let c = start_on(PAIR_FINAL, "");
    c.s.ottd(&["deploy", "final"]);
    c.s.ottd(&["start", "final"]);

    let (denied, _) = c.command("UVIEW", "break final 90s", 1);
    assert!(text_of(&denied).contains("this needs the operator role on final; you are viewer here"), "{denied}");

    c.command("UOP", "break final 90s", 2);
    let done = c.follow_ups(2, "done:", Duration::from_secs(60));
    let said = text_of(done.last().expect("result"));
    assert!(said.contains("break on final now for 1m30s: splice insert 1 (8100000 ticks)"), "{said}");
    // The same command again (a double send, a second operator): nothing is created twice.
    c.command("UOP2", "break final 90s", 3);
    c.follow_ups(3, "a break is already open on final (splice event 1)", Duration::from_secs(30));

    c.command("UOP", "back final", 4);
    c.follow_ups(4, "back to the network on final: break 1 ends now", Duration::from_secs(30));

    // On demand, outside any window: no question. STANDARD: MediaLive switches both
    // pipelines together about 10 s later, and the answer waits to see it.
    c.command("UOP", "switch final backup", 5);
    let switched = c.follow_ups(5, "done: every pipeline on", Duration::from_secs(60));
    let said = text_of(switched.last().expect("result"));
    assert!(said.contains("switching final to backup") && said.contains("in about 10 s"), "{said}");
    let (list, _) = c.command("UVIEW", "schedule-actions final", 6);
    let mut listing = text_of(&list);
    if !listing.contains("pipeline 1 on") {
        listing = c.follow_ups(6, "pipeline 1 on", Duration::from_secs(30)).iter().map(text_of).collect();
    }
    assert!(listing.contains("break 1 for 1m30s (8100000 ticks)") && listing.contains("-backup`"), "{listing}");
    assert!(!listing.contains("break 2"), "one break however often asked:\n{listing}");

    let denied = audited(&c.store, "break", "denied");
    assert!(denied.iter().any(|r| r.actor == "slack:UVIEW"), "the viewer's break is audited: {denied:?}");
    assert!(!audited(&c.store, "switch", "allowed").is_empty(), "the switch is audited");
}

#[test]
fn the_daemons_phase_changes_are_posted_to_the_events_slack_channel() {
    let event = common::on_air_event("final", 60, "notify = [\"slack:#live-ops\", \"sns\"]\n");
    let s = setup(&event);
    let slack = SlackStandIn::start();
    chat_config(&s, &slack);
    s.ottd(&["bootstrap"]);
    let d = Daemon::start_with(&s, "daemon", &[("SLACK_BOT_TOKEN", BOT.into())]);
    let items = slack.log.wait("'on air' posted to #live-ops", Duration::from_secs(60), |items| {
        common::slack::api_calls(items, "chat.postMessage")
            .iter()
            .any(|m| text_of(m).contains("final: on air (schedule)"))
    });
    let posts = common::slack::api_calls(&items, "chat.postMessage");
    assert!(posts.iter().all(|m| m["channel"] == "#live-ops"), "{posts:#?}");
    assert!(posts.iter().any(|m| text_of(m).contains("final: deployed (schedule)")), "{posts:#?}");
    let tokens: Vec<String> = items
        .iter()
        .filter_map(|r| match r {
            common::slack::Received::Api { method, token, .. } if method == "chat.postMessage" => Some(token.clone()),
            _ => None,
        })
        .collect();
    assert!(tokens.iter().all(|t| t == BOT), "posted with the bot token");
    assert!(!d.log().contains(BOT), "the bot token reached the log");
}

#[test]
fn an_alert_reaches_the_channel_with_the_fix_under_way_and_its_ack_button_works() {
    let s = setup(&common::on_air_event("final", 120, "notify = [\"slack:#live-ops\"]\n"));
    let slack = SlackStandIn::start();
    slack.set_group("SOPS", &["UOP"]);
    chat_config(&s, &slack);
    let policy = "\n[alerts.policy.\"Failed to Write to Output\"]\nremedy = \"restart-pipeline\"\nwait = \"1s\"\n";
    s.append_config(policy);
    s.ottd(&["bootstrap"]);
    let store = Store::open(&s.state_path()).expect("state");
    let d =
        Daemon::start_with(&s, "daemon", &[("SLACK_SIGNING_SECRET", SECRET.into()), ("SLACK_BOT_TOKEN", BOT.into())]);
    let base = d.base_url();
    wait_for("final on air", &d, Duration::from_secs(40), || phase(&store, "final") == Some(Phase::Running));
    let channel = common::channel_id(&store, "final");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(common::put_alert(&s, &channel, "SET", "a-1", "Failed to Write to Output", "0"));

    // The alert, with what recovery will do and the buttons for the next step.
    let items = slack.log.wait("the alert in #live-ops", Duration::from_secs(30), |items| {
        common::slack::api_calls(items, "chat.postMessage")
            .iter()
            .any(|m| text_of(m).contains("Failed to Write to Output on pipeline 0"))
    });
    let posts = common::slack::api_calls(&items, "chat.postMessage");
    let alert = posts.iter().find(|m| text_of(m).contains("Failed to Write to Output on pipeline 0")).expect("alert");
    assert!(text_of(alert).contains("recovery: restart-pipeline if still set after 1s"), "{alert}");
    let buttons = button_values(alert);
    let ack = buttons.iter().find(|b| b.starts_with("run:ack ")).expect("an ack button").clone();
    assert!(
        buttons.contains(&"run:restart final 0".to_string())
            && buttons.contains(&"run:hold final".to_string())
            && buttons.contains(&"run:slate final on".to_string())
            && !buttons.iter().any(|b| b.starts_with("run:switch")),
        "{buttons:?}"
    );
    // The fix, under way without anyone: the pipeline restart is reported in the channel.
    slack.log.wait("the restart reported", Duration::from_secs(30), |items| {
        common::slack::api_calls(items, "chat.postMessage")
            .iter()
            .any(|m| text_of(m).contains("recovery: restart-pipeline") && text_of(m).contains("done"))
    });

    // A viewer's click on Ack is refused; the operator's acks the alert.
    let click = |user: &str, n: u32| {
        let form = click_form(user, "CLIVE", &ack, &slack.response_url(n));
        let (status, body) = post_signed(&format!("{base}/slack/interactions"), SECRET, Utc::now().timestamp(), &form);
        assert_eq!(status, 200, "{body}");
    };
    click("UVIEW", 1);
    let refused =
        slack.log.wait("the viewer refused", Duration::from_secs(10), |items| !responses(items, 1).is_empty());
    assert!(text_of(&responses(&refused, 1)[0]).contains("needs the operator role"), "{refused:?}");
    click("UOP", 2);
    slack.log.wait("the ack answered", Duration::from_secs(10), |items| !responses(items, 2).is_empty());
    let id: i64 = ack.trim_start_matches("run:ack ").parse().expect("alert id");
    let row = store.alert(id).expect("read").expect("the alert");
    assert_eq!(row.acked_by.as_deref(), Some("slack:UOP"));
    let log = d.log();
    assert!(!log.contains(SECRET) && !log.contains(BOT), "a secret reached the log");
}

#[test]
fn a_grant_added_to_the_configuration_applies_on_reload() {
    let c = start();
    let (denied, _) = c.command("UNEW", "hold final", 1);
    assert!(text_of(&denied).contains("needs the operator role"), "{denied}");
    let grant = "\n[[chat.grant]]\nrole = \"operator\"\nwho = [\"slack:UNEW\"]\nevents = [\"final\"]\n";
    c.s.append_config(grant);
    // The daemon notices the changed file and reloads; its log says when.
    wait_for("the reload", &c.d, Duration::from_secs(20), || c.d.log().contains("configuration reloaded"));
    let (held, _) = c.command("UNEW", "hold final", 2);
    assert_eq!(held["response_type"], "in_channel", "{held}");
    assert!(c.store.override_of("final").expect("read").is_some(), "the hold is in force");
    let log = c.d.log();
    assert!(!log.contains(SECRET) && !log.contains(BOT), "a secret reached the log");
}

/// Rows of the audit trail (reads too) doing `operation` with `decision`.
fn audited(store: &Store, operation: &str, decision: &str) -> Vec<ottd::store::AuditRow> {
    let rows = store.audit(None, None, true, 500).expect("audit");
    rows.into_iter().filter(|r| r.operation == operation && r.decision == decision).collect()
}

#[test]
fn requests_from_another_slack_workspace_are_refused_and_audited() {
    let c = start();
    let url = format!("{}/slack/commands", c.base);
    let form = common::slack::command_form_in("T0OTHER", "UOP", "CLIVE", "hold final", &c.slack.response_url(1));
    let (status, body) = post_signed(&url, SECRET, Utc::now().timestamp(), &form);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("only in its own Slack workspace"), "{body}");
    // A Slack Connect guest: the click comes through our workspace, the user is another's.
    let mut payload = common::slack::block_actions("UOP", "CLIVE", "run:hold final", &c.slack.response_url(2), false);
    payload["user"]["team_id"] = "T0GUEST".into();
    let form =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish();
    let (status, _) = post_signed(&format!("{}/slack/interactions", c.base), SECRET, Utc::now().timestamp(), &form);
    assert_eq!(status, 200);
    c.follow_ups(2, "only in its own Slack workspace", Duration::from_secs(10));
    assert_eq!(
        c.store.override_of("final").expect("read"),
        None,
        "nothing from elsewhere reached the operations layer"
    );
    let rows = c.store.audit(None, None, true, 100).expect("audit");
    let denied: Vec<_> = rows.iter().filter(|r| r.decision == "denied").collect();
    assert!(denied.iter().any(|r| r.args.to_string().contains("T0OTHER")), "{rows:#?}");
    assert!(denied.iter().any(|r| r.args.to_string().contains("T0GUEST")), "{rows:#?}");
    // Our own workspace still works.
    let (held, _) = c.command("UOP", "hold final", 3);
    assert_eq!(held["response_type"], "in_channel", "{held}");
}

#[test]
fn a_replayed_slash_command_or_click_reaches_the_operations_layer_once() {
    let c = start();
    let url = format!("{}/slack/commands", c.base);
    let form = command_form("UOP", "CLIVE", "hold final", &c.slack.response_url(1));
    let now = Utc::now().timestamp();
    let (status, first) = post_signed(&url, SECRET, now, &form);
    assert_eq!(status, 200, "{first}");
    assert!(first.contains("hold"), "{first}");
    let (status, again) = post_signed(&url, SECRET, now, &form);
    assert_eq!(status, 200, "a replay is answered 200 with no effect: {again}");
    assert!(again.trim().is_empty(), "a replay is answered nothing: {again}");
    assert_eq!(audited(&c.store, "hold", "allowed").len(), 1, "one hold");

    let clicks = format!("{}/slack/interactions", c.base);
    let click = click_form("UOP", "CLIVE", "run:resume final", &c.slack.response_url(2));
    assert_eq!(post_signed(&clicks, SECRET, now, &click).0, 200);
    c.slack.log.wait("the click answered", Duration::from_secs(10), |items| !responses(items, 2).is_empty());
    assert_eq!(post_signed(&clicks, SECRET, now, &click).0, 200, "a replayed click is answered 200");
    // A fresh click after the replay: once it is answered, the replay has had its chance.
    let fresh = click_form("UOP", "CLIVE", "run:status final", &c.slack.response_url(3));
    assert_eq!(post_signed(&clicks, SECRET, Utc::now().timestamp(), &fresh).0, 200);
    let items =
        c.slack.log.wait("the fresh click answered", Duration::from_secs(10), |items| !responses(items, 3).is_empty());
    assert_eq!(responses(&items, 2).len(), 1, "the replayed click answered nothing: {items:#?}");
    assert_eq!(audited(&c.store, "resume", "allowed").len(), 1, "one resume");
}

#[test]
fn follow_ups_go_only_to_slack_hosts_and_capability_urls_stay_out_of_the_log() {
    // A port nobody listens on: an allowed host that fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let elsewhere = SlackStandIn::start();
    let s = setup(common::ON_DEMAND_FINAL);
    let slack = SlackStandIn::start();
    chat_config_with(&s, &slack, &format!("response_hosts = [\"{}\", \"{dead}\"]\n", slack.base));
    s.ottd(&["bootstrap"]);
    let d =
        Daemon::start_with(&s, "daemon", &[("SLACK_SIGNING_SECRET", SECRET.into()), ("SLACK_BOT_TOKEN", BOT.into())]);
    let clicks = format!("{}/slack/interactions", d.base_url());
    let post = |response_url: &str| {
        let form = click_form("UVIEW", "CLIVE", "run:help", response_url);
        assert_eq!(post_signed(&clicks, SECRET, Utc::now().timestamp(), &form).0, 200);
    };
    post(&format!("{}/response/cap-elsewhere-5b1e", elsewhere.base));
    wait_for("the foreign response_url refused", &d, Duration::from_secs(10), || d.log().contains("response_hosts"));
    assert!(elsewhere.log.all().is_empty(), "ottd posted to a host that is not Slack's: {:?}", elsewhere.log.all());
    post(&format!("{dead}/response/cap-dead-9c2d"));
    wait_for("the failed follow-up logged", &d, Duration::from_secs(20), || {
        d.log().lines().filter(|l| l.contains("response_url")).count() >= 2
    });
    post(&slack.response_url(1));
    slack.log.wait("the allowed follow-up", Duration::from_secs(10), |items| !responses(items, 1).is_empty());
    let log = d.log();
    assert!(
        !log.contains("cap-elsewhere-5b1e") && !log.contains("cap-dead-9c2d"),
        "a response_url reached the log:\n{log}"
    );
}

#[test]
fn past_max_in_flight_slack_is_answered_busy_rather_than_queued() {
    let c = start_with("max_in_flight = 1\n");
    let (ack, _) = c.command("UOP", "deploy final", 1);
    assert!(text_of(&ack).contains("under way"), "{ack}");
    // The deploy holds the one slot until its result is sent.
    let (busy, took) = c.command("UVIEW", "status final", 2);
    assert!(took < Duration::from_secs(3));
    assert!(text_of(&busy).contains("busy"), "{busy}");
    c.follow_ups(1, "deployed final", Duration::from_secs(90));
    let mut n = 3;
    wait_for("a free slot once the deploy is done", &c.d, Duration::from_secs(10), || {
        n += 1;
        !text_of(&c.command("UVIEW", "status final", n).0).contains("busy")
    });
}
