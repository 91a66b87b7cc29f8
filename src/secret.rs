//! A secret value that never shows in logs, `Debug` output or error messages.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(value: String) -> Self {
        Redacted(value)
    }

    /// 32 random alphanumeric characters, like the sample's generated CDN identifier.
    pub fn generate() -> Self {
        use rand::distr::{Alphanumeric, SampleString};
        Redacted(Alphanumeric.sample_string(&mut rand::rng(), 32))
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Redacted(***)")
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Redacted::generate();
        assert_eq!(s.expose().len(), 32);
        assert!(!format!("{s:?} {s}").contains(s.expose()));
    }
}
