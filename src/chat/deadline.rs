//! How long a platform waits for ottd's first answer, and how ottd's layers share that wait.
//!
//! Slack wants a slash command acknowledged, and Discord an interaction's initial response,
//! within 3 s of sending it ([`PLATFORM_LIMIT`]), transit included. One budget,
//! [`ANSWER_WITHIN`], stands for both platforms, and the two layers that wait nest inside it
//! rather than each guessing a number of its own:
//!
//! - the adapters (Slack's acknowledgement, Discord's initial response) wait [`ANSWER_WITHIN`]
//!   for the desk's turn; past it, Slack's acknowledgement says "working on it" and the answer
//!   follows on `response_url`, and Discord defers and edits the answer in;
//! - the front desk gives quick work [`QUICK`], a margin short of that, then answers
//!   "`/ott …`: working on it" itself and sends the result after: the desk knows the
//!   command's title and whether its answer is for the channel, where an adapter would have to
//!   guess. So the adapters' wait trips only when what comes around the desk is slow (reading
//!   Slack's user groups, the state file).

use std::time::Duration;

/// What Slack and Discord allow for the first answer.
pub const PLATFORM_LIMIT: Duration = Duration::from_secs(3);
/// How long an adapter waits for the desk's first message; the rest of [`PLATFORM_LIMIT`] is
/// for the answer's way back.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(2500);
/// What the desk leaves the adapter: time to render and send its first message.
const DESK_MARGIN: Duration = Duration::from_millis(500);
/// How long quick work may take before the desk says "working on it" and the result follows.
pub const QUICK: Duration = ANSWER_WITHIN.saturating_sub(DESK_MARGIN);

// The layers nest: the desk answers before the adapter gives up on it, and the adapter before
// the platform does.
const _: () = assert!(QUICK.as_millis() < ANSWER_WITHIN.as_millis());
const _: () = assert!(ANSWER_WITHIN.as_millis() < PLATFORM_LIMIT.as_millis());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_desk_answers_quick_work_within_two_seconds_and_the_adapters_wait_two_and_a_half() {
        assert_eq!(QUICK, Duration::from_secs(2));
        assert_eq!(ANSWER_WITHIN, Duration::from_millis(2500));
    }
}
