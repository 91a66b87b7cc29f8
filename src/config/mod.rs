//! Configuration: `ottd.toml` ([`settings`]), workflows ([`workflow`]), encoding profiles
//! ([`profile`], [`template`]) and the [`Catalog`] that ties them to the events of the
//! schedule files. Everything here is pure parsing and checking; nothing talks to AWS.
//!
//! Files are parsed into a positioned tree ([`doc`]) and compiled by a collecting reader
//! ([`reader`]), so a load reports every problem at once as `file:line:col: field: message`.

pub mod alerts;
pub mod chat;
pub mod doc;
pub mod grants;
pub mod preview;
pub mod probe;
pub mod profile;
pub mod reader;
pub mod reload;
pub mod settings;
pub mod template;
pub mod workflow;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use doc::{Diag, Diags};
pub use profile::Profile;
pub use settings::Settings;
pub use workflow::Workflow;

use crate::schedule::{self, EventSpec};
use doc::{Node, Source};
use reader::Ctx;

/// An event with its workflow (overrides applied) and encoding profile resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub spec: EventSpec,
    /// Shared by the events whose workflows compile to the same thing.
    pub workflow: Arc<Workflow>,
    pub profile: Arc<Profile>,
}

/// Everything ottd knows from its files, checked as a whole.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub settings: Settings,
    pub profiles: Vec<Arc<Profile>>,
    /// Shared with the scheduler, which keeps the events in force across reloads.
    pub events: Vec<Arc<Resolved>>,
}

impl Catalog {
    /// What loads but will not work as written: a recovery policy that switches to the backup
    /// input, for events whose channel can't take that switch (recovery only tells people
    /// there). One line per policy, naming the events.
    pub fn warnings(&self) -> Vec<String> {
        let p = &self.settings.alerts.policies;
        let mut switching: Vec<String> = p
            .by_type
            .iter()
            .filter(|(_, policy)| policy.remedy == alerts::Remedy::SwitchToBackup)
            .map(|(t, _)| format!("[alerts.policy.{t:?}]"))
            .collect();
        if p.default.remedy == alerts::Remedy::SwitchToBackup {
            switching.push("[alerts.policy.default]".to_string());
        }
        switching.sort();
        let refusals: Vec<String> =
            self.events.iter().filter_map(|e| e.workflow.media_live.backup_switch_refusal(&e.spec.id)).collect();
        if refusals.is_empty() {
            return Vec::new();
        }
        switching
            .into_iter()
            .map(|policy| {
                format!(
                    "warning: {policy} remedy = \"switch-to-backup\" can't act on {} event(s), where recovery will only tell people: {}",
                    refusals.len(),
                    refusals.join("; ")
                )
            })
            .collect()
    }

    /// Load `ottd.toml`, every profile, every schedule file and every workflow they use.
    pub fn load(config: &Path) -> Result<Catalog, Diags> {
        let settings = Settings::load(config)?;
        // Whatever loads is checked further, so one broken file neither hides nor distorts
        // the problems of the others.
        let (profiles, mut diags) = profile::load_dir_partial(&settings.profiles_dir);
        let profiles: Vec<Arc<Profile>> = profiles.into_iter().map(Arc::new).collect();
        let (specs, schedule_diags) = schedule::file::load_dir_partial(&settings.schedules_dir);
        diags.extend(schedule_diags);
        let mut workflows: HashMap<PathBuf, Result<Node, Diags>> = HashMap::new();
        let mut compiled = SharedWorkflows::default();
        let mut events = Vec::new();
        for mut spec in specs {
            let path = spec.workflow.clone().unwrap_or_else(|| settings.default_workflow.clone());
            let base = workflows.entry(path.clone()).or_insert_with(|| {
                let src = Source::read(&path)?;
                let node = src.parse()?;
                // The base file alone must be valid; errors name it, not the event.
                let ctx = Ctx::new(&src);
                let _ = Workflow::compile(&ctx, &node);
                ctx.into_diags().finish(node)
            });
            let base = match base {
                Ok(n) => n.clone(),
                Err(d) => {
                    if !diags.0.iter().any(|x| d.0.contains(x)) {
                        diags.extend(d.clone());
                    }
                    continue;
                }
            };
            match resolve(&spec, base, &path, &profiles) {
                Ok((workflow, profile)) => {
                    let workflow = compiled.share(workflow);
                    // The overrides live on in the compiled workflow; the tree is not needed.
                    spec.overrides = Node::table(spec.pos);
                    events.push(Arc::new(Resolved { spec, workflow, profile }));
                }
                Err(d) => diags.extend(d),
            }
        }
        diags.0.extend(schedule::conflicts::check(&events, chrono::Utc::now()));
        diags.finish(Catalog { settings, profiles, events })
    }

    pub fn event(&self, id: &str) -> Option<&Arc<Resolved>> {
        self.events.iter().find(|e| e.spec.id == id)
    }

    pub fn profile(&self, name: &str) -> Option<&Arc<Profile>> {
        find_profile(&self.profiles, name)
    }
}

/// Events whose workflows compile to the same thing share one (thousands of events may use a
/// workflow file as it is). Compiled workflows by a hash of their serialized form; equal ones
/// are found by comparison, so a hash collision shares nothing it should not.
#[derive(Default)]
struct SharedWorkflows(HashMap<u64, Vec<Arc<Workflow>>>);

impl SharedWorkflows {
    fn share(&mut self, workflow: Workflow) -> Arc<Workflow> {
        let Ok(bytes) = serde_json::to_vec(&workflow) else { return Arc::new(workflow) };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        let same_hash = self.0.entry(hasher.finish()).or_default();
        if let Some(w) = same_hash.iter().find(|w| ***w == workflow) {
            return w.clone();
        }
        let w = Arc::new(workflow);
        same_hash.push(w.clone());
        w
    }
}

fn find_profile<'a>(profiles: &'a [Arc<Profile>], name: &str) -> Option<&'a Arc<Profile>> {
    profiles.iter().find(|p| p.name.eq_ignore_ascii_case(name)).or_else(|| {
        profiles
            .iter()
            .find(|p| p.file.file_stem().and_then(|s| s.to_str()).is_some_and(|s| s.eq_ignore_ascii_case(name)))
    })
}

/// Apply an event's overrides to its workflow and find its profile.
fn resolve(
    spec: &EventSpec,
    mut base: Node,
    path: &Path,
    profiles: &[Arc<Profile>],
) -> Result<(Workflow, Arc<Profile>), Diags> {
    base.merge(&spec.overrides);
    let src = Source { file: Arc::new(path.to_path_buf()), text: String::new() };
    let ctx = Ctx::new(&src);
    let wf = Workflow::compile(&ctx, &base);
    let mut diags = ctx.into_diags();
    let Some(wf) = wf else { return Err(diags) };
    let name = &wf.media_live.encoding_profile;
    match find_profile(profiles, name) {
        Some(p) => diags.finish((wf, p.clone())),
        None => {
            let known: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
            let node = base
                .get("mediaLive")
                .and_then(|m| m.get("encodingProfile"))
                .cloned()
                .unwrap_or_else(|| Node::table(spec.pos));
            let mut d = src.diag(
                node.pos,
                "mediaLive.encodingProfile",
                format!("event `{}`: no encoding profile `{name}` (known: {})", spec.id, known.join(", ")),
            );
            if let Some(f) = node.origin {
                d.file = f;
            }
            diags.0.push(d);
            Err(diags)
        }
    }
}
