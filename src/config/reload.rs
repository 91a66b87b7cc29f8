//! What a reload changes at once and what waits for the next start. The daemon reloads its
//! events (schedule files, workflows, encoding profiles), chat roles and approval rules, and
//! alert recovery policies while it runs; every other key of `ottd.toml` is read at start
//! only. [`restart_keys`] names the keys of the second kind that a reload found changed, so
//! the daemon can say so instead of seeming to take them.

use super::settings::Settings;

/// The `ottd.toml` keys (as paths, and everything under them) that apply on reload.
pub const RELOADS: [&str; 3] = ["alerts.policies", "chat.access", "chat.approvals"];

/// The keys changed between `old` and `new` that take effect only at the next start, as
/// dotted paths (`engine.call_timeout`, `chat.slack.mode`), sorted.
pub fn restart_keys(old: &Settings, new: &Settings) -> Vec<String> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return Vec::new();
    };
    let mut changed = Vec::new();
    diff("", &a, &b, &mut changed);
    let mut keys: Vec<String> =
        changed.into_iter().filter(|k| !RELOADS.iter().any(|r| k == r || k.starts_with(&format!("{r}.")))).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Leaf paths where `a` and `b` differ (a duration's `secs` / `nanos` name the duration).
fn diff(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if !is_duration(x) => {
            for k in x.keys().chain(y.keys()) {
                let null = Value::Null;
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                diff(&p, x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), out);
            }
        }
        _ if a != b => out.push(path.to_string()),
        _ => {}
    }
}

fn is_duration(m: &serde_json::Map<String, serde_json::Value>) -> bool {
    m.len() == 2 && m.contains_key("secs") && m.contains_key("nanos")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn shipped() -> Settings {
        let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ottd.toml");
        crate::config::Catalog::load(&config).expect("shipped configuration").settings
    }

    #[test]
    fn keys_read_at_start_are_named_and_reloadable_ones_are_not() {
        let old = shipped();
        let mut new = old.clone();
        assert!(restart_keys(&old, &new).is_empty(), "nothing changed");
        new.engine.call_timeout += Duration::from_secs(1);
        new.daemon.resync_interval += Duration::from_secs(1);
        new.prefix.push('x');
        new.alerts.policies.breaker_max += 1;
        new.alerts.policies.default.wait += Duration::from_secs(1);
        new.chat.approvals = Default::default();
        assert_eq!(restart_keys(&old, &new), ["daemon.resync_interval", "engine.call_timeout", "prefix"]);
    }
}
