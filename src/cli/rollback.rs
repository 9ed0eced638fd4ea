//! `deployer rollback`: put the service back on the task definition revision deployed before the
//! current one, and follow that deployment as `apply` does.

use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use clap::Args;

use super::{confirm, GlobalArgs};
use crate::aws::errors::AwsResultExt;
use crate::engine::Ctx;
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::names::CONTAINER_NAME;
use crate::printer::Printer;
use crate::resources::{describe_service, primary_deployment};
use crate::rollout::Rollout;

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Roll back without asking for confirmation (for CI).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    yes: bool,

    /// Do not wait for the ECS deployment to complete.
    #[arg(long)]
    no_wait: bool,

    /// Seconds to wait for the deployment to complete (default: timeouts.deployment).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

pub async fn run(global: &GlobalArgs, args: &RollbackArgs, printer: &Printer) -> Result<Exit> {
    let config = global.load_config()?;
    let _lock = global.lock(&config, "rollback")?;
    let (state_file, state) = global.load_state(&config)?;
    let aws = global.connect(&config).await;
    let ctx = Ctx::new(config, aws, state_file, state, false, printer.clone());
    let ecs = &ctx.aws.ecs;

    let service = describe_service(ecs, &ctx.names).await?;
    let current = service
        .as_ref()
        .filter(|s| s.status() == Some("ACTIVE"))
        .and_then(|s| s.task_definition())
        .ok_or_else(|| {
            anyhow!(
                "ECS service {} does not exist; nothing to roll back",
                ctx.names.service
            )
        })?
        .to_owned();
    let state = ctx.state();
    let Some(previous) = state.rollback_target(&current) else {
        return Err(ExitError::new(
            Exit::InvalidInput,
            anyhow!(
                "no revision before {current} is recorded in {}; deploy one with `deployer \
                 apply --image-tag` first",
                global.state_file(&ctx.config).path().display()
            ),
        )
        .into());
    };
    let previous = previous.to_owned();
    let definition = ecs
        .describe_task_definition()
        .task_definition(&previous)
        .send()
        .await
        .or_context(format!("reading {previous}"))?;
    let image = definition
        .task_definition()
        .and_then(|d| {
            d.container_definitions()
                .iter()
                .find(|c| c.name() == Some(CONTAINER_NAME))
        })
        .and_then(|c| c.image())
        .with_context(|| format!("{previous} has no container named {CONTAINER_NAME}"))?
        .to_owned();

    printer.info(&format!(
        "Roll back {} from\n  {current}\nto\n  {previous} ({image})",
        ctx.names.service
    ));
    if !confirm(printer, args.yes, "Roll back?")? {
        printer.info("Rollback cancelled; nothing was changed.");
        return Ok(Exit::Success);
    }
    let interrupt = Interrupt::listen();
    let updated = ecs
        .update_service()
        .cluster(&ctx.names.cluster)
        .service(&ctx.names.service)
        .task_definition(&previous)
        .send()
        .await
        .or_context(format!("rolling back ECS service {}", ctx.names.service))?;
    ctx.record_rollback(&previous, image)?;
    printer.info(&format!(
        "Service {} now runs {previous}.",
        ctx.names.service
    ));

    let deployment = updated.service().and_then(primary_deployment);
    if let (Some(deployment_id), false) = (deployment, args.no_wait) {
        let target_group_arn = state
            .resources
            .get(crate::engine::StepId::TargetGroup.key())
            .and_then(|r| r.arn.clone());
        Rollout {
            ctx: &ctx,
            deployment_id,
            target_group_arn,
            timeout: Duration::from_secs(
                args.timeout
                    .unwrap_or(ctx.config.timeouts.deployment.into()),
            ),
        }
        .follow(&interrupt)
        .await?;
        printer.info("Rollback complete: every task runs the previous revision.");
    }
    Ok(Exit::Success)
}
