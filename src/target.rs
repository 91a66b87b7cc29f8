//! Where a notice goes: the `notify` entries of a schedule file (`slack:#live-ops`,
//! `discord:<channel id>`, `log`, `sns`), read by the chat notifier and checked by `validate`
//! with a did-you-mean. Plain words: it imports nothing of ottd's, so the schedule files can
//! be checked without the notifiers.

/// Where one `notify` entry goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Slack(String),
    Discord(String),
}

impl Target {
    /// `slack:#live-ops`, `slack:C0123`, `discord:123456789012345678`; `None` for entries that
    /// are not chat targets (kept for the log and SNS).
    pub fn parse(entry: &str) -> Option<Target> {
        let (platform, channel) = entry.split_once(':')?;
        let channel = channel.trim();
        match platform {
            "slack" if !channel.is_empty() => Some(Target::Slack(channel.to_string())),
            "discord" if !channel.is_empty() && channel.chars().all(|c| c.is_ascii_digit()) => {
                Some(Target::Discord(channel.to_string()))
            }
            _ => None,
        }
    }
}

/// What a `notify` entry may be, as `validate` lists it.
pub const TARGET_FORMS: &str = "slack:#channel, slack:<channel id>, discord:<channel id>, log or sns";

/// Why a `notify` entry of a schedule file is refused, with a did-you-mean where one fits
/// (`Ok`: a notifier takes it). The notifiers take exactly these: `slack:…` and
/// `discord:<id>` as [`Target::parse`] reads them (it is what the chat notifier
/// delivers by), and `log` and `sns`, which name where every notice goes anyway (the log, and the
/// SNS topic `bootstrap` made), so a list may say so.
pub fn check_target(entry: &str) -> Result<(), String> {
    if entry == "log" || entry == "sns" || Target::parse(entry).is_some() {
        return Ok(());
    }
    let refuse = |why: String| Err(format!("`{entry}` is not a notify target: {why} (targets: {TARGET_FORMS})"));
    let mean = |fixed: String| refuse(format!("did you mean `{fixed}`?"));
    let e = entry.trim();
    if e.is_empty() {
        return Err(format!("an empty notify target (targets: {TARGET_FORMS})"));
    }
    if e.eq_ignore_ascii_case("log") || e.eq_ignore_ascii_case("sns") {
        return mean(e.to_ascii_lowercase());
    }
    if let Some((platform, channel)) = e.split_once(':') {
        let channel = channel.trim();
        let lower = platform.trim().to_ascii_lowercase();
        // A platform mistyped (`Slack:`, `slak:`, `discrod:`): the same channel on the right one.
        let platform = ["slack", "discord"].into_iter().find(|p| lower == *p || strsim::levenshtein(&lower, p) <= 2);
        return match platform {
            Some(_) if channel.is_empty() => refuse(format!("`{lower}:` needs a channel")),
            Some("discord") if channel.chars().all(|c| c.is_ascii_digit()) => mean(format!("discord:{channel}")),
            Some("discord") => {
                refuse("Discord channels are named by their channel id (Developer Mode → Copy Channel ID)".to_string())
            }
            Some(p) => mean(format!("{p}:{channel}")),
            None if lower == "sns" || lower.starts_with("arn") => {
                refuse("write `sns`: notices go to the topic `bootstrap` made".to_string())
            }
            None if lower == "http" || lower == "https" => {
                refuse("webhooks are not supported, chat posts with the bot token".to_string())
            }
            None => refuse("no notifier takes it".to_string()),
        };
    }
    if e.contains('@') {
        return refuse(
            "ottd sends no email itself: subscribe the address to the SNS topic `bootstrap` made \
             (`<prefix>-alerts`) and write `sns`"
                .to_string(),
        );
    }
    if e.len() >= 15 && e.chars().all(|c| c.is_ascii_digit()) {
        return mean(format!("discord:{e}"));
    }
    let channel = e.strip_prefix('#').unwrap_or(e);
    let slack_name = |c: &str| {
        (1..=80).contains(&c.len())
            && c.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    };
    let slack_id = |c: &str| {
        (9..=12).contains(&c.len())
            && c.starts_with(['C', 'G'])
            && c.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    if e.starts_with('#') || slack_name(channel) && channel.contains(['-', '_']) {
        return mean(format!("slack:#{}", channel.to_ascii_lowercase()));
    }
    if slack_id(e) {
        return mean(format!("slack:{e}"));
    }
    refuse("no notifier takes it".to_string())
}

#[cfg(test)]
mod tests {
    use super::check_target;

    #[test]
    fn every_notify_target_a_notifier_takes_is_accepted_and_nothing_else() {
        for ok in ["slack:#live-ops", "slack:C0123ABCD", "discord:123456789012345678", "log", "sns"] {
            assert_eq!(check_target(ok), Ok(()), "{ok}");
        }
        let hint = |e: &str| check_target(e).expect_err(e);
        assert!(hint("#live-ops").contains("did you mean `slack:#live-ops`?"), "{}", hint("#live-ops"));
        assert!(hint("live-ops").contains("did you mean `slack:#live-ops`?"), "{}", hint("live-ops"));
        assert!(hint("Slack:#live-ops").contains("did you mean `slack:#live-ops`?"));
        assert!(hint("slak:#live-ops").contains("did you mean `slack:#live-ops`?"));
        assert!(hint("123456789012345678").contains("did you mean `discord:123456789012345678`?"));
        assert!(hint("discrod:123456789012345678").contains("did you mean `discord:123456789012345678`?"));
        assert!(hint("discord:#general").contains("channel id"), "{}", hint("discord:#general"));
        assert!(hint("slack:").contains("needs a channel"), "{}", hint("slack:"));
        assert!(hint("SNS").contains("did you mean `sns`?"));
        assert!(hint("ops@example.com").contains("subscribe"), "{}", hint("ops@example.com"));
        assert!(hint("").contains("empty"), "{}", hint(""));
        for e in ["#live-ops", "teams:general", "x"] {
            assert!(hint(e).contains("slack:#channel"), "the accepted forms are listed: {}", hint(e));
        }
    }
}
