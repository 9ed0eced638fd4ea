//! Container secrets come from SSM Parameter Store or Secrets Manager by ARN: the task definition
//! names them, the execution role may read exactly those ARNs, and their values never pass
//! through the tool.

use serde_json::Value;

use crate::lifecycle::{apply, DEV_TOML};
use crate::stack::{Stack, PREFIX};
use crate::support::{block_on, TestEnv};

const PARAMETER: &str = "arn:aws:ssm:eu-central-1:123456789012:parameter/simhill/dev/db-password";
const SECRET: &str =
    "arn:aws:secretsmanager:eu-central-1:123456789012:secret:simhill/dev/api-key-AbCdEf";

fn with_secrets() -> String {
    let config = DEV_TOML.replace(
        "[container.secrets]",
        &format!(
            "[container.secrets]\nDATABASE_PASSWORD = \"{PARAMETER}\"\nAPI_KEY = \"{SECRET}\""
        ),
    );
    assert_ne!(config, DEV_TOML);
    config
}

/// The role's inline secrets policy, if any.
fn secrets_policy(env: &TestEnv) -> Option<Value> {
    let iam = aws_sdk_iam::Client::new(&env.sdk_config());
    let answer = block_on(
        iam.get_role_policy()
            .role_name(format!("{PREFIX}-ecs-task-execution-role"))
            .policy_name("read-container-secrets")
            .send(),
    )
    .ok()?;
    let text = urlencoding::decode(answer.policy_document())
        .unwrap()
        .into_owned();
    Some(serde_json::from_str(&text).unwrap())
}

#[test]
fn secrets_reach_the_task_definition_and_the_role_reads_exactly_them() {
    let env = TestEnv::start();
    env.write_config("dev", &with_secrets());
    apply(&env);

    let policy = secrets_policy(&env).expect("inline secrets policy");
    let statements = policy["Statement"].as_array().unwrap();
    let allowed: Vec<(String, Value)> = statements
        .iter()
        .map(|s| {
            (
                s["Action"].as_str().unwrap().to_owned(),
                s["Resource"].clone(),
            )
        })
        .collect();
    assert_eq!(
        allowed,
        [
            (
                "ssm:GetParameters".to_owned(),
                serde_json::json!([PARAMETER])
            ),
            (
                "secretsmanager:GetSecretValue".to_owned(),
                serde_json::json!([SECRET])
            ),
        ]
    );
    let stack = Stack::read(&env);
    let container = &stack.task_definitions[0].container_definitions()[0];
    let mut secrets: Vec<(&str, &str)> = container
        .secrets()
        .iter()
        .map(|s| (s.name(), s.value_from()))
        .collect();
    secrets.sort();
    assert_eq!(
        secrets,
        [("API_KEY", SECRET), ("DATABASE_PASSWORD", PARAMETER)]
    );

    // Nothing to do the second time.
    env.proxy.clear();
    let stderr = apply(&env);
    assert!(stderr.contains("No changes"), "{stderr}");
    assert_eq!(env.proxy.mutating_calls(), []);

    // Without secrets, the policy goes and the task definition no longer names them.
    env.write_config("dev", DEV_TOML);
    apply(&env);
    assert_eq!(secrets_policy(&env), None);
    let stack = Stack::read(&env);
    let service_revision = stack.services[0].task_definition().unwrap();
    let running = stack
        .task_definitions
        .iter()
        .find(|t| t.task_definition_arn() == Some(service_revision))
        .unwrap();
    assert!(running.container_definitions()[0].secrets().is_empty());
    env.proxy.clear();
    apply(&env);
    assert_eq!(env.proxy.mutating_calls(), []);
}

/// Reported case: a secret named with a JSON key (`...:secret:app/db-AbCdEf:username::`) was
/// granted as that literal string, which is not the secret's ARN, so every task would have
/// stopped with AccessDenied. The task definition keeps each reference as written; the role is
/// granted the secrets themselves.
#[test]
fn secrets_policy_misses_valid_secret_references() {
    const ACCOUNT: &str = "arn:aws:secretsmanager:eu-central-1:123456789012:secret";
    let references = [
        (
            "DB_USER",
            format!("{ACCOUNT}:simhill/dev/db-AbCdEf:username::"),
        ),
        (
            "DB_PASSWORD",
            format!("{ACCOUNT}:simhill/dev/db-AbCdEf:password:AWSCURRENT:"),
        ),
        ("JWT_KEY", format!("{ACCOUNT}:simhill/dev/jwt")),
        (
            "REPLICA_URL",
            "arn:aws:ssm:us-east-1:123456789012:parameter/simhill/dev/replica".to_owned(),
        ),
    ];
    let lines: Vec<String> = references
        .iter()
        .map(|(name, arn)| format!("{name} = \"{arn}\""))
        .collect();
    let config = DEV_TOML.replace(
        "[container.secrets]",
        &format!("[container.secrets]\n{}", lines.join("\n")),
    );
    assert_ne!(config, DEV_TOML);
    let env = TestEnv::start();
    env.write_config("dev", &config);
    apply(&env);

    let policy = secrets_policy(&env).expect("inline secrets policy");
    let granted: Vec<(String, Value)> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["Action"].as_str().unwrap().to_owned(),
                s["Resource"].clone(),
            )
        })
        .collect();
    assert_eq!(
        granted,
        [
            (
                "ssm:GetParameters".to_owned(),
                serde_json::json!([
                    "arn:aws:ssm:us-east-1:123456789012:parameter/simhill/dev/replica"
                ])
            ),
            (
                "secretsmanager:GetSecretValue".to_owned(),
                serde_json::json!([
                    format!("{ACCOUNT}:simhill/dev/db-AbCdEf"),
                    format!("{ACCOUNT}:simhill/dev/jwt-??????"),
                ])
            ),
        ]
    );

    let stack = Stack::read(&env);
    let container = &stack.task_definitions[0].container_definitions()[0];
    let mut value_from: Vec<(String, String)> = container
        .secrets()
        .iter()
        .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
        .collect();
    value_from.sort();
    let mut expected: Vec<(String, String)> = references
        .iter()
        .map(|(name, arn)| ((*name).to_owned(), arn.clone()))
        .collect();
    expected.sort();
    assert_eq!(value_from, expected);

    // The policy as IAM hands it back is the one wanted: nothing to do the second time.
    env.proxy.clear();
    let stderr = apply(&env);
    assert!(stderr.contains("No changes"), "{stderr}");
    assert_eq!(env.proxy.mutating_calls(), []);
}

/// `deployer ARGS` in `env`: exit code, stdout, stderr.
fn run(env: &TestEnv, args: &[&str]) -> (i32, String, String) {
    let output = env.deployer().args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Reported case: `DB_PASSWORD` in `[container.environment]` got no warning, and `plan` printed
/// its value, old and new, into the CI log. Every command that reads the file warns at the key,
/// with the exit code it would have had anyway; a plan shows that the value changes, never the
/// value.
#[test]
fn secret_values_echoed_into_ci_logs() {
    let with_password = |value: &str| {
        let config = DEV_TOML.replace(
            "FLASK_ENV = \"production\"\n",
            &format!("FLASK_ENV = \"production\"\nDB_PASSWORD = \"{value}\"\n"),
        );
        assert_ne!(config, DEV_TOML);
        config
    };
    let env = TestEnv::start();
    env.write_config("dev", &with_password("hunter2-old"));
    // The line and column of the key in the shipped file, after FLASK_ENV.
    let line = DEV_TOML
        .lines()
        .position(|l| l.starts_with("FLASK_ENV"))
        .unwrap()
        + 2;
    let warning = format!("warning: envs/dev.toml:{line}:1: container.environment.DB_PASSWORD: ");

    let (code, _, stderr) = run(&env, &["validate"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&warning), "{stderr}");
    assert!(stderr.contains("[container.secrets]"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let stderr = apply(&env);
    assert!(stderr.contains(&warning), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    env.write_config("dev", &with_password("hunter2-new"));
    for json in [false, true] {
        let mut args = vec!["plan", "--detailed-exitcode"];
        if json {
            args.push("--json");
        }
        let (code, stdout, stderr) = run(&env, &args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(&warning), "{args:?}: {stderr}");
        for output in [&stdout, &stderr] {
            assert!(
                !output.contains("hunter2"),
                "{args:?} shows the value:\n{output}"
            );
        }
        let old = "DB_PASSWORD=(sensitive), FLASK_APP=hello, FLASK_ENV=production";
        let new = "DB_PASSWORD=(sensitive, changed), FLASK_APP=hello, FLASK_ENV=production";
        if json {
            let plan: Value = serde_json::from_str(&stdout).unwrap();
            let changes: Vec<&Value> = plan["resources"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["changes"].as_array().into_iter().flatten())
                .filter(|c| c["field"] == "environment")
                .collect();
            assert_eq!(
                changes,
                [&serde_json::json!({ "field": "environment", "old": old, "new": new })],
                "{plan}"
            );
        } else {
            let text = format!("{stdout}{stderr}");
            assert!(text.contains(old) && text.contains(new), "{text}");
        }
    }
}
