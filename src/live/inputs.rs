//! A channel's input attachments as live control sees them: which is primary, which is
//! backup, what else is attached (file inputs, a slate loop), and whether primary and backup
//! are an automatic input failover pair. `switch` names an attachment by role or by name;
//! [`resolve`] finds it, or says what was probably meant.

use std::fmt;

use super::command::SwitchTarget;
use crate::chat::grammar::closest;

/// `AutomaticInputFailoverSettings.InputPreference` of the primary/backup pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPreference {
    /// `PRIMARY_INPUT_PREFERRED`: MediaLive returns to primary once it is healthy again.
    PrimaryPreferred,
    /// `EQUAL_INPUT_PREFERENCE`: MediaLive stays where it is.
    Equal,
}

/// The channel's `InputAttachments`, by the names MediaLive knows them under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// The attachment the event normally runs on.
    pub primary: String,
    /// The attachment `switch EVENT backup` goes to, if the channel has one.
    pub backup: Option<String>,
    /// Every other attachment, reachable by its name only.
    pub others: Vec<String>,
    /// `Some` when primary and backup are an automatic input failover pair, with its preference:
    /// MediaLive switches between the two of a pair only with [`InputPreference::Equal`]
    /// (MediaLive user guide, "Switching within the input failover pair").
    pub pair: Option<InputPreference>,
}

/// What an attachment is to the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Primary,
    Backup,
    Other,
}

impl Inputs {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.primary.as_str())
            .chain(self.backup.as_deref())
            .chain(self.others.iter().map(String::as_str))
    }

    pub fn slot(&self, name: &str) -> Option<Slot> {
        if name == self.primary {
            Some(Slot::Primary)
        } else if self.backup.as_deref() == Some(name) {
            Some(Slot::Backup)
        } else {
            self.others.iter().any(|o| o == name).then_some(Slot::Other)
        }
    }

    /// `backup (`ottd-final-…-backup`)` for primary and backup, `` `slate-loop` `` otherwise.
    pub fn label(&self, name: &str) -> String {
        match self.slot(name) {
            Some(Slot::Primary) => format!("primary (`{name}`)"),
            Some(Slot::Backup) => format!("backup (`{name}`)"),
            _ => format!("`{name}`"),
        }
    }

    /// Whether `a` and `b` are the two inputs of the failover pair.
    pub fn paired(&self, a: &str, b: &str) -> bool {
        let Some(backup) = self.backup.as_deref().filter(|_| self.pair.is_some()) else { return false };
        (a == self.primary && b == backup) || (a == backup && b == self.primary)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    NoBackup { event: String, known: Vec<String> },
    Unknown { event: String, given: String, suggestion: Option<String>, known: Vec<String> },
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |known: &[String]| known.join("`, `");
        match self {
            TargetError::NoBackup { event, known } => {
                write!(f, "{event} has no backup input: its attachments are `{}`", list(known))
            }
            TargetError::Unknown { event, given, suggestion: Some(s), .. } => {
                write!(f, "{event} has no attachment `{given}`: did you mean `{s}`?")
            }
            TargetError::Unknown { event, given, suggestion: None, known } => {
                write!(f, "{event} has no attachment `{given}`: its attachments are `{}`", list(known))
            }
        }
    }
}

impl std::error::Error for TargetError {}

/// The attachment name `to` means on `event`'s channel. Names match exactly (MediaLive's are
/// case-sensitive); a near miss suggests the closest name, or `primary`/`backup`.
pub fn resolve<'a>(event: &str, to: &SwitchTarget, inputs: &'a Inputs) -> Result<&'a str, TargetError> {
    let known = || inputs.names().map(str::to_string).collect();
    match to {
        SwitchTarget::Primary => Ok(&inputs.primary),
        SwitchTarget::Backup => {
            inputs.backup.as_deref().ok_or_else(|| TargetError::NoBackup { event: event.to_string(), known: known() })
        }
        SwitchTarget::Attachment(given) => match inputs.names().find(|n| n == given) {
            Some(name) => Ok(name),
            None => {
                let words = ["primary"].into_iter().chain(inputs.backup.as_ref().map(|_| "backup"));
                Err(TargetError::Unknown {
                    event: event.to_string(),
                    given: given.clone(),
                    suggestion: closest(given, words.chain(inputs.names())),
                    known: known(),
                })
            }
        },
    }
}

/// Whether every pipeline reports `attachment` active (and there is at least one).
pub fn all_on(active: &[Option<String>], attachment: &str) -> bool {
    !active.is_empty() && active.iter().all(|a| a.as_deref() == Some(attachment))
}

/// Where the pipelines are when not every one is on `attachment` (none when all are, or when
/// there is no attachment to be on): "input a / input b", `?` for a pipeline that says nothing.
pub fn not_all_on(active: &[Option<String>], attachment: Option<&str>) -> Option<String> {
    if all_on(active, attachment?) {
        return None;
    }
    let on: Vec<&str> = active.iter().map(|a| a.as_deref().unwrap_or("?")).collect();
    Some(if on.is_empty() { "no known input".to_string() } else { format!("input {}", on.join(" / ")) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            primary: "ottd-final-1a2b3c4d-rtmp-push".into(),
            backup: Some("ottd-final-1a2b3c4d-rtmp-push-backup".into()),
            others: vec!["slate-loop".into()],
            pair: None,
        }
    }

    #[test]
    fn roles_and_names_resolve_to_attachments() {
        let i = inputs();
        assert_eq!(resolve("final", &SwitchTarget::Primary, &i), Ok("ottd-final-1a2b3c4d-rtmp-push"));
        assert_eq!(resolve("final", &SwitchTarget::Backup, &i), Ok("ottd-final-1a2b3c4d-rtmp-push-backup"));
        let by_name = SwitchTarget::Attachment("slate-loop".into());
        assert_eq!(resolve("final", &by_name, &i), Ok("slate-loop"));
        assert_eq!(i.slot("slate-loop"), Some(Slot::Other));
        assert_eq!(i.slot("nope"), None);
        assert_eq!(i.label("ottd-final-1a2b3c4d-rtmp-push-backup"), "backup (`ottd-final-1a2b3c4d-rtmp-push-backup`)");
    }

    #[test]
    fn a_near_miss_gets_a_did_you_mean() {
        let i = inputs();
        let e = resolve("final", &SwitchTarget::Attachment("bakup".into()), &i).expect_err("typo");
        assert_eq!(e.to_string(), "final has no attachment `bakup`: did you mean `backup`?");
        let e = resolve("final", &SwitchTarget::Attachment("slate-lop".into()), &i).expect_err("typo");
        assert_eq!(e.to_string(), "final has no attachment `slate-lop`: did you mean `slate-loop`?");
        let e = resolve("final", &SwitchTarget::Attachment("Slate-Loop".into()), &i).expect_err("case");
        assert_eq!(e.to_string(), "final has no attachment `Slate-Loop`: did you mean `slate-loop`?");
        let e = resolve("final", &SwitchTarget::Attachment("xyzzy".into()), &i).expect_err("far");
        assert!(e.to_string().starts_with("final has no attachment `xyzzy`: its attachments are `ottd-final-"), "{e}");
        let alone = Inputs { backup: None, others: vec![], ..inputs() };
        let e = resolve("final", &SwitchTarget::Backup, &alone).expect_err("no backup");
        assert_eq!(e.to_string(), "final has no backup input: its attachments are `ottd-final-1a2b3c4d-rtmp-push`");
        let e = resolve("final", &SwitchTarget::Attachment("bakup".into()), &alone).expect_err("typo");
        assert!(!e.to_string().contains("did you mean `backup`"), "no backup to suggest: {e}");
    }

    #[test]
    fn only_primary_and_backup_of_a_pair_are_paired() {
        let unpaired = inputs();
        let (p, b) = (unpaired.primary.clone(), unpaired.backup.clone().unwrap_or_default());
        assert!(!unpaired.paired(&p, &b));
        let paired = Inputs { pair: Some(InputPreference::PrimaryPreferred), ..inputs() };
        assert!(paired.paired(&p, &b) && paired.paired(&b, &p));
        assert!(!paired.paired(&p, "slate-loop") && !paired.paired(&p, &p));
    }

    #[test]
    fn not_all_on_says_where_the_pipelines_are() {
        let on = |v: &[Option<&str>]| v.iter().map(|a| a.map(str::to_string)).collect::<Vec<_>>();
        assert_eq!(not_all_on(&on(&[Some("b"), Some("b")]), Some("b")), None);
        assert_eq!(not_all_on(&on(&[Some("b"), Some("b")]), None), None, "no backup: nothing to be on");
        assert_eq!(
            not_all_on(&on(&[Some("b"), Some("slate-loop")]), Some("b")).as_deref(),
            Some("input b / slate-loop")
        );
        assert_eq!(not_all_on(&on(&[None]), Some("b")).as_deref(), Some("input ?"));
        assert_eq!(not_all_on(&[], Some("b")).as_deref(), Some("no known input"));
    }
}
