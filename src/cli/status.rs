//! `deployer status`: how the service is doing right now: the image it runs and where it came
//! from, its deployments, running tasks, the load balancer's view of the targets, and the URL.

use anyhow::Result;
use clap::Args;

use super::GlobalArgs;
use crate::exit::Exit;
use crate::ops;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub async fn run(global: &GlobalArgs, args: &StatusArgs, printer: &Printer) -> Result<Exit> {
    let status = ops::status::status(&global.target(), printer).await?;
    if args.json {
        printer.data(&serde_json::to_string_pretty(&status)?);
        return Ok(Exit::Success);
    }
    printer.data(&format!(
        "ECS service {} in {}: {}, {} desired, {} running, {} pending, {}",
        status.service,
        status.cluster,
        status.status,
        status.desired,
        status.running,
        status.pending,
        status.task_definition
    ));
    if let Some(image) = &status.image {
        let origin = match (image.source.as_deref(), &image.configured_image) {
            (Some("override"), Some(configured)) => {
                format!("override (--image-tag/--image) of container.image {configured}")
            }
            (Some(_), _) => "container.image".to_owned(),
            _ => "not recorded on the revision".to_owned(),
        };
        printer.data(&format!("Image: {} (from {origin})", image.shown));
    }
    if let Some(a) = &status.autoscaling {
        printer.data(&if a.registered {
            format!(
                "Autoscaling: {}-{} tasks; {} desired, {} running",
                a.min, a.max, status.desired, status.running
            )
        } else {
            "Autoscaling: configured but not applied yet (run `deployer apply`)".to_owned()
        });
    }
    printer.data("Deployments:");
    for d in &status.deployments {
        printer.data(&format!(
            "  {:<8} {}  {}  {}  {}/{} running, {} pending, {} failed",
            d.status,
            d.id,
            d.task_definition,
            d.rollout_state.as_deref().unwrap_or("-"),
            d.running,
            d.desired,
            d.pending,
            d.failed
        ));
    }
    if status.tasks.is_empty() {
        printer.data("Tasks: none running");
    } else {
        printer.data("Tasks:");
        for t in &status.tasks {
            printer.data(&format!(
                "  {}  {}  {}  {}",
                t.id,
                t.last_status,
                t.health.as_deref().unwrap_or("-"),
                t.task_definition
            ));
        }
    }
    if let Some(line) = &status.targets_line {
        printer.data(&line.replacen("targets:", "Targets:", 1));
    }
    if let Some(url) = &status.url {
        printer.data(&format!("URL: {url}"));
    }
    Ok(Exit::Success)
}
