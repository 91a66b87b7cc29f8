//! What ottd's outbound HTTPS clients share (SNS certificate fetches, the stream probe): CAs
//! trusted besides the system's, from a PEM bundle, and an error told with all its causes.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    #[error("cannot read the CA bundle {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA bundle {0} holds no PEM certificate")]
    NoCertificate(String),
}

/// `b` trusting the certificates of the PEM bundle at `path` besides the system's.
pub fn with_ca_bundle(b: reqwest::ClientBuilder, path: &Path) -> Result<reqwest::ClientBuilder, CaBundleError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| CaBundleError::Read { path: shown.clone(), source })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(b.tls_certs_merge(certs)),
        _ => Err(CaBundleError::NoCertificate(shown)),
    }
}

/// An error and its causes, `outer: inner: innermost` (reqwest's own text names only the
/// outermost: "error sending request").
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(&format!(": {c}"));
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_a_certificate_is_refused_and_a_chain_names_every_cause() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let err = with_ca_bundle(reqwest::Client::builder(), &path).expect_err("no certificate");
        assert!(matches!(err, CaBundleError::NoCertificate(_)), "{err}");
        let missing = with_ca_bundle(reqwest::Client::builder(), &dir.path().join("none.pem")).expect_err("missing");
        assert!(missing.to_string().starts_with("cannot read the CA bundle"), "{missing}");
        let outer = CaBundleError::Read { path: "x.pem".into(), source: std::io::Error::other("disk on fire") };
        assert_eq!(chain(&outer), "cannot read the CA bundle x.pem: disk on fire: disk on fire");
    }
}
