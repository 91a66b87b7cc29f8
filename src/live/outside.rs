//! Input switches ottd did not make. MediaLive reports every switch on EventBridge
//! (`MediaLive Channel Input Change`, one per pipeline). A switch made by one of ottd's own
//! schedule actions was answered where it was asked; any other (the console, another tool,
//! MediaLive's own input failover) means the channel is no longer where ottd put it, and the
//! event's people are told.

use super::naming::ActionName;

/// One reported switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported<'a> {
    pub event: &'a str,
    pub pipeline: Option<u8>,
    /// The attachment now active.
    pub input: Option<&'a str>,
    /// The schedule action that switched; none when MediaLive switched on its own.
    pub action: Option<&'a str>,
}

impl Reported<'_> {
    /// Whether one of ottd's own actions for this event made the switch.
    pub fn by_ottd(&self) -> bool {
        self.action
            .and_then(|a| ActionName::parse(a).ok())
            .and_then(|n| n.parts())
            .is_some_and(|p| p.event == self.event)
    }

    /// What the pipelines of one switch share, as a claim key in the state: the action and the
    /// input (a STANDARD channel reports each pipeline, and people are told once). MediaLive's
    /// own failover names no action and fails each pipeline over on its own: its key has the
    /// pipeline.
    pub fn key(&self) -> String {
        let by = match (self.action, self.pipeline) {
            (Some(a), _) => format!("action:{a}"),
            (None, Some(p)) => format!("failover:{p}"),
            (None, None) => "failover".to_string(),
        };
        format!("input-switch:{}:{by}:{}", self.event, self.input.unwrap_or_default())
    }
}

/// The notice for a switch ottd did not make; none for ottd's own. `switchable`: ottd can
/// switch the channel between its inputs (else the notice offers no `/ott switch`).
pub fn notice(r: &Reported, switchable: bool) -> Option<String> {
    if r.by_ottd() {
        return None;
    }
    let event = r.event;
    let on = match r.pipeline {
        Some(p) => format!("pipeline {p}"),
        None => "the channel".to_string(),
    };
    let input = match r.input {
        Some(i) => format!("input `{i}`"),
        None => "another input".to_string(),
    };
    let by = match r.action {
        Some(a) => format!("by schedule action `{a}`, not by ottd (the console or another tool)"),
        None => "by MediaLive itself (input failover), not by ottd".to_string(),
    };
    let advice = if switchable { format!("; `/ott switch {event} primary|backup` moves it") } else { String::new() };
    Some(format!(
        "{event}: {on} switched to {input} {by}. `/ott schedule-actions {event}` shows each pipeline's input{advice}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported<'a>(action: Option<&'a str>) -> Reported<'a> {
        Reported { event: "final", pipeline: Some(0), input: Some("final-backup"), action }
    }

    #[test]
    fn ottds_own_switch_is_not_told_again() {
        assert_eq!(notice(&reported(Some("ottd-final-1a2b3c4d-switch-3")), true), None);
    }

    #[test]
    fn a_switch_by_anyone_else_is_told_with_its_action_and_the_way_back() {
        let n = notice(&reported(Some("console-1")), true).expect("told");
        assert!(
            n.starts_with("final: pipeline 0 switched to input `final-backup` by schedule action `console-1`"),
            "{n}"
        );
        assert!(n.contains("/ott switch final primary|backup"), "{n}");
        // ottd's name for another event is not this event's.
        assert!(notice(&reported(Some("ottd-semi-1a2b3c4d-switch-3")), true).is_some());
        // A name that merely starts like ottd's.
        assert!(notice(&reported(Some("ottd-final-switch")), true).is_some());
        // No switch to offer where ottd can't switch.
        assert!(!notice(&reported(Some("console-1")), false).expect("told").contains("/ott switch"));
    }

    #[test]
    fn medialives_own_failover_is_told_as_such() {
        let n = notice(&Reported { event: "final", pipeline: None, input: None, action: None }, true).expect("told");
        assert!(
            n.starts_with("final: the channel switched to another input by MediaLive itself (input failover)"),
            "{n}"
        );
    }

    #[test]
    fn the_pipelines_of_one_switch_share_a_key_and_medialives_failovers_do_not() {
        let (a, b) = (reported(Some("console-1")), Reported { pipeline: Some(1), ..reported(Some("console-1")) });
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key(), "input-switch:final:action:console-1:final-backup");
        assert_ne!(a.key(), reported(Some("console-2")).key());
        let (f0, f1) = (reported(None), Reported { pipeline: Some(1), ..reported(None) });
        assert_ne!(f0.key(), f1.key(), "each pipeline fails over on its own");
    }
}
