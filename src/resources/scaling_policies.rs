//! The target tracking scaling policies of the service's scalable target, one per target that
//! `[autoscaling]` sets: `<service>-cpu` (`ECSServiceAverageCPUUtilization`), `<service>-memory`
//! (`ECSServiceAverageMemoryUtilization`) and `<service>-requests` (`ALBRequestCountPerTarget`).
//!
//! One step holds all of them: they are read in one `DescribeScalingPolicies` and, like the
//! rules of a security group, each is put or deleted as the configuration asks. Policies of
//! other names on the same target are not this stack's and are left alone. The requests policy
//! names the target group the listener forwards to, so it follows a replaced target group once
//! the listener moves to it. Policies cannot be tagged: their owner is the scalable target's.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_applicationautoscaling::error::SdkError;
use aws_sdk_applicationautoscaling::operation::put_scaling_policy::PutScalingPolicyError;
use aws_sdk_applicationautoscaling::types::{
    PolicyType, PredefinedMetricSpecification, ScalingPolicy,
    TargetTrackingScalingPolicyConfiguration,
};

use crate::aws::autoscaling::{
    self, alb_resource_label, resource_id, scaling_policies, tags, Metric, DIMENSION, NAMESPACE,
};
use crate::aws::errors::is_code;
use crate::aws::retry::send_when_ready;
use crate::aws::{AwsResultExt, Created};
use crate::contract::{compare, Change, Ctx, Detail, Facts, PlanValue, Resource, StepId, UNKNOWN};
use crate::names::Names;
use crate::state::ResourceRecord;

pub struct ScalingPolicies;

/// What one target tracking policy keeps, as the plan shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracking {
    /// The metric's value to keep: percent, or requests per target and minute.
    pub target: f64,
    /// Seconds; `None` when AWS reports none.
    pub scale_in_cooldown: Option<i32>,
    pub scale_out_cooldown: Option<i32>,
    /// `app/<lb>/<id>/targetgroup/<tg>/<id>` for the requests metric; `None` for the others.
    pub resource_label: Option<String>,
}

impl PlanValue for Tracking {
    fn show(&self) -> String {
        let seconds = |s: Option<i32>| s.map_or_else(|| "(none)".to_owned(), |s| format!("{s}s"));
        let mut shown = format!(
            "target {}, scale-in cooldown {}, scale-out cooldown {}",
            self.target,
            seconds(self.scale_in_cooldown),
            seconds(self.scale_out_cooldown)
        );
        if let Some(label) = &self.resource_label {
            shown.push_str(&format!(", of {label}"));
        }
        shown
    }
}

#[derive(Debug, Clone)]
pub struct Live {
    /// The scalable target's `service/<cluster>/<service>`.
    pub resource_id: String,
    /// This stack's policies, by metric.
    pub policies: BTreeMap<Metric, Tracking>,
    /// The scalable target's ARN, which carries the owner tags of its policies (they have none
    /// of their own), as its step found or made it; `None` when there is no target.
    pub target_arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub resource_id: String,
    pub policies: BTreeMap<Metric, Tracking>,
    pub target_arn: Option<String>,
}

fn tracking(policy: &ScalingPolicy) -> Option<Tracking> {
    let config = policy.target_tracking_scaling_policy_configuration()?;
    Some(Tracking {
        target: config.target_value(),
        scale_in_cooldown: config.scale_in_cooldown(),
        scale_out_cooldown: config.scale_out_cooldown(),
        resource_label: config
            .predefined_metric_specification()
            .and_then(|m| m.resource_label())
            .map(str::to_owned),
    })
}

/// ECS's answer to `PutScalingPolicy` right after `RegisterScalableTarget`, until the new target
/// is visible ("the operation achieves eventual consistency" in the API Reference).
fn target_not_visible_yet(error: &SdkError<PutScalingPolicyError>) -> bool {
    is_code(error, &["ObjectNotFoundException"])
}

impl ScalingPolicies {
    async fn put(ctx: &Ctx, resource_id: &str, metric: Metric, tracking: &Tracking) -> Result<()> {
        let mut spec =
            PredefinedMetricSpecification::builder().predefined_metric_type(metric.metric_type());
        if let Some(label) = &tracking.resource_label {
            spec = spec.resource_label(label);
        }
        let config = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(tracking.target)
            .predefined_metric_specification(spec.build()?)
            .set_scale_in_cooldown(tracking.scale_in_cooldown)
            .set_scale_out_cooldown(tracking.scale_out_cooldown)
            .build()?;
        let name = metric.policy_name(&ctx.names);
        let call = ctx
            .aws
            .autoscaling
            .put_scaling_policy()
            .policy_name(&name)
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(config);
        let what = format!("putting the scaling policy {name}");
        send_when_ready(
            &what,
            ctx.iam_budget(),
            &ctx.printer,
            target_not_visible_yet,
            || call.clone().send(),
        )
        .await?
        .or_context(&what)?;
        Ok(())
    }

    async fn remove(ctx: &Ctx, resource_id: &str, name: &str) -> Result<()> {
        ctx.aws
            .autoscaling
            .delete_scaling_policy()
            .policy_name(name)
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .send()
            .await
            .or_absent(
                &["ObjectNotFoundException"],
                format!("deleting the scaling policy {name}"),
            )?;
        Ok(())
    }

    /// This stack's policies on `resource_id`, by metric.
    async fn read_policies(ctx: &Ctx, resource_id: &str) -> Result<BTreeMap<Metric, Tracking>> {
        let found = scaling_policies(&ctx.aws.autoscaling, resource_id).await?;
        Ok(ours(&found, &ctx.names))
    }
}

/// The policies of this stack's names among `found`. One of ours that is not target tracking
/// (changed by hand to step scaling) reads as a policy with a target of 0, which the plan shows
/// and apply puts back.
fn ours(found: &BTreeMap<String, ScalingPolicy>, names: &Names) -> BTreeMap<Metric, Tracking> {
    Metric::ALL
        .iter()
        .filter_map(|metric| {
            let policy = found.get(&metric.policy_name(names))?;
            let tracking = tracking(policy).unwrap_or(Tracking {
                target: 0.0,
                scale_in_cooldown: None,
                scale_out_cooldown: None,
                resource_label: None,
            });
            Some((*metric, tracking))
        })
        .collect()
}

impl Resource for ScalingPolicies {
    const STEP: StepId = StepId::new("scaling_policies", "autoscaling policies");
    // The requests policy names the load balancer and the target group, which must be attached
    // to each other by the listener.
    const DEPENDS_ON: &'static [&'static str] = &[
        "load_balancer",
        "target_group",
        "listener",
        "scalable_target",
    ];
    // Their owner tags are the scalable target's: its read tells its ARN.
    const READ_DEPENDS_ON: &'static [&'static str] = &["scalable_target"];
    type Live = Live;
    type Desired = Desired;

    fn wanted(ctx: &Ctx) -> bool {
        ctx.config.autoscaling.is_some()
    }

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        let mut policies = BTreeMap::new();
        if let Some(a) = &ctx.config.autoscaling {
            let cooldown = |s: u32| Some(i32::try_from(s).unwrap_or(i32::MAX));
            // The listener forwards to the retiring target group until the service runs in its
            // replacement: the requests that count are those.
            let target_group = facts
                .retiring_target_group_arn
                .as_ref()
                .or(facts.target_group_arn.as_ref());
            let label = match (&facts.load_balancer_arn, target_group) {
                (Some(lb), Some(tg)) => alb_resource_label(lb, tg),
                _ => None,
            }
            .unwrap_or_else(|| UNKNOWN.to_owned());
            for (metric, target) in [
                (Metric::Cpu, a.cpu_percent),
                (Metric::Memory, a.memory_percent),
                (Metric::Requests, a.requests_per_target),
            ] {
                if let Some(target) = target {
                    policies.insert(
                        metric,
                        Tracking {
                            target: target.into(),
                            scale_in_cooldown: cooldown(a.scale_in_cooldown),
                            scale_out_cooldown: cooldown(a.scale_out_cooldown),
                            resource_label: (metric == Metric::Requests).then(|| label.clone()),
                        },
                    );
                }
            }
        }
        Desired {
            resource_id: resource_id(&ctx.names),
            policies,
            target_arn: facts.scalable_target_arn.clone(),
        }
    }

    async fn read(ctx: &Ctx, facts: &Facts, _: Detail) -> Result<Option<Live>> {
        // Deregistering the scalable target deletes its policies, so a destroy needs them only
        // when the state records them; a plan or apply also when `[autoscaling]` asks for them.
        let recorded = ctx.recorded(Self::STEP.key()).is_some()
            || ctx.recorded.retiring.contains_key(Self::STEP.key());
        if !Self::wanted(ctx) && !recorded {
            return Ok(None);
        }
        let id = resource_id(&ctx.names);
        let policies = Self::read_policies(ctx, &id).await?;
        Ok((!policies.is_empty()).then(|| Live {
            resource_id: id,
            policies,
            target_arn: facts.scalable_target_arn.clone(),
        }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        for metric in Metric::ALL {
            compare(
                &mut changes,
                metric.key(),
                &live.policies.get(&metric),
                &desired.policies.get(&metric),
            );
        }
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        for (metric, tracking) in &desired.policies {
            Self::put(ctx, &desired.resource_id, *metric, tracking).await?;
        }
        Ok(Created::New(Live {
            resource_id: desired.resource_id.clone(),
            policies: desired.policies.clone(),
            target_arn: desired.target_arn.clone(),
        }))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        for metric in Metric::ALL {
            match (live.policies.get(&metric), desired.policies.get(&metric)) {
                (old, Some(new)) if old != Some(new) => {
                    Self::put(ctx, &live.resource_id, metric, new).await?;
                }
                (Some(_), None) => {
                    Self::remove(ctx, &live.resource_id, &metric.policy_name(&ctx.names)).await?;
                }
                _ => {}
            }
        }
        Ok(Live {
            policies: desired.policies.clone(),
            ..live.clone()
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        for metric in live.policies.keys() {
            Self::remove(ctx, &live.resource_id, &metric.policy_name(&ctx.names)).await?;
        }
        Ok(())
    }

    async fn tags(ctx: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        match &live.target_arn {
            Some(arn) => tags(&ctx.aws.autoscaling, arn).await,
            None => Ok(Vec::new()),
        }
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        let Some(arn) = &live.target_arn else {
            return Ok(());
        };
        autoscaling::tag(&ctx.aws.autoscaling, arn, &live.resource_id, &ctx.owner).await
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.resource_id.clone(), None)
    }

    fn publish(_: &Live, _: &mut Facts) {}

    /// Without `[autoscaling]`: this stack's policies are deleted (the scalable target's
    /// retirement would delete them too).
    async fn retire(ctx: &Ctx, record: &ResourceRecord) -> Result<()> {
        for metric in Self::read_policies(ctx, &record.id).await?.keys() {
            Self::remove(ctx, &record.id, &metric.policy_name(&ctx.names)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "service/simhill-dev-cluster/simhill-dev-service";

    fn cpu(target: f64) -> Tracking {
        Tracking {
            target,
            scale_in_cooldown: Some(300),
            scale_out_cooldown: Some(60),
            resource_label: None,
        }
    }

    fn with(policies: &[(Metric, Tracking)]) -> BTreeMap<Metric, Tracking> {
        policies.iter().cloned().collect()
    }

    fn diff(live: &[(Metric, Tracking)], desired: &[(Metric, Tracking)]) -> Vec<Change> {
        ScalingPolicies::diff(
            &Live {
                resource_id: ID.into(),
                policies: with(live),
                target_arn: None,
            },
            &Desired {
                resource_id: ID.into(),
                policies: with(desired),
                target_arn: None,
            },
        )
    }

    #[test]
    fn same_policies_are_no_change() {
        assert_eq!(
            diff(&[(Metric::Cpu, cpu(50.0))], &[(Metric::Cpu, cpu(50.0))]),
            []
        );
    }

    #[test]
    fn a_changed_target_shows_the_whole_policy_under_its_key() {
        assert_eq!(
            diff(&[(Metric::Cpu, cpu(80.0))], &[(Metric::Cpu, cpu(50.0))]),
            [Change {
                field: "cpu_percent".into(),
                old: "target 80, scale-in cooldown 300s, scale-out cooldown 60s".into(),
                new: "target 50, scale-in cooldown 300s, scale-out cooldown 60s".into(),
                forces_replacement: false,
            }]
        );
    }

    #[test]
    fn a_policy_added_or_removed_shows_none_on_the_other_side() {
        let requests = Tracking {
            resource_label: Some("app/a/1/targetgroup/t/2".into()),
            ..cpu(1000.0)
        };
        let changes = diff(
            &[(Metric::Memory, cpu(70.0))],
            &[(Metric::Requests, requests)],
        );
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(
            (changes[0].field.as_str(), changes[0].new.as_str()),
            ("memory_percent", "(none)")
        );
        assert_eq!(changes[1].field, "requests_per_target");
        assert_eq!(changes[1].old, "(none)");
        assert!(
            changes[1].new.ends_with(", of app/a/1/targetgroup/t/2"),
            "{changes:?}"
        );
    }
}
