//! The chat tokens and secrets: from the environment (`SLACK_BOT_TOKEN`, `SLACK_APP_TOKEN`,
//! `SLACK_SIGNING_SECRET`, `DISCORD_TOKEN`, `DISCORD_PUBLIC_KEY`), else from the file
//! `[chat] secrets_file` names (`KEY=value` lines, as systemd's `EnvironmentFile` reads them;
//! `#` comments, optional quotes; keys that are not chat's, such as `AWS_PROFILE`, are
//! skipped, so the file may be the unit's own). Never from ottd.toml, never logged: each is
//! [`Redacted`].

use std::path::Path;

use crate::secret::Redacted;

#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// `xoxb-…`: Web API calls (chat.postMessage, chat.update).
    pub slack_bot_token: Option<Redacted>,
    /// `xapp-…`: Socket Mode (apps.connections.open).
    pub slack_app_token: Option<Redacted>,
    /// Verifies `POST /slack/*` requests.
    pub slack_signing_secret: Option<Redacted>,
    /// `Bot …`: the gateway and channel messages.
    pub discord_token: Option<Redacted>,
    /// Hex Ed25519 public key: verifies `POST /discord/interactions`.
    pub discord_public_key: Option<Redacted>,
}

pub const NAMES: [&str; 5] =
    ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_TOKEN", "DISCORD_PUBLIC_KEY"];

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{file}: cannot read the chat secrets file: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}:{line}: `{key}` is not a chat secret ottd knows (one of {})", NAMES.join(", "))]
    UnknownKey { file: String, line: usize, key: String },
    #[error("{file}:{line}: not a KEY=value line")]
    Syntax { file: String, line: usize },
}

/// A key meant for chat: `SLACK_*`, `DISCORD_*`, or a near miss of a chat secret's name. The
/// file may be the one systemd's `EnvironmentFile=` reads for the whole daemon (`AWS_PROFILE`,
/// `RUST_LOG`, ...): those keys are not chat's and are skipped, but a misspelt chat key would
/// silently turn an adapter off, so it is an error.
fn looks_like_chat(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    upper.starts_with("SLACK_")
        || upper.starts_with("DISCORD_")
        || NAMES.iter().any(|n| strsim::levenshtein(&upper, n) <= 2)
}

impl Secrets {
    /// From `env` (a lookup, so tests need not touch the process environment), then `file`.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Secrets, SecretsError> {
        let mut from_file = std::collections::HashMap::new();
        if let Some(path) = file {
            let name = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|source| SecretsError::Read { file: name.clone(), source })?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let line = line.strip_prefix("export ").unwrap_or(line);
                let Some((key, value)) = line.split_once('=') else {
                    return Err(SecretsError::Syntax { file: name, line: i + 1 });
                };
                let key = key.trim();
                if !NAMES.contains(&key) && looks_like_chat(key) {
                    return Err(SecretsError::UnknownKey { file: name, line: i + 1, key: key.to_string() });
                }
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .unwrap_or(value);
                if NAMES.contains(&key) {
                    from_file.insert(key.to_string(), value.to_string());
                }
            }
        }
        let get = |k: &str| {
            env(k)
                .filter(|v| !v.is_empty())
                .or_else(|| from_file.get(k).cloned())
                .filter(|v| !v.is_empty())
                .map(Redacted::new)
        };
        Ok(Secrets {
            slack_bot_token: get(NAMES[0]),
            slack_app_token: get(NAMES[1]),
            slack_signing_secret: get(NAMES[2]),
            discord_token: get(NAMES[3]),
            discord_public_key: get(NAMES[4]),
        })
    }

    /// Every secret value, for tests that check none leaked.
    pub fn values(&self) -> Vec<&str> {
        [
            &self.slack_bot_token,
            &self.slack_app_token,
            &self.slack_signing_secret,
            &self.discord_token,
            &self.discord_public_key,
        ]
        .into_iter()
        .flatten()
        .map(Redacted::expose)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins_over_the_file_and_nothing_shows_in_debug() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("chat.env");
        std::fs::write(&file, "# ottd chat\nSLACK_BOT_TOKEN=\"xoxb-file\"\nexport SLACK_SIGNING_SECRET='s3cret'\n\n")
            .expect("write");
        let env = |k: &str| (k == "SLACK_BOT_TOKEN").then(|| "xoxb-env".to_string());
        let s = Secrets::load(Some(&file), env).expect("load");
        assert_eq!(s.slack_bot_token.as_ref().map(Redacted::expose), Some("xoxb-env"));
        assert_eq!(s.slack_signing_secret.as_ref().map(Redacted::expose), Some("s3cret"));
        assert!(s.discord_token.is_none());
        let shown = format!("{s:?}");
        assert!(!shown.contains("xoxb-env") && !shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn a_secrets_file_shared_with_the_units_environment_file_takes_its_chat_keys_and_ignores_the_rest() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("ottd.env");
        std::fs::write(
            &file,
            "AWS_PROFILE=live-ops\nAWS_REGION=eu-west-1\nRUST_LOG=info,ottd=debug\nOTTD_CONFIG=/etc/ottd/config/ottd.toml\nSLACK_BOT_TOKEN=xoxb-file\n",
        )
        .expect("write");
        let s = Secrets::load(Some(&file), |_| None).expect("systemd's other settings are not chat's business");
        assert_eq!(s.values(), ["xoxb-file"]);
        // A chat key misspelt is still an error: it would silently turn an adapter off.
        for typo in ["SLACK_BOT_TOKN=y", "SLACK_TOKEN=y", "DISCORD_PUBKEY=y", "DICSORD_TOKEN=y"] {
            std::fs::write(&file, format!("AWS_REGION=eu-west-1\n{typo}\n")).expect("write");
            let e = Secrets::load(Some(&file), |_| None).expect_err(typo);
            assert!(matches!(e, SecretsError::UnknownKey { line: 2, .. }), "{typo}: {e}");
        }
    }

    #[test]
    fn a_bad_file_names_its_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("chat.env");
        std::fs::write(&file, "SLACK_BOT_TOKEN=x\nSLACK_BOT_TOKN=y\n").expect("write");
        let e = Secrets::load(Some(&file), |_| None).expect_err("unknown key");
        assert!(e.to_string().ends_with(":2: `SLACK_BOT_TOKN` is not a chat secret ottd knows (one of SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, DISCORD_TOKEN, DISCORD_PUBLIC_KEY)"), "{e}");
        std::fs::write(&file, "just words\n").expect("write");
        assert!(matches!(Secrets::load(Some(&file), |_| None), Err(SecretsError::Syntax { line: 1, .. })));
    }
}
