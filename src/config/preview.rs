//! `[preview]` of ottd.toml and `[daemon] public_url`: where the preview page's players come
//! from, and the address people open the daemon's pages at.
//!
//! ```toml
//! [daemon]
//! public_url = "https://ottd.example.net"   # optional; default http://<daemon.listen>
//! [preview]
//! assets = "../web/node_modules"            # hls.js and dash.js as `npm ci --prefix web` puts them
//! player_cdn = false                        # true: a CDN's copy when the local file is missing
//! ```

use std::path::{Path, PathBuf};

use super::reader::Table;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PreviewSettings {
    /// Where `hls.light.min.js` and `dash.all.min.js` are: a `node_modules` folder (the
    /// packages' own layout) or a folder holding the two files.
    pub assets: PathBuf,
    /// When a player is missing from `assets`, the page loads it from a public CDN instead
    /// (pinned version, with its integrity hash).
    pub player_cdn: bool,
}

/// The default `assets`, relative to ottd.toml: the repository's `web/node_modules`.
pub const DEFAULT_ASSETS: &str = "../web/node_modules";

pub fn compile(t: Option<&Table<'_, '_, '_>>, base: &Path) -> PreviewSettings {
    let assets = t.and_then(|t| t.str("assets")).unwrap_or_else(|| DEFAULT_ASSETS.to_string());
    let assets = super::reader::relative_to(base, assets);
    PreviewSettings { assets, player_cdn: t.and_then(|t| t.bool("player_cdn")).unwrap_or(false) }
}

/// `[daemon] public_url`: an `http(s)://host[:port][/path]` URL with no query or fragment,
/// kept without its trailing slash so paths join onto it.
pub fn public_url(v: &str) -> Result<String, String> {
    let u = url::Url::parse(v).map_err(|e| format!("`{v}` is not a URL ({e}); e.g. https://ottd.example.net"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{v}` must be an http:// or https:// URL with a host"));
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
        return Err(format!("`{v}` must have no user, query or fragment: the daemon adds its own paths"));
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_is_an_http_base_without_query_and_loses_its_trailing_slash() {
        assert_eq!(public_url("https://ottd.example.net/").as_deref(), Ok("https://ottd.example.net"));
        assert_eq!(public_url("http://10.0.0.5:9180/ops/").as_deref(), Ok("http://10.0.0.5:9180/ops"));
        assert!(public_url("ottd.example.net").expect_err("no scheme").contains("not a URL"));
        assert!(public_url("ftp://x").expect_err("scheme").contains("http:// or https://"));
        assert!(public_url("https://x/?a=b").expect_err("query").contains("no user, query or fragment"));
        assert!(public_url("https://u:p@x").expect_err("user").contains("no user"));
    }
}
