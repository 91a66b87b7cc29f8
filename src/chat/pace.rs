//! "Latest progress wins": how the messages of one turn (progress, then the result) are
//! delivered to a platform that limits how often and how many. Both adapters read a turn's
//! stream through [`pace`]; they differ only in their [`Pacing`]:
//!
//! - Slack ([`super::slack`]): a `response_url` takes 5 messages, so at most 3 progress edits,
//!   at least 2 s apart; progress that comes sooner is dropped (the next step will say more),
//!   and the result is never held back.
//! - Discord ([`super::discord`]): edits of the original response at most once a second, every
//!   one waiting its turn (the result too, so that it never overtakes the initial response).
//!
//! Either way the latest waiting message is the one sent, and the final one always is.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::message::Message;

/// What a message that comes sooner than the gap does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Early {
    /// It waits until the gap has passed (then the latest message by then is sent).
    Wait,
    /// Progress is dropped; the final message is sent at once.
    DropProgress,
}

/// How one platform paces a turn's follow-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Sends are at least this far apart, counted from the end of the previous send (the
    /// first from the start).
    pub gap: Duration,
    /// Progress messages sent at most (`None`: no limit); the final one is always sent.
    pub progress_limit: Option<usize>,
    pub early: Early,
}

/// The latest of the messages waiting in `rx` after `m` (a final one stops the search).
pub fn latest(mut m: Message, rx: &mut mpsc::UnboundedReceiver<Message>) -> Message {
    while !m.is_final() {
        match rx.try_recv() {
            Ok(next) => m = next,
            Err(_) => break,
        }
    }
    m
}

/// Send what arrives on `rx` as `pacing` allows, from `start`, until a final message is sent.
/// `send` is told whether it sends the first. Answers whether a final message was sent (else
/// `rx` closed without one).
pub async fn pace<F, Fut>(
    rx: &mut mpsc::UnboundedReceiver<Message>,
    pacing: Pacing,
    start: Instant,
    mut send: F,
) -> bool
where
    F: FnMut(Message, bool) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut last = start;
    let mut first = true;
    let mut progress = 0;
    while let Some(m) = rx.recv().await {
        if pacing.early == Early::Wait {
            tokio::time::sleep_until(last + pacing.gap).await;
        }
        let m = latest(m, rx);
        let done = m.is_final();
        if !done {
            let spent = pacing.progress_limit.is_some_and(|n| progress >= n);
            if spent || last.elapsed() < pacing.gap {
                continue;
            }
            progress += 1;
        }
        send(m, first).await;
        first = false;
        last = Instant::now();
        if done {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::message::{Tone, Visibility};

    fn step(s: &str) -> Message {
        Message::line(s, Visibility::InChannel, Tone::Working)
    }

    fn done() -> Message {
        Message::line("done", Visibility::InChannel, Tone::Done)
    }

    /// Feed `script` (milliseconds after `start`, message) into a stream, pace it, and answer
    /// what was sent when (ms after `start`), and whether a final message was sent.
    async fn run(pacing: Pacing, script: Vec<(u64, Message)>) -> (Vec<(u128, String, bool)>, bool) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let start = Instant::now();
        tokio::spawn(async move {
            for (ms, m) in script {
                tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
                let _ = tx.send(m);
            }
        });
        let sent = std::sync::Mutex::new(Vec::new());
        let finished = pace(&mut rx, pacing, start, |m, first| {
            sent.lock().expect("lock").push((start.elapsed().as_millis(), m.reply.headline.clone(), first));
            async {}
        })
        .await;
        (sent.into_inner().expect("lock"), finished)
    }

    const DISCORD: Pacing = Pacing { gap: Duration::from_secs(1), progress_limit: None, early: Early::Wait };
    const SLACK: Pacing = Pacing { gap: Duration::from_secs(2), progress_limit: Some(3), early: Early::DropProgress };

    #[tokio::test(start_paused = true)]
    async fn waiting_edits_are_paced_the_latest_wins_and_the_final_one_is_always_sent() {
        let script = vec![
            (0, step("a")),
            (200, step("b")),
            (500, step("c")),
            (1500, step("d")),
            (1600, done()),
            (1700, step("x")),
        ];
        let (sent, finished) = run(DISCORD, script).await;
        assert!(finished);
        assert_eq!(sent, vec![(1000, "c".to_string(), true), (2000, "done".to_string(), false)]);

        // A stream that closes without a final message says so.
        let (sent, finished) = run(DISCORD, vec![(0, step("a"))]).await;
        assert!(!finished);
        assert_eq!(sent, vec![(1000, "a".to_string(), true)]);
    }

    #[tokio::test(start_paused = true)]
    async fn early_progress_is_dropped_at_most_three_edits_go_and_the_result_is_not_held_back() {
        let script = vec![
            (500, step("too soon")),
            (2100, step("a")),
            (2100, step("b")),
            (2500, step("too soon again")),
            (4200, step("c")),
            (6300, step("d")),
            (8500, step("over the budget")),
            (8600, done()),
        ];
        let (sent, finished) = run(SLACK, script).await;
        assert!(finished);
        let sent: Vec<(u128, &str)> = sent.iter().map(|(t, h, _)| (*t, h.as_str())).collect();
        assert_eq!(sent, vec![(2100, "b"), (4200, "c"), (6300, "d"), (8600, "done")]);

        // The result right after an edit is not held back either.
        let (sent, _) = run(SLACK, vec![(2100, step("a")), (2200, done())]).await;
        assert_eq!(sent.iter().map(|(t, _, _)| *t).collect::<Vec<_>>(), vec![2100, 2200]);
    }

    #[tokio::test(start_paused = true)]
    async fn with_no_progress_allowed_only_the_result_goes() {
        let only_result = Pacing { gap: Duration::ZERO, progress_limit: Some(0), early: Early::DropProgress };
        let (sent, finished) = run(only_result, vec![(0, step("a")), (3000, step("b")), (5000, done())]).await;
        assert!(finished);
        assert_eq!(sent, vec![(5000, "done".to_string(), true)]);
    }

    #[test]
    fn the_latest_progress_wins_and_a_final_message_stops_the_search() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tx.send(step("b")).expect("send");
        tx.send(step("c")).expect("send");
        tx.send(done()).expect("send");
        tx.send(step("after")).expect("send");
        assert_eq!(latest(step("a"), &mut rx).reply.headline, "done");
        assert_eq!(
            latest(Message::line("final", Visibility::InChannel, Tone::Failed), &mut rx).reply.headline,
            "final"
        );
    }
}
