//! Where the operations layer reads event definitions: the files as they are now (the CLI,
//! [`Files`]) or the configuration the daemon has in force ([`InForce`]: the last good one,
//! plus live events whose file went away).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use crate::config::{Catalog, Resolved, Settings};

pub trait Definitions: Send + Sync {
    fn settings(&self) -> &Settings;
    fn event(&self, id: &str) -> Option<Arc<Resolved>>;
    fn events(&self) -> Vec<Arc<Resolved>>;
    /// The configuration's errors, when the files do not load as they are.
    fn problems(&self) -> Option<String>;
    /// Load the files again, as `validate` checks them.
    fn reload(&self) -> Result<Catalog, String>;
}

/// The files as they are now. The schedules, workflows and profiles are read on first use:
/// `status`, `links` or `audit` need only ottd.toml.
pub struct Files {
    settings: Settings,
    catalog: OnceLock<Result<Catalog, String>>,
    state: Option<PathBuf>,
}

impl Files {
    /// Read ottd.toml (required: it says where the state file is); the rest when an
    /// operation first needs events (its errors are kept for those operations).
    pub fn load(config: &std::path::Path, state: Option<PathBuf>) -> Result<Files, String> {
        let mut settings = Settings::load(config).map_err(|d| d.to_string())?;
        if let Some(p) = &state {
            settings.state_path = p.clone();
        }
        Ok(Files { settings, catalog: OnceLock::new(), state })
    }

    fn catalog(&self) -> &Result<Catalog, String> {
        self.catalog.get_or_init(|| self.reload())
    }
}

impl Definitions for Files {
    fn settings(&self) -> &Settings {
        &self.settings
    }
    fn event(&self, id: &str) -> Option<Arc<Resolved>> {
        self.catalog().as_ref().ok().and_then(|c| c.event(id).cloned())
    }
    fn events(&self) -> Vec<Arc<Resolved>> {
        self.catalog().as_ref().map(|c| c.events.clone()).unwrap_or_default()
    }
    fn problems(&self) -> Option<String> {
        self.catalog().as_ref().err().cloned()
    }
    fn reload(&self) -> Result<Catalog, String> {
        let mut c = Catalog::load(&self.settings.file).map_err(|d| d.to_string())?;
        if let Some(p) = &self.state {
            c.settings.state_path = p.clone();
        }
        Ok(c)
    }
}

/// The daemon's configuration in force, swapped whole on each good reload.
pub struct InForce {
    settings: Settings,
    events: Mutex<Arc<HashMap<String, Arc<Resolved>>>>,
    problems: Mutex<Option<String>>,
    state: Option<PathBuf>,
}

impl InForce {
    pub fn new(settings: Settings, state: Option<PathBuf>) -> InForce {
        InForce { settings, events: Mutex::default(), problems: Mutex::default(), state }
    }

    pub fn set(&self, events: Arc<HashMap<String, Arc<Resolved>>>) {
        *self.events.lock().unwrap_or_else(|p| p.into_inner()) = events;
    }

    pub fn set_problems(&self, problems: Option<String>) {
        *self.problems.lock().unwrap_or_else(|p| p.into_inner()) = problems;
    }
}

impl Definitions for InForce {
    fn settings(&self) -> &Settings {
        &self.settings
    }
    fn event(&self, id: &str) -> Option<Arc<Resolved>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }
    fn events(&self) -> Vec<Arc<Resolved>> {
        let mut v: Vec<_> = self.events.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        v.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        v
    }
    fn problems(&self) -> Option<String> {
        self.problems.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn reload(&self) -> Result<Catalog, String> {
        let mut c = Catalog::load(&self.settings.file).map_err(|d| d.to_string())?;
        if let Some(p) = &self.state {
            c.settings.state_path = p.clone();
        }
        Ok(c)
    }
}
