//! What things cost, as the operations layer answers it: `cost EVENT`, the cost line of
//! `plan`, and the line that ends a `stop` or `teardown` reply. The arithmetic is
//! [`crate::cost`]'s; this reads what it needs (the price table, the audit trail, the phase).

use chrono::{DateTime, Utc};

use super::{ErrorKind, OpError, Ops, Reply};
use crate::config::Resolved;
use crate::cost::{self, actual, report, Facts, PriceTable, Run};
use crate::lifecycle::{Phase, Status};
use crate::plan;

/// Audit rows read to find an event's runs (a daily event over the 90 days the upkeep keeps
/// is about 400).
const RUN_ROWS: usize = 5_000;

impl Ops {
    fn price_table(&self) -> Result<PriceTable, OpError> {
        cost::prices::load(&self.definitions.settings().cost)
            .map_err(|d| OpError::new(ErrorKind::Permanent, format!("the price table does not load:\n{d}")))
    }

    /// The event's runs as recorded, with the audit rows they came from.
    async fn runs(
        &self,
        ev: &Resolved,
        phase: Option<(Phase, DateTime<Utc>)>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<crate::store::AuditRow>, Vec<Run>), OpError> {
        let event = ev.spec.id.as_str();
        // Rows still queued (this very operation's) count too.
        self.store.flush().await?;
        let rows = self.store.audit_committed(Some(event), None, false, RUN_ROWS)?;
        let channel = self.store.resource(event, plan::CHANNEL)?;
        let facts = Facts {
            phase,
            channel_deleted_at: channel.filter(|r| r.status == Status::Deleted).map(|r| r.updated_at),
            auto_start: ev.workflow.media_live.auto_start,
        };
        let runs = actual::runs(&rows, &facts, now);
        Ok((rows, runs))
    }

    /// `cost EVENT`: the estimate for `audience` viewers and the recorded runs.
    pub(super) async fn cost(&self, event: &str, audience: u64) -> Result<Reply, OpError> {
        let ev = self.definitions.event(event).ok_or_else(|| self.unknown(event))?;
        let table = self.price_table()?;
        let (region, known) = cost::region(self.definitions.settings().region.as_deref());
        let now = self.clock.now();
        let est = cost::estimate::estimate(&ev, &table, &region, audience, now);
        let (_, runs) = self.runs(&ev, self.store.phase(event)?, now).await?;
        let priced = actual::price(&runs, &est.medialive, ev.spec.timing.as_ref());
        let mut reply = Reply::new(format!(
            "{event}: prices of {} from {} (examples: re-check them before relying on them)",
            table.as_of, table.origin
        ));
        if !known {
            reply.notes.push("no region in ottd.toml or AWS_REGION: priced as us-east-1".to_string());
        }
        reply.lines = report::estimate(&est);
        reply.lines.extend(report::actual(&priced));
        let data = serde_json::json!({
            "estimate": est,
            "actual": {
                "runs": priced,
                "billed_minutes": priced.iter().map(|r| r.billed_minutes).sum::<u64>(),
                "medialive_cost": priced.iter().map(|r| r.cost).fold(0.0, |a, b| a + b),
            },
        });
        Ok(reply.with_data(&data))
    }

    /// `plan`'s cost line (a table that does not load says so instead).
    pub(super) fn plan_cost_line(&self, ev: &Resolved) -> String {
        match self.price_table() {
            Ok(table) => {
                let (region, _) = cost::region(self.definitions.settings().region.as_deref());
                let est = cost::estimate::estimate(ev, &table, &region, cost::DEFAULT_AUDIENCE, self.clock.now());
                report::plan_line(&est)
            }
            Err(e) => format!("  cost: unknown, {}", e.message.lines().next().unwrap_or_default()),
        }
    }

    /// After a stop (`teardown` false) or teardown of `event`: what the run it ended cost (a
    /// teardown: every run of the deployment). `prior`: the phase before the operation. Best
    /// effort: the action worked whatever this finds.
    pub(super) async fn run_cost_line(
        &self,
        event: &str,
        teardown: bool,
        prior: Option<(Phase, DateTime<Utc>)>,
    ) -> Option<String> {
        let ev = self.definitions.event(event)?;
        let found = async {
            let table = self.price_table()?;
            let (region, _) = cost::region(self.definitions.settings().region.as_deref());
            let rates = cost::Rates::of(&cost::class::classify(&ev.workflow, &ev.profile), &table, &region);
            let (rows, runs) = self.runs(&ev, prior, self.clock.now()).await?;
            let runs: Vec<Run> = if teardown {
                actual::since_last_teardown(&rows, runs)
            } else {
                // The run this stop ended is the one the records still show open.
                runs.into_iter().last().filter(|r| r.running).into_iter().collect()
            };
            if runs.is_empty() && !teardown {
                return Ok::<_, OpError>(None);
            }
            let priced = actual::price(&runs, &rates, ev.spec.timing.as_ref());
            let unpriced = rates.lines.iter().filter(|l| l.per_hour.is_none()).count();
            Ok(Some(report::run_line(&priced, unpriced)))
        };
        match found.await {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(event, "cannot say what the run cost: {}", e.message);
                Some(format!("what this run cost is unknown: {}", e.message.lines().next().unwrap_or_default()))
            }
        }
    }

    /// `validate`'s word on the price table: where it is from and its date, or every problem.
    pub(super) fn check_prices(&self, settings: &crate::config::Settings) -> Result<String, OpError> {
        let table =
            cost::prices::load(&settings.cost).map_err(|d| OpError::new(ErrorKind::Permanent, d.to_string()))?;
        Ok(format!("price table: {}, prices of {}", table.origin, table.as_of))
    }
}
