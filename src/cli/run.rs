//! `deployer run`: a one-off task of the revision the service runs, with its command replaced;
//! prints the task's output and exits with its container's exit code. The workflow is
//! [`crate::ops::task`]; this adapts the arguments and prints.

use anyhow::{anyhow, Result};
use clap::Args;

use super::{confirm, GlobalArgs};
use crate::config::{fargate_memory_options, FARGATE_CPU_UNITS};
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::ops::task::{self, RunOptions, TaskEnd};
use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  deployer run --env prod --yes -- flask db upgrade
  deployer run --cpu 1024 --memory 4096 -- python manage.py rebuild_index
  deployer run --detach --yes -- ./scripts/send-newsletter

The task runs the revision the service runs (same image, environment, secrets and roles) in the
service's subnets and security group. Its output (the container's log stream) goes to stdout.

Exit codes: the container's exit code; 125 when the task could not start or stopped before its
command ran (the reason is printed); 1 error; 3 invalid input; 130 interrupted (the task goes on).")]
pub struct RunArgs {
    /// Start the task without asking for confirmation (for CI).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    yes: bool,

    /// Print the task's ID and return once ECS accepted it, without following it.
    #[arg(long)]
    detach: bool,

    /// CPU units for this task instead of the task definition's (a Fargate value; with --memory).
    #[arg(long, value_name = "UNITS", requires = "memory")]
    cpu: Option<u32>,

    /// Memory (MiB) for this task instead of the task definition's (with --cpu).
    #[arg(long, value_name = "MIB", requires = "cpu")]
    memory: Option<u32>,

    /// The command and its arguments, after `--`; replaces the image's CMD.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

impl RunArgs {
    /// The task size, checked against what Fargate accepts before any AWS call.
    fn check_size(&self) -> Result<()> {
        let (Some(cpu), Some(memory)) = (self.cpu, self.memory) else {
            return Ok(());
        };
        let invalid = |why: String| ExitError::new(Exit::InvalidInput, anyhow!(why));
        let Some(options) = fargate_memory_options(cpu) else {
            return Err(invalid(format!(
                "--cpu {cpu} is not a Fargate CPU value; use one of {FARGATE_CPU_UNITS:?}"
            ))
            .into());
        };
        if !options.contains(&memory) {
            return Err(invalid(format!(
                "--memory {memory} does not go with --cpu {cpu} on Fargate; use one of {options:?}"
            ))
            .into());
        }
        Ok(())
    }
}

pub async fn run(global: &GlobalArgs, args: &RunArgs, printer: &Printer) -> Result<Exit> {
    args.check_size()?;
    let options = RunOptions {
        command: args.command.clone(),
        cpu: args.cpu,
        memory: args.memory,
    };
    let prepared = task::prepare(&global.target(), printer, options).await?;
    printer.info(&format!(
        "Run `{}` in a new task of\n  {}",
        args.command.join(" "),
        prepared.service.task_definition
    ));
    if !confirm(printer, args.yes, "Start the task?")? {
        printer.info("Run cancelled; no task was started.");
        return Ok(Exit::Success);
    }
    let interrupt = Interrupt::listen();
    let started = prepared.start().await?;
    if args.detach {
        printer.info(&format!(
            "Started task {}; its output: deployer logs --task {} --follow",
            started.id, started.id
        ));
        printer.data(&started.id);
        return Ok(Exit::Success);
    }
    printer.info(&format!(
        "Started task {}; waiting for it to stop.",
        started.id
    ));
    let end = prepared
        .follow(&started, &interrupt, |event| printer.data(&event.message))
        .await?;
    match end {
        TaskEnd::Exited(code) => {
            printer.info(&format!("Task {} exited with code {code}.", started.id));
            Ok(Exit::Task(u8::try_from(code).unwrap_or(1)))
        }
        TaskEnd::NotStarted(why) => Err(ExitError::new(
            Exit::TaskNotStarted,
            anyhow!("task {} stopped before its command ran: {why}", started.id),
        )
        .into()),
    }
}
