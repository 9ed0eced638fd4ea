//! The task execution role: what ECS itself uses to pull the image and write the logs. Trusted
//! only by `ecs-tasks.amazonaws.com`, with the AWS-managed `AmazonECSTaskExecutionRolePolicy`
//! attached, and — when the configuration has container secrets — an inline policy that lets it
//! read exactly those secrets, which ECS fetches at task start.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use anyhow::Result;
use serde_json::{json, Value};

use crate::aws::iam;
use crate::aws::policy::{ecs_tasks_trust_policy, same_optional_policy, same_policy};
use crate::aws::{partition, Created};
use crate::config::{SecretArn, SecretStore};
use crate::contract::{Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct ExecutionRole;

#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    pub arn: String,
    pub trust_policy: Value,
    pub attached: BTreeSet<String>,
    pub tags: Vec<(String, String)>,
    /// The inline policy for container secrets, when it was looked for and found.
    pub secrets_policy: Option<Value>,
    /// When IAM created the role: a role minutes old may not be usable by ECS yet.
    pub created: Option<SystemTime>,
}

/// The name of the inline policy that lets the role read the container secrets.
pub const SECRETS_POLICY: &str = "read-container-secrets";

/// The policy that lets ECS read exactly the configured secrets: SSM parameters with
/// `ssm:GetParameters`, Secrets Manager secrets with `secretsmanager:GetSecretValue`.
///
/// Each is granted as the resource IAM checks, which is not always the string ECS takes: a
/// JSON key or version after a secret's ARN is no part of it, and a secret named without its
/// random suffix needs the suffix matched (see [`SecretArn::policy_resource`]).
fn secrets_policy(secrets: &BTreeMap<String, String>) -> Option<Value> {
    // Validation parses every secret; one that does not parse cannot reach here.
    let parsed: Vec<SecretArn<'_>> = secrets
        .values()
        .filter_map(|arn| SecretArn::parse(arn).ok())
        .collect();
    let of = |store: SecretStore| -> Vec<String> {
        let resources: BTreeSet<String> = parsed
            .iter()
            .filter(|secret| secret.store == store)
            .map(SecretArn::policy_resource)
            .collect();
        resources.into_iter().collect()
    };
    let mut statements = Vec::new();
    let parameters = of(SecretStore::Parameter);
    if !parameters.is_empty() {
        statements.push(json!({
            "Sid": "ReadParameters",
            "Effect": "Allow",
            "Action": "ssm:GetParameters",
            "Resource": parameters,
        }));
    }
    let managed = of(SecretStore::SecretsManager);
    if !managed.is_empty() {
        statements.push(json!({
            "Sid": "ReadSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": managed,
        }));
    }
    (!statements.is_empty()).then(|| json!({ "Version": "2012-10-17", "Statement": statements }))
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub trust_policy: Value,
    pub attached: BTreeSet<String>,
    pub secrets_policy: Option<Value>,
}

fn trust_policy() -> Value {
    ecs_tasks_trust_policy(None)
}

/// The ARN of the AWS-managed execution policy in the region's partition.
pub fn managed_policy_arn(region: &str) -> String {
    format!(
        "arn:{}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
        partition(region)
    )
}

impl Resource for ExecutionRole {
    const STEP: StepId = StepId::new("execution_role", "task execution role");
    type Live = Live;
    type Desired = Desired;

    fn desired(ctx: &Ctx, _: &Facts) -> Desired {
        Desired {
            name: ctx.names.execution_role.clone(),
            trust_policy: trust_policy(),
            attached: BTreeSet::from([managed_policy_arn(&ctx.aws.region)]),
            secrets_policy: secrets_policy(&ctx.config.container.secrets),
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        let iam = &ctx.aws.iam;
        let name = &ctx.names.execution_role;
        let Some(role) = iam::get_role(iam, name).await? else {
            return Ok(None);
        };
        let attached = iam::attached_policies(iam, name).await?;
        // The inline policy costs a call, so it is only looked for when the configuration has
        // secrets or the state says this tool put it there.
        let recorded = ctx
            .recorded(Self::STEP.key())
            .is_some_and(|r| r.parts.iter().any(|p| p == SECRETS_POLICY));
        let secrets_policy = if recorded || !ctx.config.container.secrets.is_empty() {
            iam::inline_policy(iam, name, SECRETS_POLICY).await?
        } else {
            None
        };
        Ok(Some(Live {
            secrets_policy,
            created: role.created,
            name: name.clone(),
            arn: role.arn,
            trust_policy: role.trust_policy,
            attached,
            tags: role.tags,
        }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        if !same_policy(&live.trust_policy, &desired.trust_policy) {
            changes.push(Change::new(
                "trust_policy",
                &live.trust_policy,
                &desired.trust_policy,
            ));
        }
        for missing in desired.attached.difference(&live.attached) {
            changes.push(Change::new("attached_policy", "(none)", missing));
        }
        for extra in live.attached.difference(&desired.attached) {
            changes.push(Change::new("attached_policy", extra, "(none)"));
        }
        if !same_optional_policy(&live.secrets_policy, &desired.secrets_policy) {
            changes.push(Change::new(
                "secrets_policy",
                &live.secrets_policy,
                &desired.secrets_policy,
            ));
        }
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let created = iam::create_role(
            &ctx.aws.iam,
            &desired.name,
            &desired.trust_policy,
            format!(
                "ECS task execution role of {}-{}, managed by deployer",
                ctx.config.project, ctx.config.environment
            ),
            &ctx.owner,
            ctx.iam_budget(),
            &ctx.printer,
        );
        let Created::New(arn) = created.await? else {
            return Ok(Created::AlreadyExists);
        };
        let live = Live {
            name: desired.name.clone(),
            arn,
            trust_policy: desired.trust_policy.clone(),
            attached: BTreeSet::new(),
            tags: Vec::new(),
            secrets_policy: None,
            created: Some(SystemTime::now()),
        };
        Ok(Created::New(Self::update(ctx, &live, desired).await?))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        let iam = &ctx.aws.iam;
        iam::converge_role(
            iam,
            &live.name,
            (&live.trust_policy, &live.attached),
            (&desired.trust_policy, &desired.attached),
        )
        .await?;
        iam::converge_inline_policy(
            iam,
            &live.name,
            SECRETS_POLICY,
            &live.secrets_policy,
            &desired.secrets_policy,
        )
        .await?;
        Ok(Live {
            trust_policy: desired.trust_policy.clone(),
            attached: desired.attached.clone(),
            secrets_policy: desired.secrets_policy.clone(),
            ..live.clone()
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        iam::delete_role(
            &ctx.aws.iam,
            &live.name,
            live.attached.iter().map(String::as_str),
            ctx.iam_budget(),
            &ctx.printer,
        )
        .await
    }

    fn read_tags(live: &Live) -> Option<Vec<(String, String)>> {
        Some(live.tags.clone())
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        iam::tag_role(&ctx.aws.iam, &live.name, &ctx.owner).await
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord {
            id: live.name.clone(),
            arn: Some(live.arn.clone()),
            parts: live
                .secrets_policy
                .iter()
                .map(|_| SECRETS_POLICY.to_owned())
                .collect(),
            imported: false,
        }
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.execution_role_arn = Some(live.arn.clone());
        facts.execution_role_created = live.created;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::policy::parse_policy_document;

    const PARAMETER: &str = "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db-password";
    const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/api-key-AbCdEf";

    fn secrets(arns: &[&str]) -> BTreeMap<String, String> {
        arns.iter()
            .enumerate()
            .map(|(i, arn)| (format!("SECRET_{i}"), (*arn).to_owned()))
            .collect()
    }

    /// A role as configured, and the same role as AWS reports it.
    fn role() -> (Live, Desired) {
        let desired = Desired {
            name: "app-dev-execution".into(),
            trust_policy: trust_policy(),
            attached: BTreeSet::from([managed_policy_arn("eu-west-1")]),
            secrets_policy: secrets_policy(&secrets(&[PARAMETER, SECRET])),
        };
        let live = Live {
            name: desired.name.clone(),
            arn: "arn:aws:iam::123456789012:role/app-dev-execution".into(),
            trust_policy: desired.trust_policy.clone(),
            attached: desired.attached.clone(),
            tags: Vec::new(),
            secrets_policy: desired.secrets_policy.clone(),
            created: None,
        };
        (live, desired)
    }

    fn change(field: &str, old: &str, new: &str) -> Change {
        Change::new(field, old, new)
    }

    #[test]
    fn same_role_is_no_change() {
        let (live, desired) = role();
        assert_eq!(ExecutionRole::diff(&live, &desired), Vec::<Change>::new());
    }

    #[test]
    fn url_encoded_trust_policy_is_the_same_policy() {
        let encoded = urlencoding::encode(&trust_policy().to_string()).into_owned();
        let parsed = parse_policy_document(&encoded).unwrap();
        assert!(same_policy(&parsed, &trust_policy()));
        let (live, desired) = role();
        let found = Live {
            trust_policy: parsed,
            ..live
        };
        assert_eq!(ExecutionRole::diff(&found, &desired), Vec::<Change>::new());
    }

    #[test]
    fn statement_as_list_or_single_object_is_the_same_policy() {
        let mut single = trust_policy();
        single["Statement"] = single["Statement"][0].clone();
        assert!(same_policy(&single, &trust_policy()));
        let mut other = trust_policy();
        other["Statement"][0]["Principal"]["Service"] = json!("ec2.amazonaws.com");
        assert!(!same_policy(&other, &trust_policy()));
    }

    #[test]
    fn trust_policy_with_other_spacing_key_order_and_single_statement_is_no_change() {
        let text = r#"{
            "Statement": {
                "Action": "sts:AssumeRole",
                "Principal": { "Service": ["ecs-tasks.amazonaws.com"] },
                "Effect": "Allow",
                "Sid": ""
            },
            "Version": "2012-10-17"
        }"#;
        let (live, desired) = role();
        let found = Live {
            trust_policy: parse_policy_document(text).unwrap(),
            ..live
        };
        assert_eq!(ExecutionRole::diff(&found, &desired), Vec::<Change>::new());
    }

    #[test]
    fn trust_policy_change_shows_both_policies_as_compact_json() {
        let (live, desired) = role();
        let mut other = trust_policy();
        other["Statement"][0]["Principal"]["Service"] = json!("ec2.amazonaws.com");
        let found = Live {
            trust_policy: other.clone(),
            ..live
        };
        let changes = ExecutionRole::diff(&found, &desired);
        assert_eq!(
            changes,
            [change(
                "trust_policy",
                &other.to_string(),
                &trust_policy().to_string()
            )]
        );
        assert!(changes[0].old.contains(r#""Service":"ec2.amazonaws.com""#));
        assert!(!changes[0].old.contains('\n'));
    }

    #[test]
    fn missing_managed_policy_is_one_attachment_from_none() {
        let (live, desired) = role();
        let found = Live {
            attached: BTreeSet::new(),
            ..live
        };
        assert_eq!(
            ExecutionRole::diff(&found, &desired),
            [change(
                "attached_policy",
                "(none)",
                "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
            )]
        );
    }

    #[test]
    fn policy_attached_by_hand_is_one_attachment_to_none() {
        let (live, desired) = role();
        let extra = "arn:aws:iam::aws:policy/AdministratorAccess";
        let mut attached = live.attached.clone();
        attached.insert(extra.to_owned());
        let found = Live { attached, ..live };
        assert_eq!(
            ExecutionRole::diff(&found, &desired),
            [change("attached_policy", extra, "(none)")]
        );
    }

    #[test]
    fn managed_policy_of_another_partition_is_one_attachment_swapped() {
        let (live, desired) = role();
        let china = Desired {
            attached: BTreeSet::from([managed_policy_arn("cn-north-1")]),
            ..desired
        };
        assert_eq!(
            ExecutionRole::diff(&live, &china),
            [
                change(
                    "attached_policy",
                    "(none)",
                    "arn:aws-cn:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
                ),
                change(
                    "attached_policy",
                    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
                    "(none)"
                ),
            ]
        );
    }

    #[test]
    fn secrets_policy_not_there_yet_shows_as_none() {
        let (live, desired) = role();
        let found = Live {
            secrets_policy: None,
            ..live
        };
        let wanted = desired.secrets_policy.clone().unwrap().to_string();
        assert_eq!(
            ExecutionRole::diff(&found, &desired),
            [change("secrets_policy", "(none)", &wanted)]
        );
    }

    #[test]
    fn secrets_policy_left_over_without_secrets_shows_as_removed() {
        let (live, desired) = role();
        let wanted = Desired {
            secrets_policy: secrets_policy(&BTreeMap::new()),
            ..desired
        };
        assert_eq!(wanted.secrets_policy, None);
        let found = live.secrets_policy.clone().unwrap().to_string();
        assert_eq!(
            ExecutionRole::diff(&live, &wanted),
            [change("secrets_policy", &found, "(none)")]
        );
    }

    #[test]
    fn no_secrets_on_either_side_is_no_change() {
        let (live, desired) = role();
        let found = Live {
            secrets_policy: None,
            ..live
        };
        let wanted = Desired {
            secrets_policy: None,
            ..desired
        };
        assert_eq!(ExecutionRole::diff(&found, &wanted), Vec::<Change>::new());
    }

    #[test]
    fn another_secret_is_one_secrets_policy_change() {
        let (live, desired) = role();
        let other = "arn:aws:ssm:eu-west-1:123456789012:parameter/app/other";
        let wanted = Desired {
            secrets_policy: secrets_policy(&secrets(&[other, SECRET])),
            ..desired
        };
        let changes = ExecutionRole::diff(&live, &wanted);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].field, "secrets_policy");
        assert!(changes[0].old.contains(PARAMETER));
        assert!(changes[0].new.contains(other));
        assert!(!changes[0].new.contains(PARAMETER));
    }

    /// The policy grants the secrets IAM checks, not the strings ECS takes: a JSON key or version
    /// is dropped, a partial name gets its random suffix matched, and two references to one
    /// secret are one resource.
    #[test]
    fn secrets_policy_misses_valid_secret_references() {
        let policy = secrets_policy(&secrets(&[
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf:username::",
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf:password::",
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/api-key",
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/jwt-XyZ123::AWSPREVIOUS:",
            PARAMETER,
        ]))
        .unwrap();
        assert_eq!(
            policy,
            json!({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ReadParameters",
                        "Effect": "Allow",
                        "Action": "ssm:GetParameters",
                        "Resource": [PARAMETER],
                    },
                    {
                        "Sid": "ReadSecrets",
                        "Effect": "Allow",
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": [
                            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/api-key-??????",
                            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf",
                            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/jwt-XyZ123",
                        ],
                    },
                ],
            })
        );
    }

    #[test]
    fn secrets_policy_with_single_resources_and_without_sids_is_no_change() {
        // The same policy as IAM may hand it back: one-element lists as the element alone, no
        // statement IDs, keys in another order.
        let text = format!(
            r#"{{"Statement":[
                {{"Resource":"{PARAMETER}","Action":["ssm:GetParameters"],"Effect":"Allow"}},
                {{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":["{SECRET}"]}}
            ],"Version":"2012-10-17"}}"#
        );
        let (live, desired) = role();
        let found = Live {
            secrets_policy: parse_policy_document(&urlencoding::encode(&text)),
            ..live
        };
        assert!(found.secrets_policy.is_some());
        assert_eq!(ExecutionRole::diff(&found, &desired), Vec::<Change>::new());
    }
}
