//! Shutdown as systemd does it (SIGTERM): work the daemon took on before the signal finishes
//! before the process exits, whoever started it. Here a chat command's deploy: acknowledged
//! ("under way"), then SIGTERM; the deploy, its audit row and its answer on `response_url`
//! all complete, and the process exits 0.

mod common;

use std::time::Duration;

use chrono::Utc;
use ottd::lifecycle::Phase;
use ottd::store::Store;

use common::slack::{command_form, post_signed, responses, text_of, SlackStandIn};
use common::{phase, setup, Daemon};

const SECRET: &str = "9a8b7c6d5e4f30211f2e3d4c5b6a7980";

#[test]
fn shutdown_waits_for_chat_work_taken_on_before_the_signal() {
    let s = setup(common::ON_DEMAND_FINAL);
    let slack = SlackStandIn::start();
    s.append_config(&slack.http_config("", &[("operator", "\"slack:UOP\"")]));
    s.ottd(&["bootstrap"]);
    let d = Daemon::start_with(&s, "daemon", &[("SLACK_SIGNING_SECRET", SECRET.into())]);
    let base = d.base_url();
    let form = command_form("UOP", "CLIVE", "deploy final", &slack.response_url(1));
    let (status, body) = post_signed(&format!("{base}/slack/commands"), SECRET, Utc::now().timestamp(), &form);
    assert_eq!(status, 200, "{body}\n{}", d.log());
    assert!(body.contains("under way"), "the deploy was taken on: {body}");

    let log = s.dir.path().join("daemon.log");
    let exit = d.terminate(Duration::from_secs(120));
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let exit = exit.unwrap_or_else(|| panic!("still running 120 s after SIGTERM:\n{log}"));
    assert!(exit.success(), "exit {exit:?}:\n{log}");

    let store = Store::open(&s.state_path()).expect("state");
    assert!(
        matches!(phase(&store, "final"), Some(Phase::Deployed | Phase::Running)),
        "the deploy finished: {:?}\n{log}",
        phase(&store, "final")
    );
    let audit = store.audit(Some("final"), None, false, 10).expect("audit");
    let deploy = audit.iter().find(|r| r.operation == "deploy").expect("the deploy's audit row");
    assert_eq!(deploy.result.as_deref(), Some("ok"), "closed with its result: {deploy:?}\n{log}");
    let answers = responses(&slack.log.all(), 1);
    assert!(answers.iter().any(|m| text_of(m).contains("deployed final")), "the answer reached Slack: {answers:#?}");
}
