//! `exec`: a shell (or a command) in a running task of the service, through ECS Exec. ECS's
//! `ExecuteCommand` opens a Session Manager session; AWS's `session-manager-plugin` carries the
//! terminal over it, invoked the way the AWS CLI's `aws ecs execute-command` does: the session
//! as JSON, the region, `StartSession`, the profile, the target as JSON, and the ECS endpoint.
//!
//! Both things that commonly go wrong are checked first and explained: the plugin is not
//! installed (checked before any AWS call), or the task was started without ECS Exec
//! (`service.enable_exec`).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use serde_json::json;

use super::Target;
use crate::aws::partition;
use crate::aws::tasks::task_id;
use crate::aws::AwsResultExt;
use crate::printer::Printer;

/// AWS's Session Manager plugin, as the AWS CLI looks it up: by this name on `PATH`.
pub const PLUGIN: &str = "session-manager-plugin";

/// Where to install the plugin from.
const PLUGIN_DOCS: &str = "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html";

/// What `exec` was asked for.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// A task ID or ARN; the first running task of the service when `None`.
    pub task: Option<String>,
    /// The container; `container.name` when `None`.
    pub container: Option<String>,
    /// The command; a shell when empty.
    pub command: Vec<String>,
}

/// The plugin on `path` (a `PATH`-style list), or the error that says how to install it.
pub fn find_plugin(path: Option<&std::ffi::OsStr>) -> Result<PathBuf> {
    let found = path
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(PLUGIN))
        .find(|candidate| is_executable(candidate));
    found.ok_or_else(|| {
        anyhow!(
            "{PLUGIN} is not installed (not found on PATH); `deployer exec` hands the session \
             to it, as `aws ecs execute-command` does. Install AWS's Session Manager plugin \
             ({PLUGIN_DOCS}) and run again"
        )
    })
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file() || path.with_extension("exe").is_file()
    }
}

/// The ECS endpoint the plugin is told about: the configured one (an emulator, a VPC
/// endpoint), or the region's public one.
fn ecs_endpoint(configured: Option<&str>, region: &str) -> String {
    if let Some(url) = configured {
        return url.to_owned();
    }
    let suffix = if partition(region) == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://ecs.{region}.{suffix}")
}

/// The command `exec` runs when none is given: the shell every image with one has (the ECS
/// Exec documentation's example; run `-- bash` for bash).
pub const DEFAULT_SHELL: &str = "/bin/sh";

/// A session ready to hand to the plugin.
#[derive(Debug, Clone)]
pub struct ExecSession {
    pub plugin: PathBuf,
    pub task_id: String,
    pub container: String,
    /// The plugin's arguments, in the AWS CLI's order.
    pub plugin_args: Vec<String>,
}

/// Finds the task, checks that ECS Exec is on for it, and opens the session with
/// `ExecuteCommand`. Errors say what to do about a missing plugin or exec not enabled.
pub async fn open(
    target: &Target,
    printer: &Printer,
    options: &ExecOptions,
) -> Result<ExecSession> {
    let plugin = find_plugin(std::env::var_os("PATH").as_deref())?;
    let session = target.open(printer, None).await?;
    let ctx = &session.ctx;
    let ecs = &ctx.aws.ecs;
    let cluster = &ctx.names.cluster;
    let task_arn = match &options.task {
        Some(task) => task.clone(),
        None => {
            let listed = ecs
                .list_tasks()
                .cluster(cluster)
                .service_name(&ctx.names.service)
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
                .send()
                .await
                .or_context(format!("listing the tasks of {}", ctx.names.service))?;
            listed.task_arns().first().cloned().ok_or_else(|| {
                anyhow!(
                    "ECS service {} has no running task to exec into; see `deployer status`",
                    ctx.names.service
                )
            })?
        }
    };
    let described = ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(&task_arn)
        .send()
        .await
        .or_context(format!("reading task {}", task_id(&task_arn)))?;
    let task = described.tasks().first().ok_or_else(|| {
        anyhow!(
            "task {} is not in cluster {cluster}; `deployer status` lists the running ones",
            task_id(&task_arn)
        )
    })?;
    let id = task_id(task.task_arn().unwrap_or(&task_arn)).to_owned();
    if !task.enable_execute_command() {
        return Err(anyhow!(
            "ECS Exec is not enabled on task {id}: it was started without it. Set \
             `enable_exec = true` under [service] in {}, run `deployer apply` (which also gives \
             the task role the Session Manager permissions), then `deployer restart` so that \
             the running tasks are replaced by ones with ECS Exec",
            target.config_path().display()
        ));
    }
    let container = options
        .container
        .clone()
        .unwrap_or_else(|| ctx.config.container.name.clone());
    let runtime_id = task
        .containers()
        .iter()
        .find(|c| c.name() == Some(container.as_str()))
        .ok_or_else(|| {
            let names: Vec<&str> = task.containers().iter().filter_map(|c| c.name()).collect();
            anyhow!(
                "task {id} has no container {container:?}; its containers: {}",
                names.join(", ")
            )
        })?
        .runtime_id()
        .unwrap_or_default()
        .to_owned();
    let command = if options.command.is_empty() {
        DEFAULT_SHELL.to_owned()
    } else {
        shell_words(&options.command)
    };
    let answer = ecs
        .execute_command()
        .cluster(cluster)
        .task(&task_arn)
        .container(&container)
        .command(command)
        .interactive(true)
        .send()
        .await
        .or_context(format!("starting ECS Exec in task {id}"))?;
    let session_json = answer.session().map_or_else(
        || json!({}),
        |s| {
            json!({
                "sessionId": s.session_id(),
                "streamUrl": s.stream_url(),
                "tokenValue": s.token_value(),
            })
        },
    );
    let target_json = json!({ "Target": format!("ecs:{cluster}_{id}_{runtime_id}") });
    let profile = target
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .unwrap_or_default();
    let configured = ctx
        .config
        .endpoint_url
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_ECS").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    let plugin_args = vec![
        session_json.to_string(),
        ctx.aws.region.clone(),
        "StartSession".to_owned(),
        profile,
        target_json.to_string(),
        ecs_endpoint(configured.as_deref(), &ctx.aws.region),
    ];
    Ok(ExecSession {
        plugin,
        task_id: id,
        container,
        plugin_args,
    })
}

/// Runs the plugin in the foreground until the session ends; its exit status.
///
/// Ctrl-C belongs to the session (the plugin forwards it to the remote command), so this
/// process ignores it meanwhile instead of dying under the plugin.
pub async fn hand_over(session: &ExecSession) -> Result<i32> {
    let ignore_ctrl_c = tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
    let (plugin, args) = (session.plugin.clone(), session.plugin_args.clone());
    let status =
        tokio::task::spawn_blocking(move || std::process::Command::new(plugin).args(args).status())
            .await;
    ignore_ctrl_c.abort();
    let status = status
        .map_err(|e| anyhow!("running {PLUGIN}: {e}"))?
        .map_err(|e| anyhow!("running {}: {e}", session.plugin.display()))?;
    Ok(status.code().unwrap_or(1))
}

/// A command line for ECS Exec, which takes one string: each word quoted for `sh` unless it is
/// plainly safe.
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let safe = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if safe {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell_only_when_needed() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(shell_words(&words(&["ls", "-la", "/app"])), "ls -la /app");
        assert_eq!(
            shell_words(&words(&["echo", "it's here", ""])),
            r"echo 'it'\''s here' ''"
        );
    }

    #[test]
    fn the_plugin_is_told_the_regions_ecs_endpoint_or_the_configured_one() {
        assert_eq!(
            ecs_endpoint(None, "eu-central-1"),
            "https://ecs.eu-central-1.amazonaws.com"
        );
        assert_eq!(
            ecs_endpoint(None, "cn-north-1"),
            "https://ecs.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            ecs_endpoint(Some("http://127.0.0.1:5000"), "eu-central-1"),
            "http://127.0.0.1:5000"
        );
    }

    #[test]
    fn a_missing_plugin_says_how_to_install_it() {
        let empty = tempfile::tempdir().unwrap();
        let error = find_plugin(Some(empty.path().as_os_str())).unwrap_err();
        assert!(error
            .to_string()
            .contains("session-manager-plugin is not installed"));
        assert!(error.to_string().contains(PLUGIN_DOCS));
    }
}
