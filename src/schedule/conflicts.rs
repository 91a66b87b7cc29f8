//! Events that would hold the same physical input at the same time.
//!
//! Every AWS name ottd makes carries the event id and a per-deployment nonce, so two events
//! never share a MediaLive, MediaPackage or CloudFront name. What they can share is what the
//! operator names: an Elemental Link device (INPUT_DEVICE) or a MediaConnect flow, and AWS
//! lets one of those feed only one input at a time. Two timed events using one of them in
//! overlapping windows (deploy to teardown) are an error; on-demand events are the operator's.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::doc::Diag;
use crate::config::workflow::InputType;
use crate::config::Resolved;

/// How far ahead windows are compared, and how many per event.
const HORIZON_DAYS: i64 = 90;
const MAX_WINDOWS: usize = 64;

/// The device ids or flow ARNs an event's inputs take (its backup input's flows too).
fn physical_inputs(e: &Resolved) -> Vec<String> {
    let ml = &e.workflow.media_live;
    let n = ml.channel_class.pipelines();
    let pair = |a: &str, b: &str| {
        [a.to_string(), b.to_string()].into_iter().take(n).filter(|s| !s.is_empty()).collect::<Vec<_>>()
    };
    match ml.input_type {
        InputType::InputDevice => pair(&ml.pri_link, &ml.sec_link),
        InputType::MediaConnect => {
            let mut flows = pair(&ml.pri_flow, &ml.sec_flow);
            if ml.backup_input {
                flows.extend(pair(&ml.backup_pri_flow, &ml.backup_sec_flow));
            }
            flows
        }
        _ => Vec::new(),
    }
}

fn spans(e: &Resolved, now: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let Some(t) = &e.spec.timing else { return Vec::new() };
    let horizon = now + chrono::Duration::days(HORIZON_DAYS);
    t.windows_from(now, MAX_WINDOWS)
        .into_iter()
        .take_while(|w| w.deploy_at < horizon)
        .map(|w| (w.deploy_at, w.teardown_at))
        .collect()
}

pub fn check(events: &[Arc<Resolved>], now: DateTime<Utc>) -> Vec<Diag> {
    let inputs: Vec<(usize, Vec<String>)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.spec.enabled && e.spec.timing.is_some())
        .map(|(i, e)| (i, physical_inputs(e)))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let mut out = Vec::new();
    for (k, (i, a)) in inputs.iter().enumerate() {
        for (j, b) in &inputs[..k] {
            let Some(shared) = a.iter().find(|x| b.contains(x)) else { continue };
            let (ea, eb) = (&events[*i], &events[*j]);
            let (sa, sb) = (spans(ea, now), spans(eb, now));
            let overlap =
                sa.iter().find_map(|(s1, e1)| sb.iter().find(|(s2, e2)| s1 < e2 && s2 < e1).map(|(s2, _)| *s1.max(s2)));
            if let Some(at) = overlap {
                out.push(Diag {
                    file: ea.spec.file.clone(),
                    pos: ea.spec.pos,
                    field: "event.mediaLive".to_string(),
                    message: format!(
                        "event `{}` and event `{}` ({}:{}) both use input `{shared}` in overlapping windows (around {at})",
                        ea.spec.id,
                        eb.spec.id,
                        eb.spec.file.display(),
                        eb.spec.pos.line
                    ),
                });
            }
        }
    }
    out
}
