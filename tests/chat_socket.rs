//! Slack Socket Mode, end to end: `ottd run` with `[chat.slack] mode = "socket"` gets its
//! WebSocket URL from a local Web API stand-in (`apps.connections.open`) and connects to a
//! local Socket Mode stand-in, which pushes envelopes and records the acks. Refreshes, closes
//! and a silent link are played by the stand-in; the client must come back each time. AWS is
//! the emulator, as for every daemon test.

mod common;
#[path = "common/slack_socket.rs"]
mod slack_socket;

use std::time::Duration;

use common::slack::{api_calls, responses, text_of, SlackStandIn};
use common::{setup, Daemon, Setup};
use slack_socket::{click_envelope, command_envelope, event_envelope, SocketStandIn, TICKET};

const APP: &str = "xapp-1-A0TEST-1234-app-token-9c4d";
const BOT: &str = "xoxb-test-bot-token-3a8e";
/// `[chat.slack] watchdog` in these tests (the smallest allowed).
const WATCHDOG: Duration = Duration::from_secs(2);
/// Slack's limit for an acknowledgement.
const ACK_LIMIT: Duration = Duration::from_secs(3);
const HELP: &str = "What you may run here";

struct Socket {
    _s: Setup,
    slack: SlackStandIn,
    socket: SocketStandIn,
    d: Daemon,
}

fn start() -> Socket {
    let s = setup(common::ON_DEMAND_FINAL);
    let slack = SlackStandIn::start();
    let socket = SocketStandIn::start();
    slack.set_socket_url(&socket.url());
    let text = format!(
        "\n[chat.slack]\nmode = \"socket\"\napi_url = \"{}\"\nwatchdog = \"{}s\"\nteam_id = \"{}\"\nresponse_hosts = [\"{}\"]\n[[chat.grant]]\nrole = \"operator\"\nwho = [\"slack:*\"]\n",
        slack.api_url(),
        WATCHDOG.as_secs(),
        common::slack::TEAM,
        slack.base,
    );
    s.append_config(&text);
    s.ottd(&["bootstrap"]);
    let d = Daemon::start_with(&s, "daemon", &[("SLACK_APP_TOKEN", APP.into()), ("SLACK_BOT_TOKEN", BOT.into())]);
    let t = Socket { _s: s, slack, socket, d };
    t.connection(1, Duration::from_secs(30));
    t
}

impl Socket {
    fn connection(&self, n: u32, limit: Duration) {
        if let Err(e) = self.socket.wait_connection(n, limit) {
            panic!("{e}\ndaemon log:\n{}", self.d.log());
        }
    }

    fn ack(&self, id: &str, limit: Duration) -> slack_socket::Ack {
        self.socket.wait_ack(id, limit).unwrap_or_else(|e| panic!("{e}\ndaemon log:\n{}", self.d.log()))
    }

    /// `/ott TEXT` on connection `n`: the ack's payload, checked to be in time.
    fn command(&self, n: u32, id: &str, text: &str) -> serde_json::Value {
        let at = self.socket.push_to(n, &command_envelope(id, "UOP", "CLIVE", text, &self.slack.response_url(1)));
        let ack = self.ack(id, ACK_LIMIT + Duration::from_secs(2));
        let took = ack.at.saturating_duration_since(at);
        assert!(took < ACK_LIMIT, "/ott {text} acked after {took:?}; daemon log:\n{}", self.d.log());
        assert_eq!(ack.connection, n, "/ott {text} acked on another connection");
        ack.payload.unwrap_or_else(|| panic!("/ott {text} acked without an answer; daemon log:\n{}", self.d.log()))
    }

    fn open_calls(&self) -> usize {
        api_calls(&self.slack.log.all(), "apps.connections.open").len()
    }

    /// The tokens and Slack's ticket never reach the log.
    fn assert_no_secrets(&self) {
        let log = self.d.log();
        for secret in [APP, BOT, TICKET] {
            assert!(!log.contains(secret), "the daemon log shows {secret}:\n{log}");
        }
    }
}

#[test]
fn a_slash_command_is_acked_within_3s_with_its_answer_and_events_are_acked_and_ignored() {
    let t = start();
    let answer = t.command(1, "env-help", "help");
    assert!(text_of(&answer).contains(HELP), "{answer:#}");
    assert_eq!(answer["response_type"], "ephemeral", "{answer:#}");

    let at = t.socket.push(&event_envelope("env-event"));
    let ack = t.ack("env-event", ACK_LIMIT);
    assert!(ack.payload.is_none() && ack.at.saturating_duration_since(at) < ACK_LIMIT, "{ack:?}");
    assert_eq!(t.open_calls(), 1);
    t.assert_no_secrets();
}

#[test]
fn a_button_is_acked_at_once_without_a_payload_and_answered_on_response_url() {
    let t = start();
    let at = t.socket.push(&click_envelope("env-click", "UOP", "CLIVE", "run:help", &t.slack.response_url(7)));
    let ack = t.ack("env-click", ACK_LIMIT);
    assert!(ack.payload.is_none(), "a button's ack carries nothing: {ack:?}");
    assert!(ack.at.saturating_duration_since(at) < ACK_LIMIT, "{ack:?}");
    let items = t.slack.log.wait("the button's answer on /response/7", Duration::from_secs(10), |items| {
        responses(items, 7).iter().any(|v| text_of(v).contains(HELP))
    });
    let answer = responses(&items, 7).into_iter().find(|v| text_of(v).contains(HELP)).unwrap_or_default();
    assert_eq!(answer["replace_original"], false, "{answer:#}");
    t.assert_no_secrets();
}

#[test]
fn a_refresh_opens_a_new_connection_and_the_old_one_still_acks_then_retires() {
    let t = start();
    t.command(1, "env-1", "help");
    t.socket.disconnect("refresh_requested");
    t.connection(2, Duration::from_secs(5));
    assert_eq!(t.open_calls(), 2, "a fresh URL for each connection");
    assert!(text_of(&t.command(2, "env-2", "help")).contains(HELP));
    // Slack may still deliver on the old connection until it closes it.
    assert!(text_of(&t.command(1, "env-3", "list")).contains("final"));
    // Not closed by the stand-in: the client drops it after its grace (10 s).
    t.socket.wait_ended(1, Duration::from_secs(15));
    assert_eq!(t.socket.seen(|s| s.connections), 2);
    t.assert_no_secrets();
}

#[test]
fn a_closed_connection_is_reopened() {
    let t = start();
    t.socket.close();
    t.socket.wait_ended(1, Duration::from_secs(5));
    // One lost connection after a hello: the first backoff step (1 s).
    t.connection(2, Duration::from_secs(5));
    assert!(text_of(&t.command(2, "env-after-close", "help")).contains(HELP));
    assert_eq!(t.open_calls(), 2);
    t.assert_no_secrets();
}

#[test]
fn a_silent_connection_is_dropped_by_the_watchdog_and_reopened_but_a_healthy_one_is_kept() {
    let t = start();
    // Healthy: pings answered by pongs keep it up for several watchdog periods.
    t.socket.holds_for("one connection", 3 * WATCHDOG, |s| s.connections == 1 && s.ended.is_empty());
    assert!(t.socket.seen(|s| s.pings) >= 3, "the client pings every watchdog/3");
    t.socket.go_silent();
    let at = std::time::Instant::now();
    // Dropped after `watchdog` without a frame, reopened after the first backoff step (1 s).
    t.connection(2, WATCHDOG + Duration::from_secs(3));
    let took = at.elapsed();
    assert!(took >= WATCHDOG / 2, "reconnected after {took:?}: before the watchdog could fire");
    assert!(text_of(&t.command(2, "env-after-silence", "help")).contains(HELP));
    assert!(t.d.log().contains("watchdog"), "the log says why:\n{}", t.d.log());
    t.assert_no_secrets();
}

#[test]
fn a_redelivered_envelope_is_handled_once() {
    let t = start();
    let envelope = command_envelope("env-twice", "UOP", "CLIVE", "help", &t.slack.response_url(1));
    t.socket.push(&envelope);
    let first = t.ack("env-twice", ACK_LIMIT);
    assert!(first.payload.is_some(), "{first:?}");
    t.socket.push(&envelope);
    let second = t.socket.wait("the redelivery's ack", ACK_LIMIT, |s| {
        s.acks.iter().filter(|a| a.envelope_id == "env-twice").nth(1).cloned()
    });
    assert!(second.payload.is_none(), "a redelivered envelope is acked and does nothing: {second:?}");
}
