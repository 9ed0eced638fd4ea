//! Creating and deleting an IAM role the way IAM lets them happen. A create may be refused
//! while IAM cannot yet see the service its trust policy names, and a retried create whose first
//! answer was lost finds the role made. A role goes only once no policy is attached to it and
//! it has no inline policy, and, for a few seconds after the last detach while that propagates,
//! IAM answers `DeleteConflict` even then. A role an instance profile holds is refused the same
//! way until it is removed from the profile. Both of the stack's roles go these ways.

use anyhow::{Context as _, Result};
use aws_sdk_iam::operation::create_role::builders::CreateRoleFluentBuilder;

use super::errors::{not_propagated_yet, AwsResultExt, Created};
use super::retry::{delete_when_released, send_when_ready, Budget, DeleteCodes};
use crate::printer::Printer;

/// Sends `create` (a `CreateRole` of role `name`), retrying within `budget` while IAM answers
/// that the trust policy's principal is not valid yet. Returns the new role's ARN, or
/// [`Created::AlreadyExists`] when IAM answers `EntityAlreadyExists` (an earlier attempt whose
/// answer was lost made it, or someone else did: the caller reads it and checks its tags).
pub async fn create_role(
    create: CreateRoleFluentBuilder,
    name: &str,
    budget: Budget,
    printer: &Printer,
) -> Result<Created<String>> {
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
