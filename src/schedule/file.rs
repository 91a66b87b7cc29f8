//! Schedule files (`schedules/*.toml`): `[[event]]` tables naming what to run and, for timed
//! events, when. Parsing only; occurrences and phases live in `schedule::timing` / `phase`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::doc::{Diags, Node, Pos, Source, Value};
use crate::config::reader::{Ctx, Table};

use super::timing::Timing;

/// One event as written in a schedule file.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub id: String,
    pub title: String,
    /// The schedule file, shared by its events.
    pub file: Arc<PathBuf>,
    pub pos: Pos,
    /// Workflow file; `None` = the default from ottd.toml.
    pub workflow: Option<PathBuf>,
    /// Workflow keys this event changes (`[event.mediaLive] encodingProfile = "HD-1080p"`).
    /// Empty once [`crate::config::Catalog::load`] has compiled them into the event's workflow.
    pub overrides: Node,
    pub enabled: bool,
    /// Where notifications about this event go besides the log and SNS: only entries a
    /// notifier takes ([`crate::target::check_target`]); the loader refuses the others.
    pub notify: Vec<String>,
    /// `None` = on-demand: only commands move it.
    pub timing: Option<Timing>,
}

const ID_RULE: &str = "must be 1-24 characters of a-z, 0-9 and -, starting with a letter";

pub fn valid_id(id: &str) -> bool {
    (1..=24).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-')
}

/// Workflow sections an event may override.
pub const OVERRIDABLE: &[&str] = &["mediaLive", "mediaPackage", "cloudFront"];

/// Every `*.toml` in `dir`, sorted, with all problems of all files.
pub fn load_dir(dir: &Path) -> Result<Vec<EventSpec>, Diags> {
    let (events, diags) = load_dir_partial(dir);
    diags.finish(events)
}

/// The events of every file that parses, and the problems of those that do not: one broken
/// file must not hide the problems of the events in the others.
pub fn load_dir_partial(dir: &Path) -> (Vec<EventSpec>, Diags) {
    let mut diags = Diags::default();
    let mut events: Vec<EventSpec> = Vec::new();
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
            .collect(),
        Err(e) => {
            let src = Source::inline(&dir.display().to_string(), "");
            return (events, Diags(vec![src.diag(Pos::default(), "", format!("cannot read schedule folder: {e}"))]));
        }
    };
    paths.sort();
    for path in paths {
        match load_file(&path) {
            Ok(mut evs) => events.append(&mut evs),
            Err(d) => diags.extend(d),
        }
    }
    for (i, e) in events.iter().enumerate() {
        if let Some(prev) = events[..i].iter().find(|p| p.id == e.id) {
            let src = Source::inline(&e.file.display().to_string(), "");
            diags.0.push(src.diag(
                e.pos,
                "event.id",
                format!("event `{}` is also defined at {}:{}", e.id, prev.file.display(), prev.pos.line),
            ));
        }
    }
    (events, diags)
}

pub fn load_file(path: &Path) -> Result<Vec<EventSpec>, Diags> {
    let src = Source::read(path)?;
    parse(&src)
}

pub fn parse(src: &Source) -> Result<Vec<EventSpec>, Diags> {
    let root = src.parse_toml()?;
    let ctx = Ctx::new(src);
    let events = {
        let t = ctx.root(&root);
        let tables = t.tables("event");
        tables.iter().filter_map(|e| event(e, src)).collect::<Vec<_>>()
    };
    ctx.into_diags().finish(events)
}

/// The event's `notify` list; an entry no notifier takes is reported at its own position
/// (`notify[1]`), with a did-you-mean where one fits, and left out.
fn notify_targets(t: &Table<'_, '_, '_>) -> Vec<String> {
    let Some(items) = t.array("notify") else { return Vec::new() };
    let mut out = Vec::new();
    for (i, node) in items.iter().enumerate() {
        let field = format!("{}[{i}]", t.field("notify"));
        match &node.value {
            Value::Str(entry) => match crate::target::check_target(entry) {
                Ok(()) => out.push(entry.clone()),
                Err(why) => t.ctx().report_at(node, &field, why),
            },
            _ => t.ctx().report_at(node, &field, format!("expected a string, found {}", node.type_name())),
        }
    }
    out
}

fn event(t: &Table<'_, '_, '_>, src: &Source) -> Option<EventSpec> {
    let id = t.req_str("id");
    if let Some(id) = &id {
        if !valid_id(id) {
            t.error("id", ID_RULE);
        }
    }
    let title = t.str("title");
    let workflow = t.str("workflow").map(|w| {
        let p = PathBuf::from(w);
        match (p.is_absolute(), src.file.parent()) {
            (false, Some(dir)) => dir.join(p),
            _ => p,
        }
    });
    let enabled = t.bool("enabled").unwrap_or(true);
    let notify = notify_targets(t);
    let mut overrides = Node::table(t.pos());
    for key in OVERRIDABLE {
        if let Some(n) = t.raw(key) {
            if let crate::config::doc::Value::Table(_) = n.value {
                let mut section = n.clone();
                section.set_origin(&src.file);
                let wrapper = Node {
                    pos: t.pos(),
                    value: crate::config::doc::Value::Table(vec![(key.to_string(), section)]),
                    origin: Some(src.file.clone()),
                };
                overrides.merge(&wrapper);
            } else {
                t.error(key, format!("expected a table of {key} keys"));
            }
        }
    }
    let timing = super::timing::read(t);
    let id = id?;
    Some(EventSpec {
        title: title.unwrap_or_else(|| id.clone()),
        id,
        file: src.file.clone(),
        pos: t.pos(),
        workflow,
        overrides,
        enabled,
        notify,
        timing: timing?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_demand_event_with_overrides() {
        let src = Source::inline(
            "/s/demo.toml",
            "[[event]]\nid = \"demo\"\ntitle = \"Demo\"\n[event.mediaLive]\nencodingProfile = \"HD-1080p\"\n",
        );
        let evs = parse(&src).expect("valid");
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].id, "demo");
        assert!(evs[0].timing.is_none());
        let ml = evs[0].overrides.get("mediaLive").expect("override");
        assert!(ml.get("encodingProfile").is_some());
    }

    #[test]
    fn bad_ids_and_unknown_keys_are_reported_together() {
        let src = Source::inline("s.toml", "[[event]]\nid = \"Final!\"\ncolour = 1\n[[event]]\ntitle = \"x\"\n");
        let err = parse(&src).expect_err("invalid").to_string();
        assert!(err.contains("s.toml:2:6: event[0].id: must be 1-24 characters"), "{err}");
        assert!(err.contains("s.toml:3:10: event[0].colour: unknown key"), "{err}");
        assert!(err.contains("event[1].id: required key is missing"), "{err}");
    }

    fn errors(text: &str) -> Vec<String> {
        let src = Source::inline("s.toml", text);
        parse(&src).expect_err("invalid").0.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn a_notify_entry_no_notifier_takes_is_refused_at_its_own_position_with_a_did_you_mean() {
        let text = "[[event]]\nid = \"final\"\nnotify = [\"slack:#live-ops\", \"#live-ops\", \"log\", \"sns\",\n  \"discord:123456789012345678\", \"discord:#general\"]\n[[event]]\nid = \"semi\"\nnotify = [\"slak:#sport\"]\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(
            errs[0].starts_with(
                "s.toml:3:30: event[0].notify[1]: `#live-ops` is not a notify target: did you mean `slack:#live-ops`?"
            ),
            "{errs:#?}"
        );
        assert!(errs[1].starts_with("s.toml:4:33: event[0].notify[5]: `discord:#general`"), "{errs:#?}");
        assert!(
            errs[2].starts_with(
                "s.toml:7:11: event[1].notify[0]: `slak:#sport` is not a notify target: did you mean `slack:#sport`?"
            ),
            "{errs:#?}"
        );
    }

    #[test]
    fn a_bad_timezone_is_the_only_error_of_its_event() {
        let text = "[[event]]\nid = \"final\"\ntimezone = \"Mars/Olympus\"\nstart = 2026-12-18T20:00:00\nend = 2026-12-18T22:00:00\ndeploy_before = \"45m\"\nstart_before = \"15m\"\nstop_after = \"5m\"\nteardown_after = \"10m\"\nmax_runtime = \"4h\"\nadaptive_lead = true\n";
        assert_eq!(
            errors(text),
            ["s.toml:3:12: event[0].timezone: `Mars/Olympus` is not an IANA time zone such as Europe/Paris"]
        );
        let recurring = "[[event]]\nid = \"mag\"\ntimezone = 7\ncron = \"0 0 19 * * MON-FRI\"\nduration = \"30m\"\nkeep_deployed = true\n";
        assert_eq!(errors(recurring), ["s.toml:3:12: event[0].timezone: expected a string, found integer"]);
    }

    #[test]
    fn start_with_cron_is_one_error_not_a_list_of_unknown_keys() {
        let text = "[[event]]\nid = \"final\"\nstart = 2026-12-18T20:00:00Z\nend = 2026-12-18T22:00:00Z\ncron = \"0 0 19 * * *\"\nduration = \"30m\"\ntimezone = \"Europe/Paris\"\ndeploy_before = \"45m\"\n";
        assert_eq!(
            errors(text),
            ["s.toml:5:8: event[0].cron: an event is either one-off (start/end) or recurring (cron/duration), not both"]
        );
    }

    #[test]
    fn a_refused_lead_time_is_not_compared_with_its_default() {
        let text = "[[event]]\nid = \"final\"\nstart = 2026-12-18T20:00:00Z\nend = 2026-12-18T22:00:00Z\ndeploy_before = \"8d\"\nstart_before = \"1h\"\nmax_runtime = \"0s\"\n";
        assert_eq!(
            errors(text),
            [
                "s.toml:5:17: event[0].deploy_before: `8d` is out of range: must be between 0s and 7days",
                "s.toml:7:15: event[0].max_runtime: `0s` is out of range: must be between 1m and 7days",
            ]
        );
    }
}
