//! Typed reading of a [`Node`] tree that collects every problem instead of stopping at the first.
//!
//! A [`Table`] hands out fields by key and records each key it was asked for; when it is
//! dropped, any key nobody asked for is reported as unknown. Type errors, missing required keys
//! and bad enum values are reported with the key's dotted path and position.

use std::cell::RefCell;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::doc::{Diag, Diags, Node, Pos, Source, Value};

/// Shared collector for one compile pass over one file.
pub struct Ctx<'s> {
    pub src: &'s Source,
    diags: RefCell<Vec<Diag>>,
}

impl<'s> Ctx<'s> {
    pub fn new(src: &'s Source) -> Self {
        Ctx { src, diags: RefCell::new(Vec::new()) }
    }

    pub fn report(&self, pos: Pos, field: &str, message: impl Into<String>) {
        self.diags.borrow_mut().push(self.src.diag(pos, field, message));
    }

    /// Report at a node, naming the file it came from.
    pub fn report_at(&self, node: &Node, field: &str, message: impl Into<String>) {
        let mut d = self.src.diag(node.pos, field, message);
        if let Some(f) = &node.origin {
            d.file = f.clone();
        }
        self.diags.borrow_mut().push(d);
    }

    /// Everything reported, in file order (readers report in the order they ask for keys).
    pub fn into_diags(self) -> Diags {
        let mut diags = self.diags.into_inner();
        diags.sort_by(|a, b| (&a.file, a.pos.line, a.pos.col).cmp(&(&b.file, b.pos.line, b.pos.col)));
        Diags(diags)
    }

    pub fn has_errors(&self) -> bool {
        !self.diags.borrow().is_empty()
    }

    /// The root of a document, which must be a table.
    pub fn root<'c, 'n>(&'c self, node: &'n Node) -> Table<'c, 's, 'n> {
        Table::new(self, node, String::new())
    }
}

pub struct Table<'c, 's, 'n> {
    ctx: &'c Ctx<'s>,
    node: &'n Node,
    path: String,
    seen: RefCell<Vec<String>>,
    check_unknown: bool,
}

impl Drop for Table<'_, '_, '_> {
    fn drop(&mut self) {
        if !self.check_unknown {
            return;
        }
        if let Value::Table(entries) = &self.node.value {
            let seen = self.seen.borrow();
            for (k, v) in entries {
                if !seen.iter().any(|s| s == k) {
                    self.ctx.report_at(v, &self.field(k), "unknown key");
                }
            }
        }
    }
}

impl<'c, 's, 'n> Table<'c, 's, 'n> {
    fn new(ctx: &'c Ctx<'s>, node: &'n Node, path: String) -> Self {
        if !matches!(node.value, Value::Table(_)) {
            ctx.report_at(node, &path, format!("expected a table, found {}", node.type_name()));
        }
        Table { ctx, node, path, seen: RefCell::new(Vec::new()), check_unknown: true }
    }

    /// Keys this reader does not ask for are not errors (the caller reads them another way).
    pub fn allow_unknown(mut self) -> Self {
        self.check_unknown = false;
        self
    }

    pub fn node(&self) -> &'n Node {
        self.node
    }

    pub fn pos(&self) -> Pos {
        self.node.pos
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn keys(&self) -> Vec<&'n str> {
        match &self.node.value {
            Value::Table(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.node.get(key).is_some()
    }

    /// The raw node of a key, marking it as read.
    pub fn raw(&self, key: &str) -> Option<&'n Node> {
        self.seen.borrow_mut().push(key.to_string());
        self.node.get(key)
    }

    pub fn pos_of(&self, key: &str) -> Pos {
        self.node.get(key).map(|n| n.pos).unwrap_or(self.node.pos)
    }

    pub fn error(&self, key: &str, message: impl Into<String>) {
        let node = self.node.get(key).unwrap_or(self.node);
        self.ctx.report_at(node, &self.field(key), message);
    }

    fn type_error(&self, key: &str, node: &Node, expected: &str) {
        self.ctx.report_at(node, &self.field(key), format!("expected {expected}, found {}", node.type_name()));
    }

    fn missing(&self, key: &str) {
        self.ctx.report_at(self.node, &self.field(key), "required key is missing");
    }

    pub fn str(&self, key: &str) -> Option<String> {
        let node = self.raw(key)?;
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.type_error(key, node, "a string");
                None
            }
        }
    }

    pub fn req_str(&self, key: &str) -> Option<String> {
        if !self.has(key) {
            self.raw(key);
            self.missing(key);
            return None;
        }
        self.str(key)
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        let node = self.raw(key)?;
        match &node.value {
            Value::Bool(b) => Some(*b),
            // The sample's JSON and hand-written files sometimes quote booleans.
            Value::Str(s) if s == "true" || s == "false" => Some(s == "true"),
            _ => {
                self.type_error(key, node, "a boolean");
                None
            }
        }
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        let node = self.raw(key)?;
        match &node.value {
            Value::Int(i) => Some(*i),
            Value::Str(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.type_error(key, node, "an integer");
                None
            }
        }
    }

    /// An integer within `[min, max]`.
    pub fn int_in(&self, key: &str, min: i64, max: i64) -> Option<i64> {
        let v = self.int(key)?;
        if v < min || v > max {
            self.error(key, format!("{v} is out of range {min}..={max}"));
            return None;
        }
        Some(v)
    }

    /// An integer within `range` (the `limits` of each config module).
    pub fn int_within(&self, key: &str, range: &RangeInclusive<i64>) -> Option<i64> {
        self.int_in(key, *range.start(), *range.end())
    }

    pub fn float(&self, key: &str) -> Option<f64> {
        let node = self.raw(key)?;
        match &node.value {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => {
                self.type_error(key, node, "a number");
                None
            }
        }
    }

    /// One of `allowed`, compared exactly.
    pub fn one_of(&self, key: &str, allowed: &[&str]) -> Option<String> {
        let v = self.str(key)?;
        if allowed.contains(&v.as_str()) {
            Some(v)
        } else {
            self.error(key, format!("`{v}` is not one of {}", allowed.join(", ")));
            None
        }
    }

    /// A humane duration such as `30m`, `1h 30m` or `90s`.
    pub fn duration(&self, key: &str) -> Option<Duration> {
        self.duration_text(key).map(|(_, d)| d)
    }

    /// A humane duration within `range`: a value the daemon could not live with (a zero
    /// interval, a timeout of centuries) is refused here, where `ottd validate` reports it.
    pub fn duration_in(&self, key: &str, range: &RangeInclusive<Duration>) -> Option<Duration> {
        let (v, d) = self.duration_text(key)?;
        if !range.contains(&d) {
            self.error(key, format!("`{v}` is out of range: must be between {}", between(range)));
            return None;
        }
        Some(d)
    }

    fn duration_text(&self, key: &str) -> Option<(String, Duration)> {
        let v = self.str(key)?;
        match humantime::parse_duration(&v) {
            Ok(d) => Some((v, d)),
            Err(e) => {
                self.error(key, format!("`{v}` is not a duration like 30m or 1h30m: {e}"));
                None
            }
        }
    }

    pub fn table(&self, key: &str) -> Option<Table<'c, 's, 'n>> {
        let node = self.raw(key)?;
        if !matches!(node.value, Value::Table(_)) {
            self.type_error(key, node, "a table");
            return None;
        }
        Some(Table::new(self.ctx, node, self.field(key)))
    }

    pub fn array(&self, key: &str) -> Option<&'n [Node]> {
        let node = self.raw(key)?;
        match &node.value {
            Value::Array(items) => Some(items),
            _ => {
                self.type_error(key, node, "an array");
                None
            }
        }
    }

    /// An array of tables (`[[rendition]]` in TOML, a list of objects in JSON).
    pub fn tables(&self, key: &str) -> Vec<Table<'c, 's, 'n>> {
        let Some(items) = self.array(key) else { return Vec::new() };
        items.iter().enumerate().map(|(i, n)| Table::new(self.ctx, n, format!("{}[{i}]", self.field(key)))).collect()
    }

    pub fn strings(&self, key: &str) -> Option<Vec<String>> {
        let items = self.array(key)?;
        let mut out = Vec::new();
        for (i, n) in items.iter().enumerate() {
            match &n.value {
                Value::Str(s) => out.push(s.clone()),
                _ => self.ctx.report_at(
                    n,
                    &format!("{}[{i}]", self.field(key)),
                    format!("expected a string, found {}", n.type_name()),
                ),
            }
        }
        Some(out)
    }

    pub fn ctx(&self) -> &'c Ctx<'s> {
        self.ctx
    }

    /// The folder of the file the table was read from: relative paths are relative to it.
    pub fn base_dir(&self) -> PathBuf {
        let file = self.node.origin.clone().unwrap_or_else(|| self.ctx.src.file.clone());
        file.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// `p` as written in a configuration file: absolute as it is, else relative to `base`.
pub fn relative_to(base: &Path, p: impl Into<PathBuf>) -> PathBuf {
    let p = p.into();
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

/// `1s and 1day`: the bounds of a duration range as the messages and the README write them.
pub fn between(range: &RangeInclusive<Duration>) -> String {
    format!("{} and {}", humantime::format_duration(*range.start()), humantime::format_duration(*range.end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_problem_with_its_field() {
        let src = Source::inline("w.toml", "a = 1\nb = \"x\"\nc = \"AVC\"\nzz = 3\n[t]\nq = 1\n");
        let root = src.parse_toml().expect("parse");
        let ctx = Ctx::new(&src);
        {
            let t = ctx.root(&root);
            assert_eq!(t.int("a"), Some(1));
            assert_eq!(t.int("b"), None);
            assert_eq!(t.one_of("c", &["HEVC"]), None);
            assert_eq!(t.req_str("missing"), None);
            let _ = t.table("t");
        }
        let diags = ctx.into_diags().to_string();
        assert!(diags.contains("w.toml:2:5: b: expected an integer, found string"), "{diags}");
        assert!(diags.contains("w.toml:3:5: c: `AVC` is not one of HEVC"), "{diags}");
        assert!(diags.contains("missing: required key is missing"), "{diags}");
        assert!(diags.contains("w.toml:4:6: zz: unknown key"), "{diags}");
        assert!(diags.contains("w.toml:6:5: t.q: unknown key"), "{diags}");
    }

    #[test]
    fn durations_out_of_their_range_name_the_value_and_the_bounds() {
        let src = Source::inline("d.toml", "a = \"0s\"\nb = \"999999999999d\"\nc = \"1.5s\"\nd = \"soon\"\n");
        let root = src.parse_toml().expect("parse");
        let ctx = Ctx::new(&src);
        let range = Duration::from_secs(1)..=Duration::from_secs(3600);
        {
            let t = ctx.root(&root);
            assert_eq!(t.duration_in("a", &range), None);
            assert_eq!(t.duration_in("b", &range), None);
            assert_eq!(t.duration_in("c", &range), Some(Duration::from_millis(1500)));
            assert_eq!(t.duration_in("d", &range), None);
        }
        let diags: Vec<String> = ctx.into_diags().0.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            diags,
            [
                "d.toml:1:5: a: `0s` is out of range: must be between 1s and 1h",
                "d.toml:2:5: b: `999999999999d` is out of range: must be between 1s and 1h",
                "d.toml:4:5: d: `soon` is not a duration like 30m or 1h30m: expected number at 0",
            ]
        );
    }
}
