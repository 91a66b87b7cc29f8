//! Start and stop the event's MediaLive channel, waiting for RUNNING / IDLE with a timeout.

use std::time::Instant;

use tracing::Instrument;

use super::lease::Lease;
use super::{Engine, EngineError, Outcome, Result};
use crate::aws::medialive;
use crate::lifecycle::{Phase, Status};
use crate::plan;

impl Engine {
    /// The channel id of a deployed event.
    pub fn channel_id(&self, event: &str) -> Result<String> {
        let deployed =
            self.store.deployment(event)?.filter(|d| !matches!(d.phase, Phase::TornDown | Phase::TearingDown));
        if deployed.is_none() {
            return Err(EngineError::NotDeployed(event.to_string()));
        }
        match self.store.resource(event, plan::CHANNEL)? {
            Some(r) if r.status == Status::Created => {
                r.aws_id.ok_or_else(|| EngineError::NotDeployed(event.to_string()))
            }
            _ => Err(EngineError::NotDeployed(event.to_string())),
        }
    }

    /// Start the channel, wait until it is RUNNING, then (with `probe.enabled`) until its
    /// stream is live at the origin and through CloudFront. Already running = only the latter.
    pub async fn start(&self, event: &str) -> Result<()> {
        self.start_channel(event).await?;
        if self.settings.probe.enabled {
            let span = tracing::info_span!("on-air", event = %event);
            self.wait_live(event).instrument(span).await?;
        }
        Ok(())
    }

    /// Start the channel and wait until it is RUNNING. Already running = done.
    pub async fn start_channel(&self, event: &str) -> Result<()> {
        let span = tracing::info_span!("start", event = %event);
        async move {
            let lease = self.lease(event, "start").await?;
            let fence = lease.fence();
            lease
                .run(async {
                    let id = self.channel_id(event)?;
                    let started = Instant::now();
                    let step = format!("start MediaLive channel {id}");
                    let state = self.channel_state(&id).await?;
                    match state.as_str() {
                        "RUNNING" => {
                            self.store.set_phase(fence, Phase::Running, None).await?;
                            self.report(event, &step, Outcome::Exists, "already RUNNING", started);
                            return Ok(());
                        }
                        "STOPPING" => {
                            self.wait_channel(event, &id, "IDLE").await?;
                            medialive::start_channel(&self.aws.medialive, &id).await?;
                        }
                        "STARTING" | "RECOVERING" => {}
                        _ => medialive::start_channel(&self.aws.medialive, &id).await?,
                    }
                    self.store.set_phase(fence, Phase::Starting, None).await?;
                    self.report(event, &step, Outcome::Waiting, "waiting for RUNNING", started);
                    match self.wait_channel(event, &id, "RUNNING").await {
                        Ok(_) => {
                            self.store.set_phase(fence, Phase::Running, None).await?;
                            self.store.log_step(fence, "start", "ok", None, started.elapsed().as_millis()).await?;
                            self.report(event, &step, Outcome::Started, "RUNNING", started);
                            Ok(())
                        }
                        Err(e) => {
                            self.store.set_error(fence, Some(&e.to_string())).await?;
                            self.report(event, &step, Outcome::Failed, e.to_string(), started);
                            Err(e)
                        }
                    }
                })
                .await
        }
        .instrument(span)
        .await
    }

    /// Stop the channel and wait until it is IDLE. Already idle = done.
    pub async fn stop(&self, event: &str) -> Result<()> {
        let span = tracing::info_span!("stop", event = %event);
        async move {
            let lease = self.lease(event, "stop").await?;
            let fence = lease.fence();
            lease
                .run(async {
                    let id = self.channel_id(event)?;
                    let started = Instant::now();
                    let step = format!("stop MediaLive channel {id}");
                    self.store.set_phase(fence, Phase::Stopping, None).await?;
                    self.stop_channel(&lease, &id).await?;
                    self.store.set_phase(fence, Phase::Stopped, None).await?;
                    self.store.log_step(fence, "stop", "ok", None, started.elapsed().as_millis()).await?;
                    self.report(event, &step, Outcome::Stopped, "IDLE", started);
                    Ok(())
                })
                .await
        }
        .instrument(span)
        .await
    }

    /// Bring a channel to IDLE whatever state it is in (used by stop and teardown).
    /// The caller records the phase; teardown keeps its own.
    pub(crate) async fn stop_channel(&self, lease: &Lease, id: &str) -> Result<()> {
        let event = lease.fence().event.as_str();
        match self.channel_state(id).await?.as_str() {
            "IDLE" | "DELETED" | "CREATE_FAILED" => return Ok(()),
            "STOPPING" => {}
            "STARTING" | "RUNNING" | "RECOVERING" | "UPDATING" => {
                lease.bounded("stop the channel", medialive::stop_channel(&self.aws.medialive, id)).await??;
            }
            _ => {}
        }
        self.wait_channel(event, id, "IDLE").await.map(|_| ())
    }

    /// Restart one pipeline of the event's running channel (alert recovery).
    pub async fn restart_pipeline(&self, event: &str, pipeline: u8) -> Result<()> {
        let span = tracing::info_span!("restart-pipeline", event = %event, pipeline);
        async move {
            let lease = self.lease(event, "restart-pipeline").await?;
            let fence = lease.fence();
            lease
                .run(async {
                    let id = self.channel_id(event)?;
                    let started = Instant::now();
                    let step = format!("restart pipeline {pipeline} of MediaLive channel {id}");
                    match lease.bounded(&step, medialive::restart_pipeline(&self.aws.medialive, &id, pipeline)).await? {
                        Ok(()) => {
                            self.store
                                .log_step(fence, "restart-pipeline", "ok", None, started.elapsed().as_millis())
                                .await?;
                            self.report(event, &step, Outcome::Started, "restarted", started);
                            Ok(())
                        }
                        Err(e) => {
                            self.report(event, &step, Outcome::Failed, e.to_string(), started);
                            Err(e.into())
                        }
                    }
                })
                .await
        }
        .instrument(span)
        .await
    }

    pub async fn channel_state(&self, id: &str) -> Result<String> {
        Ok(medialive::describe_channel(&self.aws.medialive, id)
            .await?
            .map(|c| c.state)
            .unwrap_or_else(|| "DELETED".to_string()))
    }
}
