//! Alerts in, recovery and notifications out. MediaLive's events reach the daemon through an
//! SQS queue an EventBridge rule fills ([`intake`]), or as SNS HTTPS pushes with verified
//! signatures ([`sns_push`]); each is parsed ([`event`]), matched to
//! the managed event whose channel it names, and recorded in the state file (SET opens an
//! alert, CLEARED closes it, duplicates and stale events change nothing). Recovery
//! ([`recovery`], a pure policy) then decides, with the event's schedule and the operator's
//! override, whether to act; its actions go through the operations layer as the `recovery`
//! actor, so they are audited, guarded by holds and run on the event's worker.

pub mod event;
pub mod intake;
pub mod recovery;
pub mod runner;
pub mod sns_push;
