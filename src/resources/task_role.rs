//! The task role: what the app's own code gets credentials of, when `[task_role]` asks for one.
//! Trusted by `ecs-tasks.amazonaws.com` only on behalf of this account (`aws:SourceAccount`, so
//! that no other account's ECS can hand its tasks this role), with the configured managed
//! policies attached and the configured statements as one inline policy, both kept exactly as
//! configured: a policy attached or changed by hand is taken back.
//!
//! Unlike most resources, this one may be wanted or not ([`Resource::wanted`]): without
//! `[task_role]` there is no role, and one left from an earlier configuration is retired (deleted
//! once the service's tasks no longer run as it).

use std::collections::BTreeSet;

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Map, Value};

use crate::aws::iam;
use crate::aws::policy::{ecs_tasks_trust_policy, same_optional_policy, same_policy};
use crate::aws::{account_of, Created};
use crate::config::{PolicyStatement, TaskRoleConfig};
use crate::contract::{Change, Ctx, Detail, Facts, Resource, StepId, NONE};
use crate::state::ResourceRecord;

pub struct TaskRole;

/// The role as AWS has it.
#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    /// The name of the inline policy of the statements (`[names] task_role_policy`).
    pub policy_name: String,
    pub arn: String,
    pub trust_policy: Value,
    pub attached: BTreeSet<String>,
    /// The inline policy of the statements, when found.
    pub inline: Option<Value>,
    /// Other inline policies (put by hand): not configured, so removed.
    pub other_inline: BTreeSet<String>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub role: DesiredRole,
    /// The account the role's trust is limited to, from the execution role's ARN; unknown in a
    /// plan before the execution role exists.
    pub account: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DesiredRole {
    pub attached: BTreeSet<String>,
    pub inline: Option<Value>,
}

/// Trusted by ECS tasks, and only on behalf of `account`: AWS's confused-deputy protection for
/// task roles.
fn trust_policy(account: &str) -> Value {
    ecs_tasks_trust_policy(Some(account))
}

/// The statements as one policy document; `None` when there are none.
pub fn inline_policy(statements: &[PolicyStatement]) -> Option<Value> {
    let statements: Vec<Value> = statements
        .iter()
        .map(|s| {
            let mut statement = Map::new();
            statement.insert("Effect".into(), json!(s.effect));
            statement.insert("Action".into(), json!(s.actions));
            statement.insert("Resource".into(), json!(s.resources));
            if !s.conditions.is_empty() {
                statement.insert("Condition".into(), json!(s.conditions));
            }
            Value::Object(statement)
        })
        .collect();
    (!statements.is_empty()).then(|| json!({ "Version": "2012-10-17", "Statement": statements }))
}

/// What ECS Exec needs of the task role: the SSM agent in the task opens its channels to
/// Session Manager with these ("ECS Exec: IAM permissions required", Amazon ECS Developer
/// Guide). They have no resource-level permissions, hence `*`.
pub const EXEC_ACTIONS: &[&str] = &[
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];

fn exec_statement() -> PolicyStatement {
    PolicyStatement {
        effect: "Allow".into(),
        actions: EXEC_ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
        resources: vec!["*".into()],
        conditions: Default::default(),
    }
}

/// The role `[task_role]` describes (if any), with ECS Exec's statement added to its inline
/// policy when `enable_exec`.
fn desired_role(config: Option<&TaskRoleConfig>, enable_exec: bool) -> DesiredRole {
    let mut statements: Vec<PolicyStatement> =
        config.map(|c| c.statements.clone()).unwrap_or_default();
    if enable_exec {
        statements.push(exec_statement());
    }
    DesiredRole {
        attached: config
            .map(|c| c.managed_policies.iter().cloned().collect())
            .unwrap_or_default(),
        inline: inline_policy(&statements),
    }
}

async fn read_role(ctx: &Ctx, detail: Detail) -> Result<Option<Live>> {
    let iam = &ctx.aws.iam;
    let name = &ctx.names.task_role;
    let Some(role) = iam::get_role(iam, name).await? else {
        return Ok(None);
    };
    let policy_name = &ctx.names.task_role_policy;
    let mut found = Live {
        name: name.clone(),
        policy_name: policy_name.clone(),
        arn: role.arn,
        trust_policy: role.trust_policy,
        attached: BTreeSet::new(),
        inline: None,
        other_inline: BTreeSet::new(),
        tags: role.tags,
    };
    // Deleting lists what is attached anyway; a destroy skips the reads of the settings.
    if detail == Detail::Full {
        found.attached = iam::attached_policies(iam, name).await?;
        found.inline = iam::inline_policy(iam, name, policy_name).await?;
        found.other_inline = iam::inline_policy_names(iam, name)
            .await?
            .into_iter()
            .filter(|policy| policy != policy_name)
            .collect();
    }
    Ok(Some(found))
}

/// Brings the role's policies to what is desired.
async fn converge(ctx: &Ctx, role: &Live, desired: &DesiredRole, trust: &Value) -> Result<Live> {
    let iam = &ctx.aws.iam;
    let name = &role.name;
    iam::converge_role(
        iam,
        name,
        (&role.trust_policy, &role.attached),
        (trust, &desired.attached),
    )
    .await?;
    iam::converge_inline_policy(iam, name, &role.policy_name, &role.inline, &desired.inline)
        .await?;
    // A policy put by hand would grant the app what the configuration does not.
    for policy in &role.other_inline {
        iam::delete_inline_policy(iam, name, policy).await?;
    }
    Ok(Live {
        trust_policy: trust.clone(),
        attached: desired.attached.clone(),
        inline: desired.inline.clone(),
        other_inline: BTreeSet::new(),
        ..role.clone()
    })
}

impl Resource for TaskRole {
    const STEP: StepId = StepId::new("task_role", "task role");
    // The execution role's ARN tells the account that the trust is limited to.
    const DEPENDS_ON: &'static [&'static str] = &["execution_role"];
    type Live = Live;
    type Desired = Desired;

    fn wanted(ctx: &Ctx) -> bool {
        ctx.config.wants_task_role()
    }

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        Desired {
            name: ctx.names.task_role.clone(),
            role: desired_role(
                ctx.config.task_role.as_ref(),
                ctx.config.service.enable_exec,
            ),
            account: facts.execution_role_arn.as_deref().and_then(account_of),
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, detail: Detail) -> Result<Option<Live>> {
        // Without `[task_role]`, and without a role the state records (made, or retiring),
        // there is nothing to look for: the call is saved from every run, destroy included, of
        // a stack that has no task role. (A role whose section and state were both lost before
        // it was retired is then left for the user to delete.)
        let recorded = ctx.recorded(Self::STEP.key()).is_some()
            || ctx.recorded.retiring.contains_key(Self::STEP.key());
        if !Self::wanted(ctx) && !recorded {
            return Ok(None);
        }
        read_role(ctx, detail).await
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        let wanted = &desired.role;
        let account = desired.account.clone().or_else(|| account_of(&live.arn));
        if let Some(account) = account {
            let trust = trust_policy(&account);
            if !same_policy(&live.trust_policy, &trust) {
                changes.push(Change::new("trust_policy", &live.trust_policy, &trust));
            }
        }
        for missing in wanted.attached.difference(&live.attached) {
            changes.push(Change::new("managed_policy", NONE, missing));
        }
        for extra in live.attached.difference(&wanted.attached) {
            changes.push(Change::new("managed_policy", extra, NONE));
        }
        if !same_optional_policy(&live.inline, &wanted.inline) {
            changes.push(Change::new("statements", &live.inline, &wanted.inline));
        }
        for other in &live.other_inline {
            changes.push(Change::new("inline_policy", other, NONE));
        }
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let Some(account) = &desired.account else {
            bail!(
                "the account of IAM role {} is not known: the task execution role has no ARN",
                desired.name
            );
        };
        let trust = trust_policy(account);
        let created = iam::create_role(
            &ctx.aws.iam,
            &desired.name,
            &trust,
            format!(
                "ECS task role of {}-{}, managed by deployer",
                ctx.config.project, ctx.config.environment
            ),
            &ctx.owner,
            ctx.iam_budget(),
            &ctx.printer,
        );
        let Created::New(arn) = created.await? else {
            return Ok(Created::AlreadyExists);
        };
        let role = Live {
            name: desired.name.clone(),
            policy_name: ctx.names.task_role_policy.clone(),
            arn,
            trust_policy: trust.clone(),
            attached: BTreeSet::new(),
            inline: None,
            other_inline: BTreeSet::new(),
            tags: Vec::new(),
        };
        Ok(Created::New(
            converge(ctx, &role, &desired.role, &trust).await?,
        ))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        let account = desired
            .account
            .clone()
            .or_else(|| account_of(&live.arn))
            .with_context(|| format!("IAM role {} has no account in its ARN", live.name))?;
        converge(ctx, live, &desired.role, &trust_policy(&account)).await
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
                .inline
                .iter()
                .map(|_| live.policy_name.clone())
                .collect(),
            imported: false,
        }
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.task_role_arn = Some(live.arn.clone());
    }

    async fn retire(ctx: &Ctx, record: &ResourceRecord) -> Result<()> {
        // Whatever is attached is found and removed when IAM refuses the delete.
        iam::delete_role(
            &ctx.aws.iam,
            &record.id,
            std::iter::empty(),
            ctx.iam_budget(),
            &ctx.printer,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PolicyStatement;
    use std::collections::BTreeMap;

    const ACCOUNT: &str = "123456789012";
    const S3: &str = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";

    fn statement() -> PolicyStatement {
        PolicyStatement {
            effect: "Allow".into(),
            actions: vec!["sqs:SendMessage".into()],
            resources: vec!["arn:aws:sqs:eu-central-1:123456789012:jobs".into()],
            conditions: BTreeMap::new(),
        }
    }

    fn wanted() -> Desired {
        Desired {
            name: "app-dev-task-role".into(),
            role: desired_role(
                Some(&TaskRoleConfig {
                    managed_policies: vec![S3.into()],
                    statements: vec![statement()],
                }),
                false,
            ),
            account: Some(ACCOUNT.into()),
        }
    }

    fn as_made(desired: &Desired) -> Live {
        Live {
            name: desired.name.clone(),
            policy_name: crate::names::TASK_ROLE_POLICY.to_owned(),
            arn: format!("arn:aws:iam::{ACCOUNT}:role/{}", desired.name),
            trust_policy: trust_policy(ACCOUNT),
            attached: desired.role.attached.clone(),
            inline: desired.role.inline.clone(),
            other_inline: BTreeSet::new(),
            tags: Vec::new(),
        }
    }

    #[test]
    fn the_role_as_made_is_no_change() {
        assert_eq!(TaskRole::diff(&as_made(&wanted()), &wanted()), []);
    }

    #[test]
    fn policies_changed_by_hand_are_each_a_change() {
        let mut live = as_made(&wanted());
        live.attached
            .insert("arn:aws:iam::aws:policy/AdministratorAccess".into());
        live.attached.remove(S3);
        live.inline = None;
        live.trust_policy = json!({"Version": "2012-10-17", "Statement": []});
        let fields: Vec<String> = TaskRole::diff(&live, &wanted())
            .into_iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.old, c.new))
            .collect();
        assert_eq!(fields.len(), 4, "{fields:?}");
        assert!(fields[0].starts_with("trust_policy: "));
        assert_eq!(fields[1], format!("managed_policy: (none) -> {S3}"));
        assert_eq!(
            fields[2],
            "managed_policy: arn:aws:iam::aws:policy/AdministratorAccess -> (none)"
        );
        assert!(fields[3].starts_with("statements: (none) -> {"));
    }

    #[test]
    fn ecs_exec_adds_the_session_manager_statement_with_or_without_task_role() {
        let alone = desired_role(None, true);
        assert!(alone.attached.is_empty());
        let policy = alone.inline.unwrap();
        assert_eq!(policy["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(policy["Statement"][0]["Action"], json!(EXEC_ACTIONS));
        assert_eq!(policy["Statement"][0]["Resource"], json!(["*"]));
        let config = TaskRoleConfig {
            managed_policies: vec![S3.into()],
            statements: vec![statement()],
        };
        let both = desired_role(Some(&config), true).inline.unwrap();
        assert_eq!(both["Statement"].as_array().unwrap().len(), 2);
        assert_eq!(both["Statement"][0]["Action"], json!(["sqs:SendMessage"]));
        assert_eq!(desired_role(None, false).inline, None);
    }

    #[test]
    fn the_trust_is_limited_to_the_account() {
        let trust = trust_policy(ACCOUNT);
        assert_eq!(
            trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
            ACCOUNT
        );
        // A trust policy without the condition is not the one wanted.
        let mut live = as_made(&wanted());
        live.trust_policy["Statement"][0]
            .as_object_mut()
            .unwrap()
            .remove("Condition");
        assert_eq!(TaskRole::diff(&live, &wanted())[0].field, "trust_policy");
    }

    #[test]
    fn statements_become_one_policy_with_conditions_only_where_given() {
        let mut with_condition = statement();
        with_condition.conditions = BTreeMap::from([(
            "StringEquals".to_owned(),
            BTreeMap::from([(
                "aws:RequestedRegion".to_owned(),
                vec!["eu-central-1".to_owned()],
            )]),
        )]);
        let policy = inline_policy(&[statement(), with_condition]).unwrap();
        assert!(policy["Statement"][0].get("Condition").is_none());
        assert_eq!(
            policy["Statement"][1]["Condition"]["StringEquals"]["aws:RequestedRegion"],
            json!(["eu-central-1"])
        );
        assert_eq!(inline_policy(&[]), None);
    }
}
