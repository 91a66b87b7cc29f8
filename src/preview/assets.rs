//! The files the preview page loads: the two players, taken from npm's packages (never copied
//! into the repository), and the page's own script and style, built into the binary.
//!
//! The players are read from `[preview] assets` at each request (so `npm ci --prefix web`
//! after the daemon started is enough), as `node_modules` lays them out or as two plain files
//! in that folder. With `player_cdn = true` a missing player is loaded from a public CDN
//! instead, at the pinned version and with its integrity hash, so the browser refuses any
//! other bytes.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The page's script and style (no inline script or style: the CSP allows neither).
pub const PREVIEW_JS: &str = include_str!("preview.js");
pub const PREVIEW_CSS: &str = include_str!("preview.css");

/// Where the CDN fallback comes from (an npm mirror serving package files as published).
pub const CDN_ORIGIN: &str = "https://cdn.jsdelivr.net";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Player {
    Hls,
    Dash,
}

impl Player {
    pub const ALL: [Player; 2] = [Player::Hls, Player::Dash];

    /// The player's name on the page and in the log.
    pub fn label(self) -> &'static str {
        match self {
            Player::Hls => "hls.js",
            Player::Dash => "dash.js",
        }
    }

    /// The file's name under `/preview/assets/`.
    pub fn file(self) -> &'static str {
        match self {
            Player::Hls => "hls.light.min.js",
            Player::Dash => "dash.all.min.js",
        }
    }

    /// The npm package and version `web/package.json` pins.
    pub fn package(self) -> (&'static str, &'static str) {
        match self {
            Player::Hls => ("hls.js", "1.7.4"),
            Player::Dash => ("dashjs", "5.2.1"),
        }
    }

    /// The file inside its package.
    fn in_package(self) -> &'static str {
        match self {
            Player::Hls => "dist/hls.light.min.js",
            // dash.js 5's browser build ("exports" → "browser" in its package.json).
            Player::Dash => "dist/modern/umd/dash.all.min.js",
        }
    }

    /// Subresource integrity of the pinned file (the CDN fallback must be these bytes);
    /// `tests/preview.rs` checks it against what npm installed.
    pub fn integrity(self) -> &'static str {
        match self {
            Player::Hls => "sha384-vpNtFjJmrPAaL9LfqByx3MxTVjqrtQ6Ue6UVNnFeghNrhE0uvpydDr3tkTVcBgDz",
            Player::Dash => "sha384-NwbBGevMmVf2Lv50ZqQWLZ0dLH69dxVHYeS+8t54klP9odovQ2+Ms0J4SWfKzPkr",
        }
    }

    /// The pinned file on the CDN.
    pub fn cdn_url(self) -> String {
        let (name, version) = self.package();
        format!("{CDN_ORIGIN}/npm/{name}@{version}/{}", self.in_package())
    }

    /// Where the file may be under `dir`: npm's layout, then a plain copy.
    pub fn candidates(self, dir: &Path) -> [PathBuf; 2] {
        [dir.join(self.package().0).join(self.in_package()), dir.join(self.file())]
    }

    /// The first candidate that is a file.
    pub fn locate(self, dir: &Path) -> Option<PathBuf> {
        self.candidates(dir).into_iter().find(|p| p.is_file())
    }

    /// What to tell an operator when the file is missing.
    pub fn missing(self, dir: &Path) -> String {
        let tried: Vec<String> = self.candidates(dir).iter().map(|p| p.display().to_string()).collect();
        format!(
            "preview: the {} player is missing (looked for {}): run `npm ci --prefix web` in ottd's source, \
             or copy {} there, or set [preview] player_cdn = true",
            self.label(),
            tried.join(" and "),
            self.file()
        )
    }

    pub fn from_file(name: &str) -> Option<Player> {
        Player::ALL.into_iter().find(|p| p.file() == name)
    }
}

/// A strong validator for a file's bytes (the first 16 bytes of its SHA-256, quoted).
pub fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn players_are_found_in_npm_layout_or_as_plain_files() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(Player::Hls.locate(dir.path()), None);
        let msg = Player::Hls.missing(dir.path());
        assert!(msg.contains("hls.js/dist/hls.light.min.js") && msg.contains("npm ci --prefix web"), "{msg}");
        std::fs::write(dir.path().join("dash.all.min.js"), "x").expect("write");
        assert_eq!(Player::Dash.locate(dir.path()), Some(dir.path().join("dash.all.min.js")));
        let npm = dir.path().join("dashjs/dist/modern/umd");
        std::fs::create_dir_all(&npm).expect("mkdir");
        std::fs::write(npm.join("dash.all.min.js"), "y").expect("write");
        assert_eq!(Player::Dash.locate(dir.path()), Some(npm.join("dash.all.min.js")), "npm's layout first");
        assert_eq!(Player::from_file("hls.light.min.js"), Some(Player::Hls));
        assert_eq!(Player::from_file("../secret"), None);
    }

    #[test]
    fn cdn_urls_pin_the_version_and_etags_follow_the_bytes() {
        assert_eq!(Player::Hls.cdn_url(), "https://cdn.jsdelivr.net/npm/hls.js@1.7.4/dist/hls.light.min.js");
        assert_eq!(Player::Dash.cdn_url(), "https://cdn.jsdelivr.net/npm/dashjs@5.2.1/dist/modern/umd/dash.all.min.js");
        assert_eq!(etag(b"a"), etag(b"a"));
        assert_ne!(etag(b"a"), etag(b"b"));
        assert_eq!(etag(b"a").len(), 34);
    }
}
