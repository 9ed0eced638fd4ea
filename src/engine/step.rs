//! The steps of the stack, their documented order and what each needs from the others.

use std::fmt;

/// One resource step. The declaration order is the documented order of `apply`; `destroy` goes
/// the other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepId {
    Network,
    AlbSecurityGroup,
    EcsSecurityGroup,
    EcrRepository,
    ExecutionRole,
    LogGroup,
    LoadBalancer,
    TargetGroup,
    Listener,
    Cluster,
    TaskDefinition,
    Service,
}

impl StepId {
    /// Every step, in the documented order.
    pub const ALL: [StepId; 12] = [
        StepId::Network,
        StepId::AlbSecurityGroup,
        StepId::EcsSecurityGroup,
        StepId::EcrRepository,
        StepId::ExecutionRole,
        StepId::LogGroup,
        StepId::LoadBalancer,
        StepId::TargetGroup,
        StepId::Listener,
        StepId::Cluster,
        StepId::TaskDefinition,
        StepId::Service,
    ];

    /// The steps whose results this one needs. Everything not listed may run at the same time.
    pub fn depends_on(self) -> &'static [StepId] {
        use StepId::*;
        match self {
            Network | EcrRepository | ExecutionRole | LogGroup | Cluster => &[],
            AlbSecurityGroup | TargetGroup => &[Network],
            EcsSecurityGroup => &[Network, AlbSecurityGroup],
            LoadBalancer => &[Network, AlbSecurityGroup],
            Listener => &[LoadBalancer, TargetGroup],
            // The repository's URL names the image of `--image-tag`.
            TaskDefinition => &[EcrRepository, ExecutionRole, LogGroup],
            Service => &[
                Network,
                EcsSecurityGroup,
                TargetGroup,
                Listener,
                Cluster,
                TaskDefinition,
            ],
        }
    }

    /// The steps whose *reads* this one's read needs: far fewer than [`StepId::depends_on`],
    /// because almost everything is found by its deterministic name. Only the security groups
    /// need the VPC's ID and the listener the load balancer's ARN.
    pub fn read_depends_on(self) -> &'static [StepId] {
        use StepId::*;
        match self {
            AlbSecurityGroup | EcsSecurityGroup => &[Network],
            Listener => &[LoadBalancer],
            _ => &[],
        }
    }

    /// The key of this step in the state file and in JSON output.
    pub fn key(self) -> &'static str {
        use StepId::*;
        match self {
            Network => "network",
            AlbSecurityGroup => "alb_security_group",
            EcsSecurityGroup => "ecs_security_group",
            EcrRepository => "ecr_repository",
            ExecutionRole => "execution_role",
            LogGroup => "log_group",
            LoadBalancer => "load_balancer",
            TargetGroup => "target_group",
            Listener => "listener",
            Cluster => "cluster",
            TaskDefinition => "task_definition",
            Service => "service",
        }
    }

    /// What the step is, for people.
    pub fn label(self) -> &'static str {
        use StepId::*;
        match self {
            Network => "default VPC and subnets",
            AlbSecurityGroup => "ALB security group",
            EcsSecurityGroup => "ECS tasks security group",
            EcrRepository => "ECR repository",
            ExecutionRole => "task execution role",
            LogGroup => "log group",
            LoadBalancer => "load balancer",
            TargetGroup => "target group",
            Listener => "listener",
            Cluster => "ECS cluster",
            TaskDefinition => "task definition",
            Service => "ECS service",
        }
    }

    /// The steps that depend on this one: what must be gone before it can be deleted.
    pub fn dependents(self) -> impl Iterator<Item = StepId> {
        StepId::ALL
            .into_iter()
            .filter(move |other| other.depends_on().contains(&self))
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_earlier_in_the_documented_order() {
        for step in StepId::ALL {
            for dep in step.depends_on() {
                assert!(dep < &step, "{step:?} depends on later {dep:?}");
            }
        }
    }

    #[test]
    fn what_a_read_needs_is_also_a_dependency() {
        for step in StepId::ALL {
            for dep in step.read_depends_on() {
                assert!(
                    step.depends_on().contains(dep),
                    "{step:?} reads after {dep:?}"
                );
            }
        }
    }
}
