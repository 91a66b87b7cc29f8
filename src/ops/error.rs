//! What went wrong with an operation, classified so every caller knows what to do next: the
//! scheduler's backoff and notifications, the CLI's exit status, chat's wording.

use serde::Serialize;

use crate::aws::ErrorClass;
use crate::engine::EngineError;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// Worth retrying with backoff: throttling, 5xx, timeouts, a busy state file.
    Transient,
    /// Needs a human; the message says what.
    Permanent,
    /// Progress, not failure: CloudFront is still disabling; try again later.
    Pending,
    /// Another holder works on the event.
    Busy,
    /// Not allowed now: by policy, an override, or because it makes no sense in this state.
    Refused,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Pending => "pending",
            ErrorKind::Busy => "busy",
            ErrorKind::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct OpError {
    pub kind: ErrorKind,
    pub message: String,
    /// The AWS API operation that failed, when one did (for the error metric).
    pub aws_operation: Option<&'static str>,
}

impl OpError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> OpError {
        OpError { kind, message: message.into(), aws_operation: None }
    }

    pub fn refused(message: impl Into<String>) -> OpError {
        OpError::new(ErrorKind::Refused, message)
    }
}

/// The class of an engine error; the engine's own words stay the message.
pub fn classify(e: &EngineError) -> ErrorKind {
    match e {
        EngineError::Aws(a) => match a.class {
            ErrorClass::Transient => ErrorKind::Transient,
            ErrorClass::NotFound | ErrorClass::Conflict | ErrorClass::Permanent => ErrorKind::Permanent,
        },
        EngineError::Store(s) if s.is_busy() => ErrorKind::Transient,
        // Another holder took the event over: it does the work now.
        EngineError::Store(StoreError::Fenced { .. }) | EngineError::LeaseLost { .. } => ErrorKind::Busy,
        EngineError::Store(_) => ErrorKind::Permanent,
        EngineError::UnknownEvent(_)
        | EngineError::NotDeployed(_)
        | EngineError::TearingDown { .. }
        | EngineError::LiveRefused { .. } => ErrorKind::Refused,
        // The channel runs; its stream may still come.
        EngineError::Timeout { .. }
        | EngineError::Skipped { .. }
        | EngineError::Injected(_)
        | EngineError::NotLive { .. }
        | EngineError::LiveUnanswered { .. } => ErrorKind::Transient,
        EngineError::BadState { .. }
        | EngineError::Probe(_)
        | EngineError::MissingRole(_)
        | EngineError::NotOurs { .. }
        | EngineError::BadPlan { .. } => ErrorKind::Permanent,
        EngineError::Pending(_) => ErrorKind::Pending,
        EngineError::Busy { .. } => ErrorKind::Busy,
    }
}

impl From<EngineError> for OpError {
    fn from(e: EngineError) -> OpError {
        let aws_operation = match &e {
            EngineError::Aws(a) => Some(a.op),
            _ => None,
        };
        OpError { kind: classify(&e), message: e.to_string(), aws_operation }
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        let kind = if e.is_busy() { ErrorKind::Transient } else { ErrorKind::Permanent };
        OpError::new(kind, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsError;

    fn aws(class: ErrorClass) -> EngineError {
        EngineError::Aws(AwsError {
            op: "CreateChannel",
            resource: "MediaLive channel x".into(),
            code: None,
            status: None,
            message: "m".into(),
            class,
        })
    }

    #[test]
    fn every_engine_error_has_the_class_its_caller_acts_on() {
        assert_eq!(classify(&aws(ErrorClass::Transient)), ErrorKind::Transient);
        assert_eq!(classify(&aws(ErrorClass::Permanent)), ErrorKind::Permanent);
        assert_eq!(classify(&EngineError::Pending("distribution".into())), ErrorKind::Pending);
        let busy = EngineError::Busy { event: "e".into(), holder: "h:1:abc".into(), doing: "deploy".into(), term: 3 };
        assert_eq!(classify(&busy), ErrorKind::Busy);
        assert_eq!(classify(&EngineError::NotDeployed("e".into())), ErrorKind::Refused);
        assert_eq!(classify(&EngineError::MissingRole("medialive")), ErrorKind::Permanent);
        let timeout = EngineError::Timeout {
            what: "c".into(),
            want: "RUNNING",
            after: std::time::Duration::from_secs(1),
            last: "STARTING".into(),
        };
        assert_eq!(classify(&timeout), ErrorKind::Transient);
    }
}
