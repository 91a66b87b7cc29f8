//! The probe's HTTP edge: GET over HTTPS with rustls, a bounded body, a per-request timeout,
//! no redirects followed (a redirect is an answer to report), and optional `connect_to` rules
//! that send some host names to a fixed address (closed networks, and the local emulator's
//! stream server) while TLS still checks the certificate for the URL's own host.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::look::{Fetch, Fetched, Fetching};
use crate::config::probe::ProbeSettings;

/// Manifests are small; a body beyond this is cut (and then fails to parse, as it should).
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchSetupError {
    #[error("probe.ca_bundle: {0}")]
    CaBundle(#[from] crate::outbound::CaBundleError),
    #[error("cannot build the probe's HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// `connect_to` rules in front of the system resolver.
struct ConnectTo {
    rules: Vec<(String, SocketAddr)>,
}

/// Whether `host` matches `pattern` (`name`, or `*.suffix` for any name under suffix).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
        None => host == pattern,
    }
}

impl Resolve for ConnectTo {
    fn resolve(&self, name: Name) -> Resolving {
        let fixed = self.rules.iter().find(|(p, _)| host_matches(p, name.as_str())).map(|(_, a)| *a);
        let host = name.as_str().to_string();
        Box::pin(async move {
            if let Some(a) = fixed {
                let addrs: Addrs = Box::new(std::iter::once(a));
                return Ok(addrs);
            }
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// The probe's fetcher.
pub struct HttpFetch {
    client: reqwest::Client,
}

impl HttpFetch {
    pub fn new(s: &ProbeSettings) -> Result<HttpFetch, FetchSetupError> {
        let mut b = reqwest::Client::builder()
            .timeout(s.timeout)
            .connect_timeout(s.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ottd-probe/", env!("CARGO_PKG_VERSION")));
        if !s.connect_to.is_empty() {
            b = b.dns_resolver(Arc::new(ConnectTo { rules: s.connect_to.clone() }));
        }
        if let Some(path) = &s.ca_bundle {
            b = crate::outbound::with_ca_bundle(b, path)?;
        }
        Ok(HttpFetch { client: b.build().map_err(FetchSetupError::Client)? })
    }
}

/// Why there was no answer, without the URL (CDN URLs are not secret, but the log stays
/// uniform with the chat clients'), with every cause.
fn no_answer(e: reqwest::Error) -> Fetched {
    let why = if e.is_timeout() { "no answer in time".to_string() } else { crate::outbound::chain(&e.without_url()) };
    Fetched { status: 0, body: Vec::new(), error: Some(why) }
}

impl Fetch for HttpFetch {
    fn get<'a>(&'a self, url: &'a str, headers: &'a [(String, String)], first_bytes: Option<u64>) -> Fetching<'a> {
        Box::pin(async move {
            let mut req = self.client.get(url);
            for (k, v) in headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if let Some(n) = first_bytes {
                req = req.header("Range", format!("bytes=0-{}", n.saturating_sub(1)));
            }
            let mut resp = match req.send().await {
                Ok(r) => r,
                Err(e) => return no_answer(e),
            };
            let status = resp.status().as_u16();
            let limit = first_bytes.map_or(MAX_BODY, |n| n as usize).min(MAX_BODY);
            let mut body = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        body.extend_from_slice(&c);
                        if body.len() >= limit {
                            body.truncate(limit);
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Fetched { status, body, error: no_answer(e).error },
                }
            }
            Fetched { status, body, error: None }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_names_and_suffixes_only() {
        assert!(host_matches("*.cloudfront.net", "d111.cloudfront.net"));
        assert!(host_matches("*.cloudfront.net", "D111.CloudFront.net."));
        assert!(!host_matches("*.cloudfront.net", "cloudfront.net"));
        assert!(!host_matches("*.cloudfront.net", "evilcloudfront.net"));
        assert!(host_matches("a.example", "a.example"));
        assert!(!host_matches("a.example", "b.a.example"));
    }
}
