//! What an operator asks of a deployed event: its status (phase, resources, live channel
//! state, ingest destinations) and its links (playback URLs on the CloudFront domain and
//! test-player links). Link building is pure; only the live channel state asks AWS.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

use super::{Engine, EngineError, Result};
use crate::lifecycle::{Phase, Status};
use crate::plan::{self, Packaging};
use crate::store::{Deployment, ResourceRow};

/// Characters left as they are in a query value: RFC 3986 unreserved.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub const HLS_PLAYER: &str = "https://hls-js.netlify.app/demo/?src=";
pub const DASH_PLAYER: &str =
    "https://reference.dashif.org/dash.js/latest/samples/dash-if-reference-player/index.html?url=";

#[derive(Debug, Clone, Serialize)]
pub struct ResourceView {
    pub key: String,
    pub kind: &'static str,
    pub name: String,
    pub status: Status,
    pub id: Option<String>,
    pub arn: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventStatus {
    pub event: String,
    pub phase: Phase,
    pub deployment: String,
    pub last_error: Option<String>,
    pub updated_at: String,
    /// The MediaLive channel's state as AWS reports it now (None when not asked or absent).
    pub channel_state: Option<String>,
    /// Push inputs: where the encoder must send, one per pipeline.
    pub ingest: Vec<String>,
    /// The backup input's destinations (automatic input failover), if it has one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backup_ingest: Vec<String>,
    pub resources: Vec<ResourceView>,
    /// Who works on the event now, and at which term (none: never leased).
    pub lease: Option<LeaseView>,
    /// What ottd's live-control commands left standing on a running channel: an open break,
    /// the slate (none: not running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<crate::live::ledger::Standing>,
}

/// An event's lease as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseView {
    /// The holder's instance (`host:pid:random`); `None` when free.
    pub holder: Option<String>,
    pub doing: Option<String>,
    pub term: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Playback {
    pub format: &'static str,
    pub url: String,
    /// A test player that opens the stream (none for Smooth Streaming).
    pub player: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Links {
    pub event: String,
    pub domain: String,
    pub playback: Vec<Playback>,
    pub ingest: Vec<String>,
    /// The backup input's destinations (automatic input failover), if it has one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backup_ingest: Vec<String>,
    /// The daemon's preview page of the event (the operations layer adds it: it holds the
    /// event's token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

/// The path (and query) of a URL: `https://host/out/v1/x/index.m3u8` -> `/out/v1/x/index.m3u8`.
pub fn url_path(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let slash = rest.find('/')?;
    Some(&rest[slash..])
}

pub fn encode_query_value(v: &str) -> String {
    utf8_percent_encode(v, QUERY_VALUE).to_string()
}

/// Playback URLs on the distribution's domain for each endpoint, with test-player links.
/// `endpoints` pairs each packaging with its MediaPackage URL (CMAF: the HLS manifest's URL).
pub fn playback_links(domain: &str, endpoints: &[(Packaging, String)]) -> Vec<Playback> {
    let order = [Packaging::Hls, Packaging::Dash, Packaging::Cmaf, Packaging::Mss];
    order
        .iter()
        .filter_map(|p| endpoints.iter().find(|(q, _)| q == p))
        .filter_map(|(p, origin_url)| {
            let path = url_path(origin_url)?;
            let url = format!("https://{domain}{path}");
            let (format, player) = match p {
                Packaging::Hls => ("HLS", Some(format!("{HLS_PLAYER}{}", encode_query_value(&url)))),
                Packaging::Dash => ("DASH", Some(format!("{DASH_PLAYER}{}", encode_query_value(&url)))),
                Packaging::Cmaf => ("CMAF", Some(format!("{HLS_PLAYER}{}", encode_query_value(&url)))),
                Packaging::Mss => ("MSS", None),
            };
            Some(Playback { format, url, player })
        })
        .collect()
}

pub(crate) fn packaging_of(key: &str) -> Option<Packaging> {
    [Packaging::Hls, Packaging::Dash, Packaging::Cmaf, Packaging::Mss]
        .into_iter()
        .find(|p| plan::endpoint_key(*p) == key)
}

/// Each created endpoint's packaging and MediaPackage URL.
pub(crate) fn endpoints_of(rows: &[ResourceRow]) -> Vec<(Packaging, String)> {
    rows.iter()
        .filter(|r| r.status == Status::Created)
        .filter_map(|r| Some((packaging_of(&r.key)?, r.attr("url")?.to_string())))
        .collect()
}

fn ingest_of(rows: &[ResourceRow], key: &str) -> Vec<String> {
    rows.iter()
        .filter(|r| r.key == key && r.status == Status::Created)
        .flat_map(|r| {
            r.attrs
                .get("destinations")
                .and_then(|d| d.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect()
}

impl Engine {
    fn deployment_of(&self, event: &str) -> Result<Deployment> {
        self.store.deployment(event)?.ok_or_else(|| EngineError::NotDeployed(event.to_string()))
    }

    /// The event's status from the state file; with `live`, the channel state from AWS too.
    pub async fn status(&self, event: &str, live: bool) -> Result<EventStatus> {
        let dep = self.deployment_of(event)?;
        let rows = self.store.resources(event)?;
        let channel = rows.iter().find(|r| r.key == plan::CHANNEL && r.status == Status::Created);
        let channel_state = match (live, channel.and_then(|c| c.aws_id.as_deref())) {
            (true, Some(id)) => Some(self.channel_state(id).await?),
            _ => None,
        };
        let lease = self.store.lease(&dep.event)?.map(|l| LeaseView {
            holder: (!l.is_free()).then(|| l.instance().to_string()),
            doing: (!l.is_free()).then(|| l.doing.clone()),
            term: l.term,
        });
        let live = match dep.phase {
            Phase::Running => Some(self.standing(event, &dep.nonce)?),
            _ => None,
        };
        Ok(EventStatus {
            live,
            lease,
            event: dep.event,
            phase: dep.phase,
            deployment: dep.nonce,
            last_error: dep.last_error,
            updated_at: dep.updated_at.to_rfc3339(),
            channel_state,
            ingest: ingest_of(&rows, plan::INPUT),
            backup_ingest: ingest_of(&rows, plan::BACKUP_INPUT),
            resources: rows
                .iter()
                .map(|r| ResourceView {
                    key: r.key.clone(),
                    kind: r.kind.label(),
                    name: r.name.clone(),
                    status: r.status,
                    id: r.aws_id.clone(),
                    arn: r.arn.clone(),
                })
                .collect(),
        })
    }

    /// Playback and player links of a deployed event.
    pub fn links(&self, event: &str) -> Result<Links> {
        let dep = self.deployment_of(event)?;
        if matches!(dep.phase, Phase::TornDown) {
            return Err(EngineError::NotDeployed(event.to_string()));
        }
        let rows = self.store.resources(event)?;
        let domain = rows
            .iter()
            .find(|r| r.key == plan::DISTRIBUTION && r.status == Status::Created)
            .and_then(|r| r.attr("domain"))
            .ok_or_else(|| EngineError::NotDeployed(event.to_string()))?
            .to_string();
        let endpoints = endpoints_of(&rows);
        Ok(Links {
            event: event.to_string(),
            playback: playback_links(&domain, &endpoints),
            domain,
            ingest: ingest_of(&rows, plan::INPUT),
            backup_ingest: ingest_of(&rows, plan::BACKUP_INPUT),
            preview: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_urls_take_the_endpoint_path_on_the_cloudfront_host() {
        let eps = vec![
            (Packaging::Dash, "https://abc.mediapackage.eu-west-1.amazonaws.com/out/v1/d1/index.mpd".to_string()),
            (Packaging::Hls, "https://abc.mediapackage.eu-west-1.amazonaws.com/out/v1/h1/index.m3u8".to_string()),
            (Packaging::Cmaf, "https://abc.mediapackage.eu-west-1.amazonaws.com/out/v1/c1/index.m3u8".to_string()),
        ];
        let links = playback_links("d111.cloudfront.net", &eps);
        let formats: Vec<_> = links.iter().map(|l| l.format).collect();
        assert_eq!(formats, ["HLS", "DASH", "CMAF"]);
        assert_eq!(links[0].url, "https://d111.cloudfront.net/out/v1/h1/index.m3u8");
        assert_eq!(
            links[0].player.as_deref(),
            Some("https://hls-js.netlify.app/demo/?src=https%3A%2F%2Fd111.cloudfront.net%2Fout%2Fv1%2Fh1%2Findex.m3u8")
        );
        assert!(links[1].player.as_deref().is_some_and(|p| p.starts_with(DASH_PLAYER) && p.ends_with("index.mpd")));
        assert_eq!(links[2].url, "https://d111.cloudfront.net/out/v1/c1/index.m3u8");
    }

    #[test]
    fn a_url_without_a_path_gives_no_link() {
        assert_eq!(url_path("https://host"), None);
        assert_eq!(url_path("https://host/a?b=c"), Some("/a?b=c"));
        assert!(playback_links("d", &[(Packaging::Hls, "nonsense".into())]).is_empty());
    }
}
