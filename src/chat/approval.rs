//! Confirmations and the two-person rule, as pure decisions.
//!
//! A destructive command (stop of a running event, teardown) is confirmed by its requester
//! with a button; a command under the two-person rule (by default teardown, and stop of an
//! event inside its window) is posted with Approve / Deny and runs only when a *different*
//! person with the role needed approves. Both expire. The requests themselves are kept in the
//! state file (`store::requests`), so a click after a daemon restart still works and a double
//! click runs nothing twice.

use chrono::{DateTime, Utc};

/// The rules are configuration's plain data, the requests the state file's records; what a
/// rule asks of a command and what a click does to a request are decided here.
pub use crate::config::grants::{Approvals, Rule};
use crate::lifecycle::Phase;
use crate::ops::Operation;
pub use crate::store::requests::{Kind, Request, State};

/// What the event is doing now, as far as the gate cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Situation {
    pub phase: Option<Phase>,
    /// Inside a scheduled window (from its start lead to its stop).
    pub in_window: bool,
}

/// What happens to a command that passed RBAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Run,
    /// The requester confirms with a button first.
    Confirm,
    /// A second person approves first.
    Approve,
}

/// Whether `op` destroys something that is live now (or, for a switch away from primary
/// inside the window, puts something other than the programme on air).
pub fn destructive(op: &Operation, s: Situation) -> bool {
    match op {
        Operation::Live(cmd) => crate::live::asks_first(cmd, s.in_window),
        Operation::Stop { .. } => s.phase == Some(Phase::Running),
        Operation::Teardown { .. } => s.phase.is_some_and(|p| p != Phase::TornDown),
        _ => false,
    }
}

pub fn gate(op: &Operation, s: Situation, approvals: &Approvals) -> Gate {
    let second = match approvals.rules.get(op.name()) {
        Some(Rule::Always) => true,
        Some(Rule::InWindow) => s.in_window,
        Some(Rule::Never) | None => false,
    };
    if second {
        Gate::Approve
    } else if destructive(op, s) {
        Gate::Confirm
    } else {
        Gate::Run
    }
}

/// A button on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Click {
    Confirm,
    Cancel,
    Approve,
    Deny,
}

impl Click {
    pub fn as_str(self) -> &'static str {
        match self {
            Click::Confirm => "confirm",
            Click::Cancel => "cancel",
            Click::Approve => "approve",
            Click::Deny => "deny",
        }
    }

    pub fn parse(s: &str) -> Option<Click> {
        [Click::Confirm, Click::Cancel, Click::Approve, Click::Deny].into_iter().find(|c| c.as_str() == s)
    }
}

/// What a click does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run the command now (the request becomes `done`).
    Run,
    /// The requester withdrew it.
    Cancel,
    /// Another person denied it.
    Reject,
    /// Too late: it becomes `expired`, nothing runs.
    Expired,
    /// Decided before (a double click, a second approver).
    Settled { state: State, by: Option<String> },
    /// This person may not click this; the request stays open.
    Refuse(String),
}

/// What `clicker` clicking `click` on `req` at `now` does. `clicker_may`: whether the clicker
/// holds the role the command needs (asked only of approvers).
pub fn decide(req: &Request, click: Click, clicker: &str, clicker_may: bool, now: DateTime<Utc>) -> Verdict {
    if req.state != State::Pending {
        return Verdict::Settled { state: req.state, by: req.decided_by.clone() };
    }
    if now >= req.expires_at {
        return Verdict::Expired;
    }
    let own = clicker == req.requester;
    match (req.kind, click) {
        (Kind::Confirm, Click::Confirm) if own => Verdict::Run,
        (_, Click::Cancel) if own => Verdict::Cancel,
        (Kind::Confirm, _) => {
            Verdict::Refuse(format!("only {} can confirm or cancel their own command", req.requester))
        }
        (Kind::Approve, Click::Approve) if own => {
            Verdict::Refuse("a different person must approve: that is the point of the two-person rule".into())
        }
        (Kind::Approve, Click::Deny) if own => Verdict::Cancel,
        (Kind::Approve, Click::Approve | Click::Deny) if !clicker_may => Verdict::Refuse(format!(
            "you may not {} `{}`: it needs a role you do not have",
            click.as_str(),
            req.command
        )),
        (Kind::Approve, Click::Approve) => Verdict::Run,
        (Kind::Approve, Click::Deny) => Verdict::Reject,
        (Kind::Approve, _) => Verdict::Refuse("this request is approved or denied, not confirmed".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    fn request(kind: Kind) -> Request {
        Request {
            id: 1,
            kind,
            requester: "slack:UA".into(),
            channel: "slack:C1".into(),
            command: "teardown final".into(),
            created_at: at(0),
            expires_at: at(900),
            state: State::Pending,
            decided_by: None,
        }
    }

    #[test]
    fn the_gate_asks_for_a_second_person_or_a_confirmation_where_it_must() {
        let rules = Approvals::default();
        let stop = Operation::Stop { event: "final".into() };
        let teardown = Operation::Teardown { event: "final".into() };
        let start = Operation::Start { event: "final".into() };
        let running = Situation { phase: Some(Phase::Running), in_window: false };
        let on_air = Situation { phase: Some(Phase::Running), in_window: true };
        let idle = Situation { phase: Some(Phase::Deployed), in_window: false };
        assert_eq!(gate(&stop, on_air, &rules), Gate::Approve);
        assert_eq!(gate(&stop, running, &rules), Gate::Confirm, "running outside its window: confirm only");
        assert_eq!(gate(&stop, idle, &rules), Gate::Run, "nothing to stop");
        assert_eq!(gate(&teardown, idle, &rules), Gate::Approve);
        assert_eq!(gate(&start, on_air, &rules), Gate::Run);
        let mut lax = rules.clone();
        lax.rules.insert("teardown".into(), Rule::Never);
        assert_eq!(gate(&teardown, idle, &lax), Gate::Confirm);
        assert_eq!(gate(&teardown, Situation { phase: None, in_window: false }, &lax), Gate::Run);
    }

    #[test]
    fn a_switch_away_from_primary_on_air_is_confirmed_and_breaks_are_not() {
        use crate::live::{LiveCommand, SwitchTarget};
        let rules = Approvals::default();
        let switch = |to| Operation::Live(LiveCommand::Switch { event: "final".into(), to });
        let on_air = Situation { phase: Some(Phase::Running), in_window: true };
        let outside = Situation { phase: Some(Phase::Running), in_window: false };
        assert_eq!(gate(&switch(SwitchTarget::Backup), on_air, &rules), Gate::Confirm);
        assert_eq!(gate(&switch(SwitchTarget::Attachment("slate-loop".into())), on_air, &rules), Gate::Confirm);
        assert_eq!(gate(&switch(SwitchTarget::Primary), on_air, &rules), Gate::Run, "back to primary: no question");
        assert_eq!(gate(&switch(SwitchTarget::Backup), outside, &rules), Gate::Run);
        let brk = Operation::Live(LiveCommand::Back { event: "final".into(), splice: None });
        assert_eq!(gate(&brk, on_air, &rules), Gate::Run);
        // A rule may still ask a second person for any of them, by its word.
        let mut strict = rules.clone();
        strict.rules.insert("break".into(), Rule::InWindow);
        let now = Operation::Live(LiveCommand::Break {
            event: "final".into(),
            duration: None,
            start: crate::live::Start::Immediate,
        });
        assert_eq!(gate(&now, on_air, &strict), Gate::Approve);
    }

    #[test]
    fn clicks_on_a_confirmation() {
        let r = request(Kind::Confirm);
        assert_eq!(decide(&r, Click::Confirm, "slack:UA", false, at(10)), Verdict::Run);
        assert_eq!(decide(&r, Click::Cancel, "slack:UA", false, at(10)), Verdict::Cancel);
        assert!(matches!(decide(&r, Click::Confirm, "slack:UB", true, at(10)), Verdict::Refuse(_)));
        assert_eq!(decide(&r, Click::Confirm, "slack:UA", true, at(900)), Verdict::Expired);
    }

    #[test]
    fn clicks_on_an_approval() {
        let r = request(Kind::Approve);
        let own = decide(&r, Click::Approve, "slack:UA", true, at(10));
        assert!(matches!(&own, Verdict::Refuse(why) if why.contains("different person")), "{own:?}");
        assert!(matches!(decide(&r, Click::Approve, "slack:UB", false, at(10)), Verdict::Refuse(_)));
        assert_eq!(decide(&r, Click::Approve, "slack:UB", true, at(10)), Verdict::Run);
        assert_eq!(decide(&r, Click::Deny, "slack:UB", true, at(10)), Verdict::Reject);
        assert_eq!(decide(&r, Click::Deny, "slack:UA", true, at(10)), Verdict::Cancel, "the requester withdraws");
        assert_eq!(decide(&r, Click::Approve, "slack:UB", true, at(901)), Verdict::Expired);
        let done = Request { state: State::Done, decided_by: Some("slack:UB".into()), ..r };
        assert_eq!(
            decide(&done, Click::Approve, "slack:UC", true, at(10)),
            Verdict::Settled { state: State::Done, by: Some("slack:UB".into()) }
        );
    }

    proptest! {
        #[test]
        fn nothing_runs_unless_the_right_person_clicks_in_time(
            kind in prop::sample::select(vec![Kind::Confirm, Kind::Approve]),
            click in prop::sample::select(vec![Click::Confirm, Click::Cancel, Click::Approve, Click::Deny]),
            clicker in prop::sample::select(vec!["slack:UA", "slack:UB"]),
            may: bool,
            t in 0i64..2000,
            state in prop::sample::select(vec![State::Pending, State::Done, State::Cancelled, State::Expired]),
        ) {
            let r = Request { state, ..request(kind) };
            if decide(&r, click, clicker, may, at(t)) == Verdict::Run {
                prop_assert_eq!(r.state, State::Pending);
                prop_assert!(at(t) < r.expires_at);
                match kind {
                    Kind::Confirm => prop_assert_eq!(clicker, "slack:UA"),
                    Kind::Approve => prop_assert!(clicker != "slack:UA" && may),
                }
            }
        }
    }
}
