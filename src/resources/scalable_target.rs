//! The Application Auto Scaling scalable target of the ECS service's desired count, made only
//! with `[autoscaling]`: its `min` and `max` bound what the scaling policies may set.
//!
//! `RegisterScalableTarget` both creates and updates it. Deregistering it deletes its scaling
//! policies too, and must come before the service is deleted (see "DeregisterScalableTarget" in
//! the Application Auto Scaling API Reference). It is found by its resource ID,
//! `service/<cluster>/<service>`; its ARN, which the tag calls take, is AWS's own.

use anyhow::{Context as _, Result};

use crate::aws::autoscaling::{self, resource_id, scalable_target, tags, DIMENSION, NAMESPACE};
use crate::aws::tags::owner_tag_map;
use crate::aws::{AwsResultExt, Created};
use crate::contract::{compare, Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct ScalableTarget;

#[derive(Debug, Clone)]
pub struct Live {
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    pub arn: String,
    pub min: i32,
    pub max: i32,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub resource_id: String,
    pub min: i32,
    pub max: i32,
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl ScalableTarget {
    /// Registers (or updates) the target; returns its ARN.
    async fn register(ctx: &Ctx, desired: &Desired, tagged: bool) -> Result<String> {
        let what = format!("registering the scalable target {}", desired.resource_id);
        let answer = ctx
            .aws
            .autoscaling
            .register_scalable_target()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(&desired.resource_id)
            .min_capacity(desired.min)
            .max_capacity(desired.max)
            // Tags are taken when the target is created; an update leaves them as they are.
            .set_tags(tagged.then(|| owner_tag_map(&ctx.owner)))
            .send()
            .await
            .or_context(&what)?;
        answer
            .scalable_target_arn()
            .map(str::to_owned)
            .with_context(|| format!("{what}: AWS returned no ARN"))
    }

    async fn deregister(ctx: &Ctx, resource_id: &str) -> Result<()> {
        ctx.aws
            .autoscaling
            .deregister_scalable_target()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .send()
            .await
            .or_absent(
                &["ObjectNotFoundException"],
                format!("deregistering the scalable target {resource_id}"),
            )?;
        Ok(())
    }
}

impl Resource for ScalableTarget {
    const STEP: StepId = StepId::new("scalable_target", "autoscaling target");
    const DEPENDS_ON: &'static [&'static str] = &["service"];
    type Live = Live;
    type Desired = Desired;

    fn wanted(ctx: &Ctx) -> bool {
        ctx.config.autoscaling.is_some()
    }

    fn desired(ctx: &Ctx, _: &Facts) -> Desired {
        let (min, max) = ctx
            .config
            .autoscaling
            .as_ref()
            .map_or((0, 0), |a| (to_i32(a.min), to_i32(a.max)));
        Desired {
            resource_id: resource_id(&ctx.names),
            min,
            max,
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        // Without `[autoscaling]` and without a target the state records, there is nothing to
        // look for: the call is saved from every run of a stack without autoscaling, destroy
        // included. (A target whose table and state were both lost is left for the user.)
        let recorded = ctx.recorded(Self::STEP.key()).is_some()
            || ctx.recorded.retiring.contains_key(Self::STEP.key());
        if !Self::wanted(ctx) && !recorded {
            return Ok(None);
        }
        let id = resource_id(&ctx.names);
        let found = scalable_target(&ctx.aws.autoscaling, &id).await?;
        Ok(found.map(|target| Live {
            resource_id: id,
            arn: target.scalable_target_arn().unwrap_or_default().to_owned(),
            min: target.min_capacity(),
            max: target.max_capacity(),
        }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        compare(&mut changes, "min", &live.min, &desired.min);
        compare(&mut changes, "max", &live.max, &desired.max);
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let arn = Self::register(ctx, desired, true).await?;
        Ok(Created::New(Live {
            resource_id: desired.resource_id.clone(),
            arn,
            min: desired.min,
            max: desired.max,
        }))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        let arn = Self::register(ctx, desired, false).await?;
        Ok(Live {
            arn,
            min: desired.min,
            max: desired.max,
            ..live.clone()
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        Self::deregister(ctx, &live.resource_id).await
    }

    async fn tags(ctx: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        tags(&ctx.aws.autoscaling, &live.arn).await
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        autoscaling::tag(
            &ctx.aws.autoscaling,
            &live.arn,
            &live.resource_id,
            &ctx.owner,
        )
        .await
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.resource_id.clone(), Some(live.arn.clone()))
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.scalable_target_arn = Some(live.arn.clone());
    }

    /// Without `[autoscaling]`: deregistered once the service no longer needs it (it never
    /// does; the apply removes it with the rest of what it retires).
    async fn retire(ctx: &Ctx, record: &ResourceRecord) -> Result<()> {
        Self::deregister(ctx, &record.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(min: i32, max: i32) -> Live {
        Live {
            resource_id: "service/simhill-dev-cluster/simhill-dev-service".into(),
            arn: "arn:aws:application-autoscaling:eu-central-1:123456789012:scalable-target/0ec1"
                .into(),
            min,
            max,
        }
    }

    fn desired(min: i32, max: i32) -> Desired {
        Desired {
            resource_id: "service/simhill-dev-cluster/simhill-dev-service".into(),
            min,
            max,
        }
    }

    #[test]
    fn same_range_is_no_change() {
        assert_eq!(ScalableTarget::diff(&live(2, 6), &desired(2, 6)), []);
    }

    #[test]
    fn range_changes_show_plain_numbers() {
        assert_eq!(
            ScalableTarget::diff(&live(1, 10), &desired(2, 6)),
            [Change::new("min", 1, 2), Change::new("max", 10, 6)]
        );
    }
}
