//! A configuration document as a tree of positioned nodes, read from TOML or JSON.
//!
//! Every config file ottd reads (ottd.toml, workflows, encoding profiles, schedules) is first
//! parsed into this tree, then *compiled* by a typed reader that walks it and collects every
//! problem at once as a [`Diag`] naming file, line, column and field. That two-stage shape is
//! what lets `ottd validate` report all errors in one run instead of the first only.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a value sits in its file (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub file: Arc<PathBuf>,
    pub pos: Pos,
    /// Dotted path of the offending key (`mediaLive.inputType`), empty for whole-file problems.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.pos.line, self.pos.col)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// All problems found in one load; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diags(pub Vec<Diag>);

impl fmt::Display for Diags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diags {}

impl Diags {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn extend(&mut self, other: Diags) {
        self.0.extend(other.0);
    }
    /// `Ok(value)` when nothing was reported.
    pub fn finish<T>(self, value: T) -> Result<T, Diags> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// TOML datetimes, kept as their text (RFC 3339 or local).
    Datetime(String),
    Array(Vec<Node>),
    Table(Vec<(String, Node)>),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
    /// The file this node was read from when it differs from the document's (an event's
    /// override merged into a workflow), so errors name the right file.
    pub origin: Option<Arc<PathBuf>>,
}

impl Node {
    pub fn table(pos: Pos) -> Node {
        Node { pos, value: Value::Table(Vec::new()), origin: None }
    }

    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Str(_) => "string",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::Datetime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Table(_) => "table",
            Value::Null => "null",
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Table(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, n)| n),
            _ => None,
        }
    }

    /// Mark this node and everything below it as coming from `file`.
    pub fn set_origin(&mut self, file: &Arc<PathBuf>) {
        self.origin = Some(file.clone());
        match &mut self.value {
            Value::Table(entries) => entries.iter_mut().for_each(|(_, n)| n.set_origin(file)),
            Value::Array(items) => items.iter_mut().for_each(|n| n.set_origin(file)),
            _ => {}
        }
    }

    /// Overlay `other` onto `self`: tables merge key by key, anything else replaces.
    /// Used for per-event overrides of workflow keys.
    pub fn merge(&mut self, other: &Node) {
        match (&mut self.value, &other.value) {
            (Value::Table(mine), Value::Table(theirs)) => {
                for (k, v) in theirs {
                    match mine.iter_mut().find(|(mk, _)| mk == k) {
                        Some((_, existing)) => existing.merge(v),
                        None => mine.push((k.clone(), v.clone())),
                    }
                }
            }
            _ => *self = other.clone(),
        }
    }
}

/// Source text and the name it is reported under.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: Arc<PathBuf>,
    pub text: String,
}

impl Source {
    pub fn read(path: &Path) -> Result<Source, Diags> {
        let file = Arc::new(path.to_path_buf());
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Source { file, text }),
            Err(e) => Err(Diags(vec![Diag {
                file,
                pos: Pos { line: 0, col: 0 },
                field: String::new(),
                message: format!("cannot read file: {e}"),
            }])),
        }
    }

    pub fn inline(name: &str, text: &str) -> Source {
        Source { file: Arc::new(PathBuf::from(name)), text: text.to_string() }
    }

    pub fn diag(&self, pos: Pos, field: &str, message: impl Into<String>) -> Diag {
        Diag { file: self.file.clone(), pos, field: field.to_string(), message: message.into() }
    }

    pub fn pos_at(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let before = &self.text.as_bytes()[..offset];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|b| *b == b'\n').map(|i| i + 1).unwrap_or(0);
        let col = self.text[line_start..offset].chars().count() + 1;
        Pos { line, col }
    }

    /// Parse by file extension: `.json` as JSON, anything else as TOML.
    pub fn parse(&self) -> Result<Node, Diags> {
        let is_json = self.file.extension().and_then(|e| e.to_str()) == Some("json");
        if is_json {
            self.parse_json()
        } else {
            self.parse_toml()
        }
    }

    pub fn parse_toml(&self) -> Result<Node, Diags> {
        let (root, errors) = toml::de::DeTable::parse_recoverable(&self.text);
        if !errors.is_empty() {
            let diags = errors
                .iter()
                .map(|e| {
                    let pos = e.span().map(|s| self.pos_at(s.start)).unwrap_or_default();
                    self.diag(pos, "", format!("invalid TOML: {}", e.message().trim()))
                })
                .collect();
            return Err(Diags(diags));
        }
        let mut diags = Diags::default();
        let node = self.toml_table(root.get_ref(), root.span().start, "", &mut diags);
        diags.finish(node)
    }

    /// `path` is the dotted key of the table (as the readers name fields), for the few
    /// problems found while building the tree.
    fn toml_table(&self, table: &toml::de::DeTable<'_>, start: usize, path: &str, diags: &mut Diags) -> Node {
        let entries = table
            .iter()
            .map(|(k, v)| {
                let key = k.get_ref().to_string();
                let field = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                let node = self.toml_value(v, &field, diags);
                (key, node)
            })
            .collect();
        Node { pos: self.pos_at(start), value: Value::Table(entries), origin: None }
    }

    fn toml_value(&self, v: &toml::Spanned<toml::de::DeValue<'_>>, field: &str, diags: &mut Diags) -> Node {
        use toml::de::DeValue;
        let pos = self.pos_at(v.span().start);
        let value = match v.get_ref() {
            DeValue::String(s) => Value::Str(s.to_string()),
            DeValue::Integer(i) => {
                let digits = i.as_str().replace('_', "");
                match i64::from_str_radix(&digits, i.radix()) {
                    Ok(n) => Value::Int(n),
                    Err(_) => {
                        let message = format!("`{}` is out of range for an integer", i.as_str());
                        diags.0.push(self.diag(pos, field, message));
                        Value::Null
                    }
                }
            }
            DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
                Ok(n) => Value::Float(n),
                Err(_) => Value::Float(f64::NAN),
            },
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Datetime(d) => Value::Datetime(d.to_string()),
            DeValue::Array(a) => Value::Array(
                a.iter().enumerate().map(|(i, x)| self.toml_value(x, &format!("{field}[{i}]"), diags)).collect(),
            ),
            DeValue::Table(t) => return self.toml_table(t, v.span().start, field, diags),
        };
        Node { pos, value, origin: None }
    }

    /// JSON has no span-preserving parser in serde_json, so positions are recovered by finding
    /// each key's quoted text in order after its parent's offset. Exact for ordinary files.
    pub fn parse_json(&self) -> Result<Node, Diags> {
        let value: serde_json::Value = serde_json::from_str(&self.text).map_err(|e| {
            Diags(vec![self.diag(Pos { line: e.line(), col: e.column() }, "", format!("invalid JSON: {e}"))])
        })?;
        let start = self.text.find(['{', '[']).unwrap_or(0);
        let mut cursor = start;
        Ok(self.json_node(&value, start, &mut cursor))
    }

    fn json_node(&self, v: &serde_json::Value, at: usize, cursor: &mut usize) -> Node {
        use serde_json::Value as J;
        let pos = self.pos_at(at);
        let value = match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| {
                        let here = self.next_value_offset(*cursor);
                        *cursor = here + 1;
                        self.json_node(item, here, cursor)
                    })
                    .collect(),
            ),
            J::Object(map) => Value::Table(
                map.iter()
                    .map(|(k, item)| {
                        let needle = format!("\"{k}\"");
                        let here = self.text[*cursor..].find(&needle).map(|i| i + *cursor).unwrap_or(*cursor);
                        *cursor = here + needle.len();
                        (k.clone(), self.json_node(item, here, cursor))
                    })
                    .collect(),
            ),
        };
        Node { pos, value, origin: None }
    }

    fn next_value_offset(&self, from: usize) -> usize {
        let rest = &self.text[from.min(self.text.len())..];
        let skip = rest
            .char_indices()
            .find(|(_, c)| !c.is_whitespace() && *c != ',' && *c != '[' && *c != ':')
            .map(|(i, _)| i)
            .unwrap_or(0);
        from + skip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_positions_are_one_based_lines_and_columns() {
        let src = Source::inline("a.toml", "x = 1\n[t]\n  y = \"s\"\n");
        let root = src.parse_toml().expect("parses");
        let y = root.get("t").and_then(|t| t.get("y")).expect("y");
        assert_eq!(y.pos, Pos { line: 3, col: 7 });
        assert_eq!(y.value, Value::Str("s".into()));
    }

    #[test]
    fn toml_syntax_error_names_the_line() {
        let src = Source::inline("b.toml", "x = 1\ny = = 2\n");
        let err = src.parse_toml().expect_err("must fail");
        assert_eq!(err.0[0].pos.line, 2);
        assert!(err.to_string().starts_with("b.toml:2:"), "{err}");
    }

    #[test]
    fn an_integer_too_large_for_64_bits_names_its_key() {
        let src = Source::inline("i.toml", "[[event]]\nid = \"x\"\n[event.mediaPackage]\nhls = 99999999999999999999\n");
        let err = src.parse_toml().expect_err("out of range").to_string();
        assert_eq!(err, "i.toml:4:7: event[0].mediaPackage.hls: `99999999999999999999` is out of range for an integer");
    }

    #[test]
    fn json_keys_get_their_own_lines() {
        let text = "{\n \"mediaLive\" : {\n   \"inputType\" : \"URL_PULL\" ,\n   \"codec\": \"AVC\"\n }\n}\n";
        let src = Source::inline("c.json", text);
        let root = src.parse_json().expect("parses");
        let ml = root.get("mediaLive").expect("ml");
        assert_eq!(ml.pos.line, 2);
        assert_eq!(ml.get("codec").map(|n| n.pos.line), Some(4));
    }

    #[test]
    fn merge_overlays_tables_and_replaces_leaves() {
        let mut base = Source::inline("b", "[a]\nx = 1\ny = 2\n").parse_toml().expect("b");
        let over = Source::inline("o", "[a]\ny = 3\nz = 4\n").parse_toml().expect("o");
        base.merge(&over);
        let a = base.get("a").expect("a");
        assert_eq!(a.get("x").map(|n| &n.value), Some(&Value::Int(1)));
        assert_eq!(a.get("y").map(|n| &n.value), Some(&Value::Int(3)));
        assert_eq!(a.get("z").map(|n| &n.value), Some(&Value::Int(4)));
    }
}
