//! Teardown: remove exactly what the event owns, from the state file, cross-checked by tags.
//!
//! Expected flow: stop the channel, delete it, then its input and security group; disable the
//! distribution, delete it once CloudFront says Deployed, then empty and delete the log bucket;
//! delete the endpoints, the MediaPackage channel and the secret. The MediaLive chain, the
//! CloudFront chain and the MediaPackage chain run concurrently.
//!
//! Guarantees: a resource is deleted only when its tags name this deployment (where the
//! service returns tags). A row left `creating` by a deploy that never finished is looked up
//! by its deterministic name/tag and removed if it exists. Each delete is recorded before
//! (`deleting`) and after (`deleted`), so teardown killed at any instant resumes.
//!
//! Assumptions: CloudFront may take many minutes to disable a distribution; teardown waits at
//! most `engine.distribution_wait`, records `disabling`, and a later run finishes the job.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tracing::Instrument;

use super::dag::{self, Step};
use super::lease::Lease;
use super::{Engine, EngineError, FaultPoint, Outcome, Result, WaitVerdict};
use crate::aws::{cloudfront, has_tag, medialive, mediapackage, s3, secrets};
use crate::lifecycle::{Phase, Status};
use crate::plan::{self, Kind, TAG_DEPLOYMENT};
use crate::store::ResourceRow;

#[derive(Debug, Clone, serde::Serialize)]
pub struct TeardownSummary {
    pub event: String,
    pub deleted: usize,
    /// Still waiting on CloudFront to finish disabling the distribution.
    pub pending: bool,
}

/// What must be gone before a resource of `kind` may be deleted.
fn teardown_deps(kind: Kind) -> &'static [Kind] {
    match kind {
        Kind::Channel | Kind::Distribution | Kind::Endpoint => &[],
        Kind::Input => &[Kind::Channel],
        Kind::SecurityGroup => &[Kind::Input],
        Kind::LogBucket => &[Kind::Distribution],
        // MediaLive pushes to the MediaPackage channel until its own channel is gone.
        Kind::PackageChannel => &[Kind::Endpoint, Kind::Channel],
        Kind::Secret => &[Kind::Endpoint, Kind::PackageChannel],
    }
}

/// The teardown steps for the rows still present, with dependencies between them.
pub fn teardown_steps(rows: &[ResourceRow]) -> Vec<Step> {
    let live: Vec<&ResourceRow> = rows.iter().filter(|r| r.status != Status::Deleted).collect();
    live.iter()
        .map(|r| Step {
            key: r.key.clone(),
            deps: live.iter().filter(|o| teardown_deps(r.kind).contains(&o.kind)).map(|o| o.key.clone()).collect(),
        })
        .collect()
}

fn tag_of<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl Engine {
    /// Tear the event down. Nothing deployed = nothing to do.
    pub async fn teardown(&self, event: &str) -> Result<TeardownSummary> {
        let span = tracing::info_span!("teardown", event = %event);
        async move {
            let lease = self.lease(event, "teardown").await?;
            let fence = lease.fence();
            lease
                .run(async {
                    let Some(dep) = self.store.deployment(event)? else {
                        return Ok(TeardownSummary { event: event.to_string(), deleted: 0, pending: false });
                    };
                    if dep.phase == Phase::TornDown {
                        return Ok(TeardownSummary { event: event.to_string(), deleted: 0, pending: false });
                    }
                    self.store.set_phase(fence, Phase::TearingDown, None).await?;
                    let rows = self.store.resources(event)?;
                    let steps = teardown_steps(&rows);
                    let pending = AtomicBool::new(false);
                    let nonce = dep.nonce.clone();
                    let result = dag::run(&steps, |key| {
                        let (pending, nonce, lease) = (&pending, &nonce, &lease);
                        async move {
                            let row = self.store.resource(event, &key)?.ok_or_else(|| EngineError::BadPlan {
                                event: event.to_string(),
                                message: format!("no resource {key}"),
                            })?;
                            match self.remove(lease, nonce, &row).await {
                                Err(EngineError::Pending(what)) => {
                                    pending.store(true, Ordering::SeqCst);
                                    tracing::info!(event, "{what} is still disabling");
                                    Ok(())
                                }
                                other => other,
                            }
                        }
                    })
                    .await;
                    if let Err(e) = result {
                        self.store.set_error(fence, Some(&e.to_string())).await?;
                        return Err(e);
                    }
                    let left = self.store.resources(event)?;
                    let live = |rs: &[ResourceRow]| rs.iter().filter(|r| r.status != Status::Deleted).count();
                    let deleted = live(&rows).saturating_sub(live(&left));
                    let pending = pending.load(Ordering::SeqCst);
                    if pending {
                        self.store.set_error(fence, Some("waiting for CloudFront to disable the distribution")).await?;
                    } else {
                        self.store.set_phase(fence, Phase::TornDown, None).await?;
                    }
                    Ok(TeardownSummary { event: event.to_string(), deleted, pending })
                })
                .await
        }
        .instrument(span)
        .await
    }

    /// Remove one resource, recording before and after.
    async fn remove(&self, lease: &Lease, nonce: &str, row: &ResourceRow) -> Result<()> {
        let (fence, event) = (lease.fence(), lease.fence().event.as_str());
        let started = Instant::now();
        let step = format!("{} {}", row.kind.label(), row.name);
        // A resource that depends on one that is still disabling must wait for the next run.
        if row.kind == Kind::LogBucket {
            let dist = self.store.resources(event)?.into_iter().find(|r| r.kind == Kind::Distribution);
            if dist.is_some_and(|d| d.status != Status::Deleted) {
                self.report(event, &step, Outcome::Waiting, "after the distribution is deleted", started);
                return Err(EngineError::Pending(step));
            }
        }
        let id = match (row.status, &row.aws_id) {
            // Never sent, or sent with an unknown outcome: look by deterministic name/tag.
            (Status::Creating, _) | (_, None) => self.find_unrecorded(event, nonce, row).await?,
            (_, Some(id)) => Some(id.clone()),
        };
        let Some(id) = id else {
            self.store.record(fence, &row.key, row.kind, &row.name, Status::Deleted, None, None, None).await?;
            self.report(event, &step, Outcome::Absent, "", started);
            return Ok(());
        };
        match self.check_ours(nonce, row, &id).await {
            Ok(true) => {}
            Ok(false) => {
                self.store.record(fence, &row.key, row.kind, &row.name, Status::Deleted, None, None, None).await?;
                self.report(event, &step, Outcome::Absent, "", started);
                return Ok(());
            }
            Err(e) => return Err(self.failed_step(event, &step, e, started)),
        }
        self.fault(FaultPoint::BeforeDelete(&row.key))?;
        let status = if row.kind == Kind::Distribution { Status::Disabling } else { Status::Deleting };
        let keep = if row.status == Status::Disabling { Status::Disabling } else { status };
        self.store.record(fence, &row.key, row.kind, &row.name, keep, Some(&id), None, None).await?;
        if let Err(e) = self.delete(lease, row, &id).await {
            if !e.is_pending() {
                return Err(self.failed_step(event, &step, e, started));
            }
            self.report(
                event,
                &step,
                Outcome::Waiting,
                "CloudFront is disabling it; run teardown again to finish",
                started,
            );
            return Err(e);
        }
        self.fault(FaultPoint::AfterDelete(&row.key))?;
        self.store.record(fence, &row.key, row.kind, &row.name, Status::Deleted, None, None, None).await?;
        self.report(event, &step, Outcome::Deleted, id, started);
        Ok(())
    }

    fn failed_step(&self, event: &str, step: &str, e: EngineError, started: Instant) -> EngineError {
        self.report(event, step, Outcome::Failed, e.to_string(), started);
        e
    }

    /// Find a resource a deploy may have created without recording its id.
    async fn find_unrecorded(&self, event: &str, nonce: &str, row: &ResourceRow) -> Result<Option<String>> {
        let aws = &self.aws;
        Ok(match row.kind {
            Kind::Secret => secrets::describe(&aws.secrets, &row.name).await?.map(|_| row.name.clone()),
            Kind::PackageChannel => {
                mediapackage::describe_channel(&aws.mediapackage, &row.name).await?.map(|_| row.name.clone())
            }
            Kind::Endpoint => mediapackage::describe_endpoint(&aws.mediapackage, plan::Packaging::Hls, &row.name)
                .await?
                .map(|_| row.name.clone()),
            Kind::LogBucket => s3::tags(&aws.s3, &row.name).await?.map(|_| row.name.clone()),
            Kind::Distribution => {
                let comment = format!("ottd {event} {nonce}");
                cloudfront::find(&aws.cloudfront, &comment, &row.name).await?
            }
            Kind::SecurityGroup => medialive::find_security_group(&aws.medialive, nonce).await?,
            Kind::Input => medialive::find_input(&aws.medialive, &row.name, nonce).await?.map(|i| i.id),
            Kind::Channel => medialive::find_channel(&aws.medialive, &row.name, nonce).await?.map(|c| c.id),
        })
    }

    /// `Ok(true)` when the resource exists and its tags name this deployment, `Ok(false)` when
    /// it is gone, an error when it belongs to someone else.
    async fn check_ours(&self, nonce: &str, row: &ResourceRow, id: &str) -> Result<bool> {
        let aws = &self.aws;
        let tags: Option<Vec<(String, String)>> = match row.kind {
            Kind::Secret => secrets::describe(&aws.secrets, id).await?.map(|f| f.tags),
            Kind::PackageChannel => mediapackage::describe_channel(&aws.mediapackage, id).await?.map(|f| f.tags),
            Kind::Endpoint => {
                mediapackage::describe_endpoint(&aws.mediapackage, plan::Packaging::Hls, id).await?.map(|e| e.tags)
            }
            Kind::LogBucket => s3::tags(&aws.s3, id).await?,
            Kind::Distribution => match cloudfront::get(&aws.cloudfront, id).await? {
                Some(d) => Some(cloudfront::tags(&aws.cloudfront, &d.arn).await?),
                None => None,
            },
            Kind::SecurityGroup => medialive::security_group_tags(&aws.medialive, id).await?,
            Kind::Input => match medialive::describe_input(&aws.medialive, id).await? {
                Some(i) if i.state != "DELETED" => Some(i.tags),
                _ => None,
            },
            Kind::Channel => medialive::describe_channel(&aws.medialive, id).await?.map(|c| c.tags),
        };
        let Some(tags) = tags else { return Ok(false) };
        // A resource whose service returned no tags at all can't be checked; the id came from
        // our own state file, so it is ours.
        if tags.is_empty() || has_tag(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), TAG_DEPLOYMENT, nonce) {
            return Ok(true);
        }
        Err(EngineError::NotOurs {
            what: format!("{} {id}", row.kind.label()),
            event: row.event.clone(),
            expected: nonce.to_string(),
            found: tag_of(&tags, TAG_DEPLOYMENT).map(str::to_string),
        })
    }

    async fn delete(&self, lease: &Lease, row: &ResourceRow, id: &str) -> Result<()> {
        let (aws, event) = (&self.aws, lease.fence().event.as_str());
        match row.kind {
            Kind::Channel => {
                self.stop_channel(lease, id).await?;
                lease.bounded("delete the channel", medialive::delete_channel(&aws.medialive, id)).await??;
                self.wait_gone(event, &format!("MediaLive channel {id}"), || async {
                    Ok(medialive::describe_channel(&aws.medialive, id).await?.map(|c| c.state))
                })
                .await
            }
            Kind::Input => {
                lease.bounded("delete the input", medialive::delete_input(&aws.medialive, id)).await??;
                // The security group stays IN_USE until the input is really gone.
                self.wait_gone(event, &format!("MediaLive input {id}"), || async {
                    Ok(medialive::describe_input(&aws.medialive, id).await?.map(|i| i.state).filter(|s| s != "DELETED"))
                })
                .await
            }
            Kind::SecurityGroup => Ok(lease
                .bounded("delete the security group", medialive::delete_security_group(&aws.medialive, id))
                .await??),
            Kind::Distribution => self.delete_distribution(lease, id).await,
            Kind::LogBucket => {
                let removed =
                    lease.bounded("empty and delete the log bucket", s3::empty_and_delete(&aws.s3, id)).await??;
                tracing::info!(event, bucket = id, objects = removed, "log bucket emptied and deleted");
                Ok(())
            }
            Kind::Endpoint => {
                Ok(lease.bounded("delete the endpoint", mediapackage::delete_endpoint(&aws.mediapackage, id)).await??)
            }
            Kind::PackageChannel => Ok(lease
                .bounded("delete the MediaPackage channel", mediapackage::delete_channel(&aws.mediapackage, id))
                .await??),
            Kind::Secret => Ok(lease.bounded("delete the secret", secrets::delete(&aws.secrets, id)).await??),
        }
    }

    /// Disable (with the current ETag), wait at most `distribution_wait` for Deployed, delete.
    async fn delete_distribution(&self, lease: &Lease, id: &str) -> Result<()> {
        let (c, event) = (&self.aws.cloudfront, lease.fence().event.as_str());
        if !cloudfront::disable(c, id).await? {
            return Ok(());
        }
        let what = format!("CloudFront distribution {id}");
        let waited = self
            .wait_until(
                event,
                &what,
                "Deployed",
                self.settings.engine.distribution_wait,
                || async {
                    Ok(match cloudfront::get(c, id).await? {
                        Some(d) if d.enabled => "Enabled".to_string(),
                        Some(d) => d.status,
                        None => "Gone".to_string(),
                    })
                },
                |s| match s {
                    "Deployed" | "Gone" => WaitVerdict::Done,
                    _ => WaitVerdict::Wait,
                },
            )
            .await;
        match waited {
            Ok(_) => Ok(lease.bounded("delete the distribution", cloudfront::delete(c, id)).await??),
            Err(EngineError::Timeout { .. }) => Err(EngineError::Pending(what)),
            Err(e) => Err(e),
        }
    }

    /// Poll until `probe` says the resource is gone (`None`).
    async fn wait_gone<F, Fut>(&self, event: &str, what: &str, mut probe: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<String>>>,
    {
        self.wait_until(
            event,
            what,
            "DELETED",
            self.settings.engine.stop_timeout,
            || {
                let f = probe();
                async move { Ok(f.await?.unwrap_or_else(|| "DELETED".to_string())) }
            },
            |s| if s == "DELETED" { WaitVerdict::Done } else { WaitVerdict::Wait },
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, kind: Kind, status: Status) -> ResourceRow {
        ResourceRow {
            event: "e".into(),
            key: key.into(),
            kind,
            name: key.into(),
            status,
            aws_id: None,
            arn: None,
            attrs: serde_json::json!({}),
            updated_at: Default::default(),
        }
    }

    #[test]
    fn teardown_order_stops_the_channel_first_and_keeps_chains_independent() {
        let rows = vec![
            row("secret", Kind::Secret, Status::Created),
            row("package-channel", Kind::PackageChannel, Status::Created),
            row("endpoint-hls", Kind::Endpoint, Status::Created),
            row("log-bucket", Kind::LogBucket, Status::Created),
            row("distribution", Kind::Distribution, Status::Created),
            row("input", Kind::Input, Status::Creating),
            row("channel", Kind::Channel, Status::Created),
            row("gone", Kind::SecurityGroup, Status::Deleted),
        ];
        let steps = teardown_steps(&rows);
        let deps = |k: &str| steps.iter().find(|s| s.key == k).map(|s| s.deps.clone()).expect("step");
        assert_eq!(deps("input"), vec!["channel".to_string()]);
        assert_eq!(deps("log-bucket"), vec!["distribution".to_string()]);
        assert!(deps("distribution").is_empty());
        assert!(deps("channel").is_empty());
        let pc = deps("package-channel");
        assert!(pc.contains(&"endpoint-hls".to_string()) && pc.contains(&"channel".to_string()));
        assert!(deps("secret").contains(&"package-channel".to_string()));
        // Already deleted rows are not steps, and nothing waits on them.
        assert!(steps.iter().all(|s| s.key != "gone"));
    }
}
