//! `deployer exec`: a shell or a command in a running task of the service, through ECS Exec and
//! AWS's Session Manager plugin. The workflow is [`crate::ops::exec`]; this adapts the arguments.

use anyhow::Result;
use clap::Args;

use super::GlobalArgs;
use crate::exit::Exit;
use crate::ops::exec::{self, ExecOptions};
use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  deployer exec --env prod                        /bin/sh in one of the service's tasks
  deployer exec -- bash
  deployer exec --task 0f1e2d3c4b5a -- python manage.py shell
  deployer exec -- cat /app/config.py

Needs `enable_exec = true` under [service] (then `deployer apply` and, for tasks started
before, `deployer restart`) and AWS's session-manager-plugin on PATH.

Exit codes: the command's (the plugin's) exit code; 1 error (no plugin, ECS Exec not enabled
on the task, no running task); 3 invalid input.")]
pub struct ExecArgs {
    /// The task (ID or ARN); by default the first running task of the service.
    #[arg(long, value_name = "ID")]
    task: Option<String>,

    /// The container (default: container.name).
    #[arg(long, value_name = "NAME")]
    container: Option<String>,

    /// The command and its arguments, after `--` (default: /bin/sh).
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

pub async fn run(global: &GlobalArgs, args: &ExecArgs, printer: &Printer) -> Result<Exit> {
    let options = ExecOptions {
        task: args.task.clone(),
        container: args.container.clone(),
        command: args.command.clone(),
    };
    let session = exec::open(&global.target(), printer, &options).await?;
    printer.info(&format!(
        "Connecting to container {} of task {}...",
        session.container, session.task_id
    ));
    let code = exec::hand_over(&session).await?;
    Ok(Exit::Task(u8::try_from(code).unwrap_or(1)))
}
