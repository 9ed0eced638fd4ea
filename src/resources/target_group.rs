//! The target group the service registers its tasks in: target type `ip` (what Fargate's
//! awsvpc networking needs), HTTP on the container port, the configured health check, and a
//! short deregistration delay so deployments do not wait AWS's default five minutes per task.

use anyhow::{bail, Context as _, Result};
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum,
};

use crate::aws::retry::{as_aws_says, delete_when_released, DeleteCodes};
use crate::aws::tags::{owner_tags, tag_elb};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{
    compare, compare_replacing, known, Change, Ctx, Detail, Facts, Resource, StepId,
};
use crate::names::alternate_target_group;
use crate::state::ResourceRecord;

pub struct TargetGroup;

const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

/// The settings that can be changed in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub matcher: String,
}

#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    pub arn: String,
    pub port: i32,
    pub protocol: String,
    pub target_type: String,
    pub vpc_id: String,
    pub health_check: HealthCheck,
    pub deregistration_delay_seconds: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub port: i32,
    pub vpc_id: String,
    pub health_check: HealthCheck,
    pub deregistration_delay_seconds: i32,
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Reads the target group called `name`, if there is one.
async fn read_named(ctx: &Ctx, name: &str, detail: Detail) -> Result<Option<Live>> {
    let answer = ctx
        .aws
        .elb
        .describe_target_groups()
        .names(name)
        .send()
        .await
        .or_absent(
            &["TargetGroupNotFound"],
            format!("reading target group {name}"),
        )?;
    let Some(tg) = answer.as_ref().and_then(|a| a.target_groups().first()) else {
        return Ok(None);
    };
    let arn = tg.target_group_arn().unwrap_or_default().to_owned();
    ctx.elb_tags.remember(&arn);
    let deregistration_delay_seconds = match detail {
        Detail::Full => ctx
            .aws
            .elb
            .describe_target_group_attributes()
            .target_group_arn(&arn)
            .send()
            .await
            .or_context(format!("reading the attributes of target group {name}"))?
            .attributes()
            .iter()
            .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
            .and_then(|a| a.value()?.parse().ok()),
        Detail::Identity => None,
    };
    Ok(Some(Live {
        name: name.to_owned(),
        arn,
        port: tg.port().unwrap_or_default(),
        protocol: tg
            .protocol()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        target_type: tg
            .target_type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        vpc_id: tg.vpc_id().unwrap_or_default().to_owned(),
        health_check: HealthCheck {
            path: tg.health_check_path().unwrap_or_default().to_owned(),
            interval_seconds: tg.health_check_interval_seconds().unwrap_or_default(),
            timeout_seconds: tg.health_check_timeout_seconds().unwrap_or_default(),
            healthy_threshold: tg.healthy_threshold_count().unwrap_or_default(),
            unhealthy_threshold: tg.unhealthy_threshold_count().unwrap_or_default(),
            matcher: tg
                .matcher()
                .and_then(|m| m.http_code())
                .unwrap_or_default()
                .to_owned(),
        },
        deregistration_delay_seconds,
    }))
}

/// The two names a target group of this stack may have: one at a time, except while one
/// replaces the other. Target group names are at most 32 characters.
fn names(ctx: &Ctx) -> [String; 2] {
    let base = ctx.names.target_group.clone();
    let other = alternate_target_group(&base);
    [base, other]
}

/// Deletes a target group by ARN, waiting while a listener or rule just changed still holds it.
async fn delete_arn(ctx: &Ctx, name: &str, arn: &str) -> Result<()> {
    delete_when_released(
        &format!("deleting target group {name}"),
        ctx.release_budget(),
        &ctx.printer,
        DeleteCodes {
            gone: &["TargetGroupNotFound"],
            in_use: &["ResourceInUse"],
        },
        || {
            ctx.aws
                .elb
                .delete_target_group()
                .target_group_arn(arn)
                .send()
        },
        as_aws_says,
    )
    .await
}

impl Resource for TargetGroup {
    const STEP: StepId = StepId::new("target_group", "target group");
    const DEPENDS_ON: &'static [&'static str] = &["network"];
    // A port, protocol or VPC change makes a new target group under the other name; the
    // listener and the service move to it without downtime (see `ops::apply`).
    const REPLACEABLE: bool = true;
    type Live = Live;
    type Desired = Desired;

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        let hc = &ctx.config.health_check;
        Desired {
            name: ctx.names.target_group.clone(),
            port: ctx.config.container.port.into(),
            vpc_id: known(&facts.vpc_id),
            health_check: HealthCheck {
                path: hc.path.clone(),
                interval_seconds: to_i32(hc.interval_seconds),
                timeout_seconds: to_i32(hc.timeout_seconds),
                healthy_threshold: to_i32(hc.healthy_threshold),
                unhealthy_threshold: to_i32(hc.unhealthy_threshold),
                matcher: hc.matcher.clone(),
            },
            deregistration_delay_seconds: to_i32(
                ctx.config.load_balancer.deregistration_delay_seconds,
            ),
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, detail: Detail) -> Result<Option<Live>> {
        // The one the state records first (after a replacement, the other name), then both
        // names: a stack whose state was lost mid-replacement has both.
        let [base, other] = names(ctx);
        let recorded = ctx
            .recorded(Self::STEP.key())
            .map(|r| r.id.as_str())
            .filter(|id| *id == base || *id == other);
        let mut tried = Vec::new();
        for name in recorded.into_iter().chain([base.as_str(), other.as_str()]) {
            if tried.contains(&name) {
                continue;
            }
            tried.push(name);
            if let Some(live) = read_named(ctx, name, detail).await? {
                return Ok(Some(live));
            }
        }
        Ok(None)
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        // Fixed when the target group is created.
        compare_replacing(&mut changes, "port", &live.port, &desired.port);
        compare_replacing(&mut changes, "protocol", &live.protocol.as_str(), &"HTTP");
        compare_replacing(
            &mut changes,
            "target_type",
            &live.target_type.as_str(),
            &"ip",
        );
        compare_replacing(&mut changes, "vpc_id", &live.vpc_id, &desired.vpc_id);
        let (old, new) = (&live.health_check, &desired.health_check);
        compare(&mut changes, "health_check.path", &old.path, &new.path);
        compare(
            &mut changes,
            "health_check.interval_seconds",
            &old.interval_seconds,
            &new.interval_seconds,
        );
        compare(
            &mut changes,
            "health_check.timeout_seconds",
            &old.timeout_seconds,
            &new.timeout_seconds,
        );
        compare(
            &mut changes,
            "health_check.healthy_threshold",
            &old.healthy_threshold,
            &new.healthy_threshold,
        );
        compare(
            &mut changes,
            "health_check.unhealthy_threshold",
            &old.unhealthy_threshold,
            &new.unhealthy_threshold,
        );
        compare(
            &mut changes,
            "health_check.matcher",
            &old.matcher,
            &new.matcher,
        );
        compare(
            &mut changes,
            "deregistration_delay_seconds",
            &live.deregistration_delay_seconds,
            &Some(desired.deregistration_delay_seconds),
        );
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let hc = &desired.health_check;
        let created = ctx
            .aws
            .elb
            .create_target_group()
            .name(&desired.name)
            .protocol(ProtocolEnum::Http)
            .port(desired.port)
            .vpc_id(&desired.vpc_id)
            .target_type(TargetTypeEnum::Ip)
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(&hc.path)
            .health_check_interval_seconds(hc.interval_seconds)
            .health_check_timeout_seconds(hc.timeout_seconds)
            .healthy_threshold_count(hc.healthy_threshold)
            .unhealthy_threshold_count(hc.unhealthy_threshold)
            .matcher(Matcher::builder().http_code(&hc.matcher).build())
            .set_tags(Some(owner_tags(&ctx.owner)?))
            .send()
            .await
            .or_exists(
                &["DuplicateTargetGroupName"],
                format!("creating target group {}", desired.name),
            )?;
        let Created::New(created) = created else {
            return Ok(Created::AlreadyExists);
        };
        let tg = created
            .target_groups()
            .first()
            .context("CreateTargetGroup returned no target group")?;
        let live = Live {
            name: desired.name.clone(),
            arn: tg.target_group_arn().unwrap_or_default().to_owned(),
            port: desired.port,
            protocol: "HTTP".to_owned(),
            target_type: "ip".to_owned(),
            vpc_id: desired.vpc_id.clone(),
            health_check: desired.health_check.clone(),
            deregistration_delay_seconds: None,
        };
        Ok(Created::New(Self::update(ctx, &live, desired).await?))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        let fixed = [
            ("port", live.port != desired.port),
            ("protocol", live.protocol != "HTTP"),
            ("target type", live.target_type != "ip"),
            ("VPC", live.vpc_id != desired.vpc_id),
        ];
        if let Some((what, _)) = fixed.iter().find(|(_, differs)| *differs) {
            bail!(
                "the {what} of target group {} differs from the configuration and cannot be \
                 changed in place; run `deployer destroy` and apply again",
                live.name
            );
        }
        let hc = &desired.health_check;
        if live.health_check != *hc {
            ctx.aws
                .elb
                .modify_target_group()
                .target_group_arn(&live.arn)
                .health_check_path(&hc.path)
                .health_check_interval_seconds(hc.interval_seconds)
                .health_check_timeout_seconds(hc.timeout_seconds)
                .healthy_threshold_count(hc.healthy_threshold)
                .unhealthy_threshold_count(hc.unhealthy_threshold)
                .matcher(Matcher::builder().http_code(&hc.matcher).build())
                .send()
                .await
                .or_context(format!("updating the health check of {}", live.name))?;
        }
        if live.deregistration_delay_seconds != Some(desired.deregistration_delay_seconds) {
            ctx.aws
                .elb
                .modify_target_group_attributes()
                .target_group_arn(&live.arn)
                .attributes(
                    TargetGroupAttribute::builder()
                        .key(DEREGISTRATION_DELAY)
                        .value(desired.deregistration_delay_seconds.to_string())
                        .build(),
                )
                .send()
                .await
                .or_context(format!("setting the deregistration delay of {}", live.name))?;
        }
        Ok(Live {
            health_check: hc.clone(),
            deregistration_delay_seconds: Some(desired.deregistration_delay_seconds),
            ..live.clone()
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        // A listener or rule that was just deleted may still hold it for a moment.
        delete_arn(ctx, &live.name, &live.arn).await
    }

    async fn tags(ctx: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        ctx.elb_tags.tags(&ctx.aws.elb, &live.arn).await
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        tag_elb(&ctx.aws.elb, &ctx.owner, &live.arn).await
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.name.clone(), Some(live.arn.clone()))
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.target_group_arn = Some(live.arn.clone());
    }

    fn replacement(live: &Live, desired: Desired) -> Desired {
        let [base, other] = [desired.name.clone(), alternate_target_group(&desired.name)];
        Desired {
            name: if live.name == other { base } else { other },
            ..desired
        }
    }

    async fn find(ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        read_named(ctx, &desired.name, Detail::Full).await
    }

    fn publish_retiring(record: &ResourceRecord, facts: &mut Facts) {
        facts.retiring_target_group_arn = record.arn.clone();
    }

    async fn retire(ctx: &Ctx, record: &ResourceRecord) -> Result<()> {
        match &record.arn {
            Some(arn) => delete_arn(ctx, &record.id, arn).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_takes_the_other_name_within_32_characters() {
        let live = |name: &str| Live {
            name: name.into(),
            ..live()
        };
        let named = |name: &str| Desired {
            name: name.into(),
            ..desired()
        };
        assert_eq!(
            TargetGroup::replacement(&live("app-dev-tg"), named("app-dev-tg")).name,
            "app-dev-tg-b"
        );
        assert_eq!(
            TargetGroup::replacement(&live("app-dev-tg-b"), named("app-dev-tg")).name,
            "app-dev-tg"
        );
        let longest = "a".repeat(29) + "-tg";
        let other = alternate_target_group(&longest);
        assert!(other.len() <= 32, "{other}");
        assert!(other.ends_with("-b") && !other.contains("--"), "{other}");
    }

    fn health_check() -> HealthCheck {
        HealthCheck {
            path: "/".into(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            matcher: "200".into(),
        }
    }

    fn live() -> Live {
        Live {
            name: "app-dev".into(),
            arn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/app-dev/1".into(),
            port: 5000,
            protocol: "HTTP".into(),
            target_type: "ip".into(),
            vpc_id: "vpc-1".into(),
            health_check: health_check(),
            deregistration_delay_seconds: Some(30),
        }
    }

    fn desired() -> Desired {
        Desired {
            name: "app-dev".into(),
            port: 5000,
            vpc_id: "vpc-1".into(),
            health_check: health_check(),
            deregistration_delay_seconds: 30,
        }
    }

    fn change(field: &str, old: &str, new: &str) -> Change {
        Change::new(field, old, new)
    }

    /// The diff of the live target group with its health check changed by `edit`.
    fn diff_with_health_check(edit: impl FnOnce(&mut HealthCheck)) -> Vec<Change> {
        let mut found = live();
        edit(&mut found.health_check);
        TargetGroup::diff(&found, &desired())
    }

    #[test]
    fn same_target_group_is_no_change() {
        assert_eq!(TargetGroup::diff(&live(), &desired()), Vec::<Change>::new());
    }

    #[test]
    fn port_change_shows_plain_numbers() {
        let found = Live {
            port: 8080,
            ..live()
        };
        assert_eq!(
            TargetGroup::diff(&found, &desired()),
            [Change::replacing("port", "8080", "5000")]
        );
    }

    #[test]
    fn protocol_other_than_http_is_one_change() {
        let found = Live {
            protocol: "HTTPS".into(),
            ..live()
        };
        assert_eq!(
            TargetGroup::diff(&found, &desired()),
            [Change::replacing("protocol", "HTTPS", "HTTP")]
        );
    }

    #[test]
    fn target_type_other_than_ip_is_one_change() {
        let found = Live {
            target_type: "instance".into(),
            ..live()
        };
        assert_eq!(
            TargetGroup::diff(&found, &desired()),
            [Change::replacing("target_type", "instance", "ip")]
        );
    }

    #[test]
    fn vpc_change_shows_plain_ids() {
        let found = Live {
            vpc_id: "vpc-2".into(),
            ..live()
        };
        assert_eq!(
            TargetGroup::diff(&found, &desired()),
            [Change::replacing("vpc_id", "vpc-2", "vpc-1")]
        );
    }

    #[test]
    fn health_check_path_change_shows_plain_paths() {
        assert_eq!(
            diff_with_health_check(|hc| hc.path = "/other".into()),
            [change("health_check.path", "/other", "/")]
        );
    }

    #[test]
    fn missing_health_check_path_shows_as_none() {
        assert_eq!(
            diff_with_health_check(|hc| hc.path = String::new()),
            [change("health_check.path", "(none)", "/")]
        );
    }

    #[test]
    fn health_check_interval_change_shows_plain_numbers() {
        assert_eq!(
            diff_with_health_check(|hc| hc.interval_seconds = 10),
            [change("health_check.interval_seconds", "10", "30")]
        );
    }

    #[test]
    fn health_check_timeout_change_shows_plain_numbers() {
        assert_eq!(
            diff_with_health_check(|hc| hc.timeout_seconds = 6),
            [change("health_check.timeout_seconds", "6", "5")]
        );
    }

    #[test]
    fn healthy_threshold_change_shows_plain_numbers() {
        assert_eq!(
            diff_with_health_check(|hc| hc.healthy_threshold = 5),
            [change("health_check.healthy_threshold", "5", "2")]
        );
    }

    #[test]
    fn unhealthy_threshold_change_shows_plain_numbers() {
        assert_eq!(
            diff_with_health_check(|hc| hc.unhealthy_threshold = 2),
            [change("health_check.unhealthy_threshold", "2", "3")]
        );
    }

    #[test]
    fn matcher_change_shows_plain_codes() {
        assert_eq!(
            diff_with_health_check(|hc| hc.matcher = "200-299".into()),
            [change("health_check.matcher", "200-299", "200")]
        );
    }

    #[test]
    fn deregistration_delay_change_shows_plain_numbers() {
        let found = Live {
            deregistration_delay_seconds: Some(300),
            ..live()
        };
        assert_eq!(
            TargetGroup::diff(&found, &desired()),
            [change("deregistration_delay_seconds", "300", "30")]
        );
    }

    #[test]
    fn unread_deregistration_delay_shows_as_none() {
        let found = Live {
            deregistration_delay_seconds: None,
            ..live()
        };
        assert_eq!(
            TargetGroup::diff(&found, &desired()),
            [change("deregistration_delay_seconds", "(none)", "30")]
        );
    }
}
