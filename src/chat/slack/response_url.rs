//! Where follow-ups may go. A `response_url` comes inside the request, and a signed request
//! is not proof that its URL is Slack's (a leaked signing secret, a bug, a test left on):
//! ottd posts only to the origins of `[chat.slack] response_hosts`, Slack's own by default
//! (`https://hooks.slack.com`, `https://*.slack.com`). A `response_url` is a capability (who
//! holds it may post to the channel for 30 minutes), so it is never logged either: refusals
//! name the host, errors are logged without their URL. Pure.

use url::Url;

/// The allowed origins are configuration's plain data; which URLs they admit is decided here.
pub use crate::config::chat::Origin;

impl Origin {
    fn admits(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else { return false };
        let host_ok = if self.subdomains {
            host.strip_suffix(self.host.as_str()).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
        } else {
            host == self.host
        };
        url.scheme() == self.scheme && host_ok && url.port_or_known_default() == Some(self.port)
    }
}

/// Why a `response_url` is not posted to (the host only: the URL is a capability).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the response_url is not a URL")]
    NotUrl,
    #[error("the response_url's origin {0} is not in [chat.slack] response_hosts")]
    Host(String),
}

/// Whether follow-ups may be posted to `response_url`.
pub fn check(response_url: &str, allowed: &[Origin]) -> Result<Url, Refused> {
    let url = Url::parse(response_url).map_err(|_| Refused::NotUrl)?;
    let origin = url.origin().ascii_serialization();
    let clean = url.username().is_empty() && url.password().is_none();
    if clean && allowed.iter().any(|o| o.admits(&url)) {
        Ok(url)
    } else {
        Err(Refused::Host(origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slacks() -> Vec<Origin> {
        crate::config::chat::SLACK_RESPONSE_HOSTS.iter().map(|o| Origin::parse(o).expect("origin")).collect()
    }

    #[test]
    fn only_slacks_hosts_over_https_take_follow_ups() {
        let ok = ["https://hooks.slack.com/commands/T1/2/x", "https://hooks.slack.com:443/actions/T1/2/y"];
        for u in ok {
            assert!(check(u, &slacks()).is_ok(), "{u}");
        }
        assert!(check("https://eu.slack.com/x", &slacks()).is_ok(), "*.slack.com");
        let refused = [
            "http://hooks.slack.com/commands/T1/2/x",
            "https://hooks.slack.com.evil.example/x",
            "https://evilslack.com/x",
            "https://slack.com.evil.example/x",
            "https://hooks.slack.com:8443/x",
            "https://user@hooks.slack.com/x",
            "https://127.0.0.1/x",
            "file:///etc/passwd",
            "not a url",
        ];
        for u in refused {
            assert!(check(u, &slacks()).is_err(), "{u}");
        }
        let e = check("https://evil.example/secret-capability", &slacks()).expect_err("refused");
        assert!(!e.to_string().contains("secret-capability"), "{e}");
    }

    #[test]
    fn origins_parse_and_a_test_stand_in_can_be_allowed() {
        let local = Origin::parse("http://127.0.0.1:8080").expect("origin");
        assert!(check("http://127.0.0.1:8080/response/1", std::slice::from_ref(&local)).is_ok());
        assert!(check("http://127.0.0.1:8081/response/1", &[local]).is_err(), "another port");
        for bad in
            ["ftp://hooks.slack.com", "https://hooks.slack.com/path", "https://", "hooks.slack.com", "https://a@b.c"]
        {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
    }
}
