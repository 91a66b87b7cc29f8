//! Deploy: create whatever the event's plan has that the state file does not record as
//! created, concurrently along the plan's dependencies.
//!
//! Per resource: `created` in state → nothing to do. `creating` (a call went out, its outcome
//! is unknown) → look for it by deterministic name/tag first. Otherwise record `creating`,
//! call AWS, record `created` with ids and URLs. A conflict on create means an earlier,
//! unrecorded attempt succeeded: find it and adopt it.

use std::sync::Mutex;
use std::time::Instant;

use serde_json::json;
use tracing::Instrument;

use super::dag::{self, Step};
use super::{Engine, EngineError, FaultPoint, Outcome, Result, WaitVerdict};
use crate::aws::{cloudfront, medialive, mediapackage, s3, secrets};
use crate::config::Resolved;
use crate::lifecycle::{Phase, Status};
use crate::plan::{self, Kind, Packaging, Plan, Resource};
use crate::secret::Redacted;
use crate::store::Fence;

/// What a create or lookup learned about a resource.
struct Made {
    id: Option<String>,
    arn: Option<String>,
    attrs: serde_json::Value,
    detail: String,
}

impl Made {
    fn new(id: impl Into<String>, arn: Option<String>, detail: impl Into<String>) -> Made {
        Made { id: Some(id.into()), arn, attrs: json!({}), detail: detail.into() }
    }
}

/// State shared by the steps of one deploy run.
struct Run {
    /// The deploy's lease: every write of the event's state carries it.
    fence: Fence,
    /// The CDN identifier generated in this run, so CloudFront needn't read it back.
    secret: Mutex<Option<Redacted>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DeploySummary {
    pub event: String,
    pub nonce: String,
    pub created: usize,
    pub critical_path: u32,
}

fn packaging_of(key: &str) -> Option<Packaging> {
    [Packaging::Hls, Packaging::Dash, Packaging::Cmaf, Packaging::Mss]
        .into_iter()
        .find(|p| plan::endpoint_key(*p) == key)
}

/// The host part of an endpoint URL (`https://host/path` → `host`).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let host = rest.split('/').next()?;
    (!host.is_empty()).then_some(host)
}

impl Engine {
    /// Make the event's plan for the current (or a new) deployment.
    pub fn plan_for(&self, event: &Resolved) -> Result<Plan> {
        let nonce = match self.store.deployment(&event.spec.id)? {
            Some(d) if d.phase != Phase::TornDown => d.nonce,
            _ => plan::new_nonce(),
        };
        Ok(Plan::build(event, &self.settings, &nonce))
    }

    pub async fn deploy(&self, event: &Resolved) -> Result<DeploySummary> {
        let id = event.spec.id.clone();
        let span = tracing::info_span!("deploy", event = %id);
        let started = Instant::now();
        async move {
            let lease = self.lease(&id, "deploy").await?;
            let fence = lease.fence();
            lease
                .run(async {
                    let plan = match self.store.deployment(&id)? {
                        Some(d) if d.phase == Phase::TearingDown => return Err(EngineError::TearingDown { event: id }),
                        Some(d) if d.phase != Phase::TornDown => {
                            let plan = Plan::build(event, &self.settings, &d.nonce);
                            self.store.update_plan(fence, &plan_json(&plan)).await?;
                            plan
                        }
                        _ => {
                            let plan = Plan::build(event, &self.settings, &plan::new_nonce());
                            self.store.begin_deployment(fence, &plan.names.nonce, &plan_json(&plan)).await?;
                            plan
                        }
                    };
                    // Roles are needed by several steps: fail before creating anything.
                    self.medialive_role()?;
                    self.mediapackage_role()?;
                    let before = self.store.resources(&id)?.iter().filter(|r| r.status == Status::Created).count();
                    let run = Run { fence: fence.clone(), secret: Mutex::new(None) };
                    let steps: Vec<Step> = plan
                        .resources
                        .iter()
                        .map(|r| Step { key: r.key.clone(), deps: r.depends_on.clone() })
                        .collect();
                    let result = dag::run(&steps, |key| {
                        let plan = &plan;
                        let run = &run;
                        async move {
                            let res = plan.resource(&key).ok_or_else(|| EngineError::BadPlan {
                                event: plan.event.clone(),
                                message: format!("no resource {key}"),
                            })?;
                            self.ensure(plan, run, res).await
                        }
                    })
                    .await;
                    match &result {
                        Ok(()) => {
                            let phase = match self.store.deployment(&id)?.map(|d| d.phase) {
                                Some(p @ (Phase::Running | Phase::Starting | Phase::Stopped | Phase::Stopping)) => p,
                                _ => Phase::Deployed,
                            };
                            self.store.set_phase(fence, phase, None).await?;
                        }
                        Err(e) => self.store.set_error(fence, Some(&e.to_string())).await?,
                    }
                    result?;
                    if before < plan.resources.len() {
                        // Measured deploys feed the daemon's adaptive lead-time check.
                        self.store.log_step(fence, "deploy", "ok", None, started.elapsed().as_millis()).await?;
                    }
                    let after = self.store.resources(&id)?.iter().filter(|r| r.status == Status::Created).count();
                    Ok(DeploySummary {
                        event: id.clone(),
                        nonce: plan.names.nonce.clone(),
                        created: after.saturating_sub(before),
                        critical_path: plan.critical_path(),
                    })
                })
                .await
        }
        .instrument(span)
        .await
    }

    async fn ensure(&self, plan: &Plan, run: &Run, res: &Resource) -> Result<()> {
        let started = Instant::now();
        let event = &plan.event;
        let step = format!("{} {}", res.kind.label(), res.name);
        let row = self.store.resource(event, &res.key)?;
        let status = row.as_ref().map(|r| r.status);
        if status == Some(Status::Created) {
            self.report(event, &step, Outcome::Exists, "", started);
            return Ok(());
        }
        if status == Some(Status::Creating) {
            // A call went out before and its outcome was never recorded.
            if let Some(found) = self.lookup(plan, res).await? {
                return self.created(&run.fence, plan, res, found, Outcome::Found, started).await;
            }
        }
        self.fault(FaultPoint::BeforeCreate(&res.key))?;
        self.store.record(&run.fence, &res.key, res.kind, &res.name, Status::Creating, None, None, None).await?;
        let made = match self.create(plan, run, res).await {
            Ok(m) => m,
            Err(EngineError::Aws(e)) if e.is_conflict() => match self.lookup(plan, res).await? {
                Some(found) => found,
                None => return Err(self.failed(event, &step, EngineError::Aws(e), started)),
            },
            Err(e) => return Err(self.failed(event, &step, e, started)),
        };
        self.fault(FaultPoint::AfterCreate(&res.key))?;
        self.created(&run.fence, plan, res, made, Outcome::Created, started).await
    }

    fn failed(&self, event: &str, step: &str, e: EngineError, started: Instant) -> EngineError {
        self.report(event, step, Outcome::Failed, e.to_string(), started);
        e
    }

    async fn created(
        &self,
        fence: &Fence,
        plan: &Plan,
        res: &Resource,
        mut made: Made,
        outcome: Outcome,
        started: Instant,
    ) -> Result<()> {
        let event = &plan.event;
        self.store
            .record(
                fence,
                &res.key,
                res.kind,
                &res.name,
                Status::Created,
                made.id.as_deref(),
                made.arn.as_deref(),
                Some(&made.attrs),
            )
            .await?;
        if res.kind == Kind::Channel {
            // Deploy ends with the channel ready to start.
            let id = made.id.clone().unwrap_or_default();
            made.detail = self.wait_channel(event, &id, "IDLE").await?;
        }
        self.report(event, &format!("{} {}", res.kind.label(), res.name), outcome, made.detail, started);
        Ok(())
    }

    pub(crate) async fn wait_channel(&self, event: &str, id: &str, want: &'static str) -> Result<String> {
        let what = format!("MediaLive channel {id}");
        let timeout =
            if want == "RUNNING" { self.settings.engine.start_timeout } else { self.settings.engine.stop_timeout };
        self.wait_until(
            event,
            &what,
            want,
            timeout,
            || async {
                Ok(medialive::describe_channel(&self.aws.medialive, id)
                    .await?
                    .map(|c| c.state)
                    .unwrap_or_else(|| "DELETED".into()))
            },
            |state| match state {
                s if s == want => WaitVerdict::Done,
                "CREATE_FAILED" => {
                    WaitVerdict::Fail("MediaLive could not create the channel; check its settings and role")
                }
                "DELETED" | "DELETING" => WaitVerdict::Fail("the channel was deleted outside ottd"),
                "UPDATE_FAILED" => WaitVerdict::Fail("a channel update failed"),
                _ => WaitVerdict::Wait,
            },
        )
        .await
    }

    fn created_row(&self, plan: &Plan, key: &str) -> Result<crate::store::ResourceRow> {
        match self.store.resource(&plan.event, key)? {
            Some(r) if r.status == Status::Created => Ok(r),
            _ => Err(EngineError::Skipped { step: key.to_string(), failed: format!("{key} is not created") }),
        }
    }

    async fn secret_value(&self, plan: &Plan, run: &Run) -> Result<Redacted> {
        let cached = run.secret.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match cached {
            Some(v) => Ok(v),
            None => Ok(secrets::value(&self.aws.secrets, &plan.names.secret()).await?),
        }
    }

    async fn create(&self, plan: &Plan, run: &Run, res: &Resource) -> Result<Made> {
        let aws = &self.aws;
        let tags = &plan.tags;
        let wf = &plan.workflow;
        match res.kind {
            Kind::Secret => {
                let value = Redacted::generate();
                let arn = secrets::create(&aws.secrets, &res.name, &value, &plan.names.secret_token(), tags).await?;
                *run.secret.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
                Ok(Made::new(res.name.clone(), Some(arn), ""))
            }
            Kind::PackageChannel => {
                let arn = mediapackage::create_channel(&aws.mediapackage, &res.name, &plan.event, tags).await?;
                Ok(Made::new(res.name.clone(), Some(arn), ""))
            }
            Kind::Endpoint => self.create_endpoint(plan, res).await,
            Kind::LogBucket => {
                s3::create_log_bucket(&aws.s3, &res.name, &aws.region, tags).await?;
                Ok(Made::new(res.name.clone(), Some(format!("arn:aws:s3:::{}", res.name)), ""))
            }
            Kind::Distribution => self.create_distribution(plan, run, res).await,
            Kind::SecurityGroup => {
                let id = medialive::create_security_group(&aws.medialive, &wf.media_live.input_cidr, tags).await?;
                Ok(Made::new(id, None, wf.media_live.input_cidr.clone()))
            }
            Kind::Input => {
                let sg = match plan.input.needs_security_group {
                    true => self.created_row(plan, plan::SECURITY_GROUP)?.aws_id,
                    false => None,
                };
                let role = match plan.input.needs_role {
                    true => Some(self.medialive_role()?),
                    false => None,
                };
                // The backup input of a failover pair is made like the primary, from its own
                // wiring (its own flows for MEDIACONNECT).
                let wiring = match res.key.as_str() {
                    plan::BACKUP_INPUT => plan.backup.as_ref().ok_or_else(|| EngineError::BadPlan {
                        event: plan.event.clone(),
                        message: "backup input planned without its wiring".into(),
                    })?,
                    _ => &plan.input,
                };
                let input = medialive::create_input(
                    &aws.medialive,
                    &res.name,
                    wf,
                    wiring,
                    sg.as_deref(),
                    role.as_deref(),
                    &plan.names.request_id(&res.key),
                    tags,
                )
                .await?;
                Ok(input_made(plan, input))
            }
            Kind::Channel => self.create_channel(plan, res).await,
        }
    }

    async fn create_endpoint(&self, plan: &Plan, res: &Resource) -> Result<Made> {
        let (aws, tags, wf) = (&self.aws, &plan.tags, &plan.workflow);
        let p = packaging_of(&res.key).ok_or_else(|| EngineError::BadPlan {
            event: plan.event.clone(),
            message: format!("unknown endpoint {}", res.key),
        })?;
        let secret = self.created_row(plan, plan::SECRET)?;
        let channel = self.created_row(plan, plan::PACKAGE_CHANNEL)?;
        let ep = mediapackage::create_endpoint(
            &aws.mediapackage,
            p,
            &channel.name,
            &res.name,
            &wf.media_package,
            secret.arn.as_deref().unwrap_or_default(),
            &self.mediapackage_role()?,
            tags,
        )
        .await?;
        Ok(Made {
            id: Some(res.name.clone()),
            arn: Some(ep.arn),
            detail: ep.url.clone(),
            attrs: json!({"url": ep.url}),
        })
    }

    async fn create_distribution(&self, plan: &Plan, run: &Run, res: &Resource) -> Result<Made> {
        let (aws, tags, wf) = (&self.aws, &plan.tags, &plan.workflow);
        let hls = self.created_row(plan, &plan::endpoint_key(Packaging::Hls))?;
        let url = hls.attr("url").unwrap_or_default().to_string();
        let host = url_host(&url).ok_or_else(|| EngineError::BadPlan {
            event: plan.event.clone(),
            message: format!("HLS endpoint URL `{url}` has no host"),
        })?;
        let bucket = match wf.cloud_front.access_logs {
            true => Some(self.created_row(plan, plan::LOG_BUCKET)?.name),
            false => None,
        };
        let value = self.secret_value(plan, run).await?;
        let input = cloudfront::DistributionInput {
            caller_reference: &res.name,
            comment: &distribution_comment(plan),
            origin_host: host,
            cdn_identifier: &value,
            log_bucket: bucket.as_deref(),
            params: &wf.cloud_front,
        };
        let d = cloudfront::create(&aws.cloudfront, &input, tags).await?;
        Ok(Made {
            id: Some(d.id),
            arn: Some(d.arn),
            detail: d.domain.clone(),
            attrs: json!({"domain": d.domain, "comment": distribution_comment(plan)}),
        })
    }

    async fn create_channel(&self, plan: &Plan, res: &Resource) -> Result<Made> {
        let (aws, tags, wf) = (&self.aws, &plan.tags, &plan.workflow);
        let input = self.created_row(plan, plan::INPUT)?;
        let backup = match plan.backup {
            Some(_) => Some(self.created_row(plan, plan::BACKUP_INPUT)?),
            None => None,
        };
        let package = self.created_row(plan, plan::PACKAGE_CHANNEL)?;
        let role = self.medialive_role()?;
        let req = medialive::ChannelRequest {
            name: &res.name,
            workflow: wf,
            profile: &plan.profile,
            wiring: &plan.input,
            input_id: input.aws_id.as_deref().unwrap_or_default(),
            input_name: &input.name,
            failover: backup.as_ref().map(|b| medialive::Failover {
                input_id: b.aws_id.as_deref().unwrap_or_default(),
                input_name: &b.name,
                loss_ms: wf.media_live.failover_loss_ms,
                equal: wf.media_live.failover_equal,
            }),
            package_channel_id: &package.name,
            role_arn: &role,
            request_id: &plan.names.request_id(&res.key),
        };
        let ch = medialive::create_channel(&aws.medialive, &req, tags).await?;
        Ok(Made::new(ch.id, Some(ch.arn), ch.state))
    }

    /// Find a resource an earlier, unrecorded call may have created.
    async fn lookup(&self, plan: &Plan, res: &Resource) -> Result<Option<Made>> {
        let aws = &self.aws;
        let nonce = &plan.names.nonce;
        Ok(match res.kind {
            Kind::Secret => {
                secrets::describe(&aws.secrets, &res.name).await?.map(|f| Made::new(res.name.clone(), Some(f.arn), ""))
            }
            Kind::PackageChannel => mediapackage::describe_channel(&aws.mediapackage, &res.name)
                .await?
                .map(|f| Made::new(res.name.clone(), Some(f.arn), "")),
            Kind::Endpoint => {
                let p = packaging_of(&res.key).unwrap_or(Packaging::Hls);
                mediapackage::describe_endpoint(&aws.mediapackage, p, &res.name).await?.map(|ep| Made {
                    id: Some(res.name.clone()),
                    arn: Some(ep.arn),
                    detail: ep.url.clone(),
                    attrs: json!({"url": ep.url}),
                })
            }
            // Creating a bucket you own again is harmless; `create` re-applies its settings.
            Kind::LogBucket => None,
            Kind::Distribution => {
                match cloudfront::find(&aws.cloudfront, &distribution_comment(plan), &res.name).await? {
                    Some(id) => cloudfront::get(&aws.cloudfront, &id).await?.map(|d| Made {
                        id: Some(d.id),
                        arn: Some(d.arn),
                        detail: d.domain.clone(),
                        attrs: json!({"domain": d.domain, "comment": distribution_comment(plan)}),
                    }),
                    None => None,
                }
            }
            Kind::SecurityGroup => medialive::find_security_group(&aws.medialive, nonce)
                .await?
                .map(|id| Made::new(id, None, plan.workflow.media_live.input_cidr.clone())),
            Kind::Input => medialive::find_input(&aws.medialive, &res.name, nonce).await?.map(|i| input_made(plan, i)),
            Kind::Channel => medialive::find_channel(&aws.medialive, &res.name, nonce)
                .await?
                .map(|c| Made::new(c.id, Some(c.arn), c.state)),
        })
    }
}

/// Push inputs answer with one destination per input pipeline; a SINGLE_PIPELINE channel
/// uses only the first, so only what the channel reads is shown to the operator.
fn input_made(plan: &Plan, mut input: medialive::Input) -> Made {
    input.destinations.truncate(plan.workflow.media_live.channel_class.pipelines());
    let detail = input.destinations.join(" ");
    Made { id: Some(input.id), arn: Some(input.arn), detail, attrs: json!({"destinations": input.destinations}) }
}

pub fn distribution_comment(plan: &Plan) -> String {
    format!("ottd {} {}", plan.event, plan.names.nonce)
}

pub fn plan_json(plan: &Plan) -> String {
    serde_json::to_string(plan).unwrap_or_else(|_| "{}".to_string())
}
