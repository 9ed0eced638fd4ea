//! The CloudWatch log group the containers write to, with a retention period so logs do not
//! pile up (and cost) forever.

use anyhow::{Context as _, Result};

use crate::aws::tags::owner_tag_map;
use crate::aws::{AwsResultExt, Created};
use crate::contract::{compare, Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct LogGroup;

#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    /// Without the `:*` suffix that `DescribeLogGroups` adds to `arn`: the form tag calls take.
    /// Unknown right after a create, whose answer has no ARN.
    pub arn: Option<String>,
    pub retention_days: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub retention_days: Option<i32>,
}

impl LogGroup {
    /// The group's ARN, which the tag calls take: from the read, or (right after a create, whose
    /// answer has none) read now.
    async fn arn(ctx: &Ctx, live: &Live) -> Result<String> {
        if let Some(arn) = &live.arn {
            return Ok(arn.clone());
        }
        // Only the name is needed to find it again: no fact goes into this read.
        Self::read(ctx, &Facts::default(), Detail::Identity)
            .await?
            .and_then(|found| found.arn)
            .with_context(|| format!("log group {} has no ARN", live.name))
    }

    async fn put_retention(ctx: &Ctx, desired: &Desired) -> Result<()> {
        ctx.aws
            .logs
            .put_retention_policy()
            .log_group_name(&desired.name)
            .set_retention_in_days(desired.retention_days)
            .send()
            .await
            .or_context(format!(
                "setting the retention of log group {}",
                desired.name
            ))?;
        Ok(())
    }
}

impl Resource for LogGroup {
    const STEP: StepId = StepId::new("log_group", "log group");
    type Live = Live;
    type Desired = Desired;

    fn desired(ctx: &Ctx, _: &Facts) -> Desired {
        Desired {
            name: ctx.names.log_group.clone(),
            retention_days: i32::try_from(ctx.config.logs.retention_days).ok(),
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        let name = &ctx.names.log_group;
        let answer = ctx
            .aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .or_context(format!("reading log group {name}"))?;
        Ok(answer
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
            .map(|g| Live {
                name: name.clone(),
                arn: g
                    .log_group_arn()
                    .map(str::to_owned)
                    .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_owned())),
                retention_days: g.retention_in_days(),
            }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        compare(
            &mut changes,
            "retention_days",
            &live.retention_days,
            &desired.retention_days,
        );
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let created = ctx
            .aws
            .logs
            .create_log_group()
            .log_group_name(&desired.name)
            .set_tags(Some(owner_tag_map(&ctx.owner)))
            .send()
            .await
            .or_exists(
                &["ResourceAlreadyExistsException"],
                format!("creating log group {}", desired.name),
            )?;
        if let Created::AlreadyExists = created {
            return Ok(Created::AlreadyExists);
        }
        Self::put_retention(ctx, desired).await?;
        Ok(Created::New(Live {
            name: desired.name.clone(),
            arn: None,
            retention_days: desired.retention_days,
        }))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        Self::put_retention(ctx, desired).await?;
        Ok(Live {
            retention_days: desired.retention_days,
            ..live.clone()
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        ctx.aws
            .logs
            .delete_log_group()
            .log_group_name(&live.name)
            .send()
            .await
            .or_absent(
                &["ResourceNotFoundException"],
                format!("deleting log group {}", live.name),
            )?;
        Ok(())
    }

    async fn tags(ctx: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        let answer = ctx
            .aws
            .logs
            .list_tags_for_resource()
            .resource_arn(Self::arn(ctx, live).await?)
            .send()
            .await
            .or_context(format!("reading the tags of log group {}", live.name))?;
        Ok(answer.tags.unwrap_or_default().into_iter().collect())
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        ctx.aws
            .logs
            .tag_resource()
            .resource_arn(Self::arn(ctx, live).await?)
            .set_tags(Some(owner_tag_map(&ctx.owner)))
            .send()
            .await
            .or_context(format!("tagging log group {}", live.name))?;
        Ok(())
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.name.clone(), live.arn.clone())
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.log_group_name = Some(live.name.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(retention_days: Option<i32>) -> Live {
        Live {
            name: "/ecs/app-dev".into(),
            arn: Some("arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/app-dev".into()),
            retention_days,
        }
    }

    fn desired(retention_days: Option<i32>) -> Desired {
        Desired {
            name: "/ecs/app-dev".into(),
            retention_days,
        }
    }

    fn change(field: &str, old: &str, new: &str) -> Change {
        Change::new(field, old, new)
    }

    #[test]
    fn same_retention_is_no_change() {
        assert_eq!(LogGroup::diff(&live(Some(30)), &desired(Some(30))), []);
    }

    #[test]
    fn unknown_arn_right_after_a_create_is_no_change() {
        let created = Live {
            arn: None,
            ..live(Some(30))
        };
        assert_eq!(LogGroup::diff(&created, &desired(Some(30))), []);
    }

    #[test]
    fn retention_change_shows_plain_numbers() {
        assert_eq!(
            LogGroup::diff(&live(Some(7)), &desired(Some(30))),
            [change("retention_days", "7", "30")]
        );
    }

    #[test]
    fn never_expiring_group_shows_retention_as_none() {
        assert_eq!(
            LogGroup::diff(&live(None), &desired(Some(30))),
            [change("retention_days", "(none)", "30")]
        );
    }
}
