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
