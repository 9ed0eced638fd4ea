//! Creating and deleting an IAM role the way IAM lets them happen. A create may be refused
//! while IAM cannot yet see the service its trust policy names, and a retried create whose first
//! answer was lost finds the role made. A role goes only once no policy is attached to it and
//! it has no inline policy, and, for a few seconds after the last detach while that propagates,
//! IAM answers `DeleteConflict` even then. A role an instance profile holds is refused the same
//! way until it is removed from the profile. Both of the stack's roles go these ways.
//!
//! Both roles are also read and kept the same way: a trust policy, managed policies attached
//! exactly as configured, and one inline policy of this tool's, put or deleted as the
//! configuration asks.

use std::collections::BTreeSet;
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use serde_json::Value;

use super::errors::{not_propagated_yet, AwsResultExt, Created};
use super::policy::{parse_policy_document, same_optional_policy, same_policy};
use super::retry::{delete_when_released, send_when_ready, Budget, DeleteCodes};
use super::tags::{owner_tags, pairs};
use crate::names::OwnerTags;
use crate::printer::Printer;

/// A role as `GetRole` returns it.
#[derive(Debug, Clone)]
pub struct Role {
    pub arn: String,
    /// The trust policy, parsed (`Null` when IAM returned none that parses).
    pub trust_policy: Value,
    pub tags: Vec<(String, String)>,
    /// When IAM created it.
    pub created: Option<SystemTime>,
}

/// Role `name`, or `None` when IAM answers `NoSuchEntity`: one `GetRole`.
pub async fn get_role(iam: &aws_sdk_iam::Client, name: &str) -> Result<Option<Role>> {
    let answer = iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .or_absent(&["NoSuchEntity"], format!("reading IAM role {name}"))?;
    let Some(answer) = answer else {
        return Ok(None);
    };
    let role = answer.role().context("GetRole returned no role")?;
    Ok(Some(Role {
        arn: role.arn().to_owned(),
        trust_policy: role
            .assume_role_policy_document()
            .and_then(parse_policy_document)
            .unwrap_or(Value::Null),
        tags: pairs(role.tags()),
        created: SystemTime::try_from(*role.create_date()).ok(),
    }))
}

/// The ARNs of the managed policies attached to role `name`: one `ListAttachedRolePolicies`.
pub async fn attached_policies(iam: &aws_sdk_iam::Client, name: &str) -> Result<BTreeSet<String>> {
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .or_context(format!("reading the policies of IAM role {name}"))?;
    Ok(attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect())
}

/// Inline policy `policy` of role `name`, parsed; `None` when the role has none of that name:
/// one `GetRolePolicy`.
pub async fn inline_policy(
    iam: &aws_sdk_iam::Client,
    name: &str,
    policy: &str,
) -> Result<Option<Value>> {
    Ok(iam
        .get_role_policy()
        .role_name(name)
        .policy_name(policy)
        .send()
        .await
        .or_absent(
            &["NoSuchEntity"],
            format!("reading policy {policy} of {name}"),
        )?
        .and_then(|answer| parse_policy_document(answer.policy_document())))
}

/// Creates role `name` trusted as `trust_policy` says, with this stack's owner tags, retrying
/// within `budget` while IAM answers that the trust policy's principal is not valid yet. Returns
/// the new role's ARN, or [`Created::AlreadyExists`] when IAM answers `EntityAlreadyExists` (an
/// earlier attempt whose answer was lost made it, or someone else did: the caller reads it and
/// checks its tags).
pub async fn create_role(
    iam: &aws_sdk_iam::Client,
    name: &str,
    trust_policy: &Value,
    description: String,
    owner: &OwnerTags,
    budget: Budget,
    printer: &Printer,
) -> Result<Created<String>> {
    let create = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy.to_string())
        .description(description)
        .set_tags(Some(owner_tags(owner)?));
    let what = format!("creating IAM role {name}");
    // IAM checks the principal against a service that may not see it yet.
    let answer = send_when_ready(&what, budget, printer, not_propagated_yet, || {
        create.clone().send()
    })
    .await?;
    Ok(match answer.or_exists(&["EntityAlreadyExists"], &what)? {
        Created::New(created) => Created::New(
            created
                .role
                .map(|r| r.arn)
                .context("CreateRole returned no role")?,
        ),
        Created::AlreadyExists => Created::AlreadyExists,
    })
}

/// Deletes role `name`: detaches `attached` (the managed policies its read found), then deletes
/// the role, removing whatever else holds it (policies attached or put by hand) each time IAM
/// answers `DeleteConflict`, within `budget`. A role already gone is done.
pub async fn delete_role(
    iam: &aws_sdk_iam::Client,
    name: &str,
    attached: impl IntoIterator<Item = &str>,
    budget: Budget,
    printer: &Printer,
) -> Result<()> {
    for arn in attached {
        detach(iam, name, arn).await?;
    }
    let what = format!("deleting IAM role {name}");
    let codes = DeleteCodes {
        gone: &["NoSuchEntity"],
        in_use: &["DeleteConflict"],
    };
    delete_when_released(
        &what,
        budget,
        printer,
        codes,
        || iam.delete_role().role_name(name).send(),
        |reason| async move {
            release(iam, name).await?;
            Ok(reason)
        },
    )
    .await
}

/// The names of role `name`'s inline policies.
pub async fn inline_policy_names(
    iam: &aws_sdk_iam::Client,
    name: &str,
) -> Result<std::collections::BTreeSet<String>> {
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .or_context(format!("listing the inline policies of {name}"))?;
    Ok(inline.policy_names().iter().cloned().collect())
}

/// Deletes inline policy `policy` of role `name`; one already gone is done.
pub async fn delete_inline_policy(
    iam: &aws_sdk_iam::Client,
    name: &str,
    policy: &str,
) -> Result<()> {
    iam.delete_role_policy()
        .role_name(name)
        .policy_name(policy)
        .send()
        .await
        .or_absent(
            &["NoSuchEntity"],
            format!("deleting policy {policy} of {name}"),
        )?;
    Ok(())
}

/// Brings role `name`'s trust policy and attached managed policies from `live` to `wanted`:
/// `UpdateAssumeRolePolicy` when the trust differs, one attach or detach per policy that
/// differs, nothing when all are the same.
pub async fn converge_role(
    iam: &aws_sdk_iam::Client,
    name: &str,
    live: (&Value, &BTreeSet<String>),
    wanted: (&Value, &BTreeSet<String>),
) -> Result<()> {
    let ((live_trust, live_attached), (trust, attached)) = (live, wanted);
    if !same_policy(live_trust, trust) {
        iam.update_assume_role_policy()
            .role_name(name)
            .policy_document(trust.to_string())
            .send()
            .await
            .or_context(format!("setting the trust policy of {name}"))?;
    }
    for arn in attached.difference(live_attached) {
        iam.attach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .or_context(format!("attaching {arn} to {name}"))?;
    }
    for arn in live_attached.difference(attached) {
        detach(iam, name, arn).await?;
    }
    Ok(())
}

/// Brings inline policy `policy` of role `name` from `live` to `wanted`: put when it differs,
/// deleted when it is there and not wanted.
pub async fn converge_inline_policy(
    iam: &aws_sdk_iam::Client,
    name: &str,
    policy: &str,
    live: &Option<Value>,
    wanted: &Option<Value>,
) -> Result<()> {
    if same_optional_policy(live, wanted) {
        return Ok(());
    }
    match wanted {
        Some(document) => {
            iam.put_role_policy()
                .role_name(name)
                .policy_name(policy)
                .policy_document(document.to_string())
                .send()
                .await
                .or_context(format!("putting policy {policy} on {name}"))?;
        }
        None => delete_inline_policy(iam, name, policy).await?,
    }
    Ok(())
}

/// Puts this stack's owner tags on role `name`.
pub async fn tag_role(iam: &aws_sdk_iam::Client, name: &str, owner: &OwnerTags) -> Result<()> {
    iam.tag_role()
        .role_name(name)
        .set_tags(Some(owner_tags(owner)?))
        .send()
        .await
        .or_context(format!("tagging IAM role {name}"))?;
    Ok(())
}

/// Detaches managed policy `arn` from role `name`; one already detached is done.
pub async fn detach(iam: &aws_sdk_iam::Client, name: &str, arn: &str) -> Result<()> {
    iam.detach_role_policy()
        .role_name(name)
        .policy_arn(arn)
        .send()
        .await
        .or_absent(&["NoSuchEntity"], format!("detaching {arn} from {name}"))?;
    Ok(())
}

/// Removes everything that keeps IAM from deleting role `name`: attached and inline policies,
/// and the instance profiles holding it (the role is taken out of each; the profile, which may
/// serve others, is left). Only looked for once IAM refuses, which saves the calls in the usual
/// case. See `DeleteRole` in the IAM API Reference for what must go first.
async fn release(iam: &aws_sdk_iam::Client, name: &str) -> Result<()> {
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .or_absent(&["NoSuchEntity"], format!("reading the policies of {name}"))?;
    for arn in attached
        .iter()
        .flat_map(|a| a.attached_policies())
        .filter_map(|p| p.policy_arn())
    {
        detach(iam, name, arn).await?;
    }
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .or_absent(
            &["NoSuchEntity"],
            format!("listing the inline policies of {name}"),
        )?;
    for policy in inline.iter().flat_map(|i| i.policy_names()) {
        delete_inline_policy(iam, name, policy).await?;
    }
    let profiles = iam
        .list_instance_profiles_for_role()
        .role_name(name)
        .send()
        .await
        .or_absent(
            &["NoSuchEntity"],
            format!("listing the instance profiles holding {name}"),
        )?;
    for profile in profiles
        .iter()
        .flat_map(|p| p.instance_profiles())
        .map(|p| p.instance_profile_name())
    {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(name)
            .send()
            .await
            .or_absent(
                &["NoSuchEntity"],
                format!("removing {name} from instance profile {profile}"),
            )?;
    }
    Ok(())
}
