//! What AWS accepts, written down once: the regions, the Fargate CPU and
//! memory sizes, the CloudWatch Logs retention periods, the ECS quotas and
//! sizes a configuration can exceed (tasks per service, task definition size,
//! image length), and the suffixes of
//! the derived resource names with the length limit of each.
//!
//! These tables change when AWS changes, not when this tool does, so they are
//! kept apart from the rules that use them. The suffixes live here rather than
//! in [`crate::names`] because their length limits are what bound `project`
//! and `environment`; `names` builds every name from the same constants, so a
//! name that is built is always a name that was checked.

/// The most tasks an ECS service may run: the "tasks per service" quota, which AWS does not
/// raise. A larger `desiredCount` is not refused by the API in every case, so it is checked here
/// rather than discovered as a service that never reaches its count.
pub const MAX_DESIRED_COUNT: u32 = 5_000;

/// The most a task definition may take, in bytes of its JSON (ECS's "task definition size"
/// quota, 64 KiB). The container's variables and secrets are the only part of it that a
/// configuration can grow without bound.
pub const MAX_TASK_DEFINITION_BYTES: usize = 64 * 1024;

/// What the task definition needs besides its variables and secrets, at most: family, role
/// ARN, image (at most [`MAX_IMAGE_CHARS`]), sizes, port mapping, log configuration and tags,
/// all of them bounded by the name limits above. Reserved so the variables cannot crowd them out.
pub const TASK_DEFINITION_RESERVED_BYTES: usize = 2 * 1024;

/// The longest image reference a container definition accepts (ECS: "up to 255 letters,
/// numbers, hyphens, ...").
pub const MAX_IMAGE_CHARS: usize = 255;

/// Bytes one variable or secret takes in the task definition's JSON,
/// `{"name":..,"value":..},` (or `"valueFrom"`, the longer key, which is the one counted), with
/// both strings escaped as JSON escapes them: a quote or a newline takes two bytes.
pub fn task_definition_entry_bytes(name: &str, value: &str) -> usize {
    json_string_bytes(name) + json_string_bytes(value) + r#"{"name":,"valueFrom":},"#.len()
}

fn json_string_bytes(s: &str) -> usize {
    // Serializing a string cannot fail; the fallback (six bytes a character, the most an escape
    // takes) only keeps this total.
    serde_json::to_string(s).map_or(s.len() * 6 + 2, |json| json.len())
}

/// Suffixes of the derived resource names (see
/// [`Config::resource_name`](super::Config::resource_name)).
///
/// Each suffix is spelled only here, so every module names a resource the
/// same way: a suffix spelled in two places could be renamed in one, and the
/// resources deployed under the old name would be orphaned. [`crate::names`]
/// builds the names from these constants, and [`RESOURCE_SUFFIXES`] checks
/// their lengths.
pub mod suffix {
    /// Application Load Balancer.
    pub const ALB: &str = "alb";
    /// Target group.
    pub const TARGET_GROUP: &str = "tg";
    /// Security group of the load balancer.
    pub const ALB_SECURITY_GROUP: &str = "alb-sg";
    /// Security group of the ECS tasks.
    pub const ECS_SECURITY_GROUP: &str = "ecs-sg";
    /// IAM task execution role.
    pub const TASK_EXECUTION_ROLE: &str = "ecs-task-execution-role";
    /// IAM role the app's own code runs as (`[task_role]`).
    pub const TASK_ROLE: &str = "task-role";
    /// ECR repository.
    pub const ECR_REPOSITORY: &str = "ecr";
    /// CloudWatch log group.
    pub const LOG_GROUP: &str = "logs";
    /// ECS cluster.
    pub const CLUSTER: &str = "cluster";
    /// ECS service.
    pub const SERVICE: &str = "service";
    /// Task definition family.
    pub const TASK_FAMILY: &str = "task";
}

/// Every derived resource name: `(suffix, what it names, maximum length)`.
///
/// Validation checks `{project}-{environment}-{suffix}` against each maximum,
/// so a name that AWS would reject is caught before anything is created. The
/// project/environment alphabet (lowercase letters, digits, single hyphens)
/// already satisfies every character rule of these resources. A unit test in
/// [`crate::names`] keeps this list and the names that are built the same.
pub const RESOURCE_SUFFIXES: &[(&str, &str, usize)] = &[
    (suffix::ALB, "load balancer", 32),
    (suffix::TARGET_GROUP, "target group", 32),
    (suffix::TASK_EXECUTION_ROLE, "IAM role", 64),
    (suffix::TASK_ROLE, "IAM role", 64),
    (suffix::ECR_REPOSITORY, "ECR repository", 256),
    (suffix::ALB_SECURITY_GROUP, "security group", 255),
    (suffix::ECS_SECURITY_GROUP, "security group", 255),
    (suffix::LOG_GROUP, "log group", 512),
    (suffix::CLUSTER, "ECS cluster", 255),
    (suffix::SERVICE, "ECS service", 255),
    (suffix::TASK_FAMILY, "task definition family", 255),
];

/// Every AWS region this tool accepts: the commercial partition, China,
/// GovCloud and the European Sovereign Cloud (the same list as the AWS SDK's
/// partition table). Sorted.
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// The ARN partition of a region of [`AWS_REGIONS`]: `aws-cn` for China,
/// `aws-us-gov` for GovCloud, `aws-eusc` for the European Sovereign Cloud,
/// `aws` for the others.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    }
}

/// Fargate CPU units, ascending.
pub const FARGATE_CPU_UNITS: &[u32] = &[256, 512, 1024, 2048, 4096, 8192, 16384];

/// The memory sizes (MiB) Fargate accepts with `cpu` units, ascending, or
/// `None` if `cpu` is not a Fargate CPU value.
pub fn fargate_memory_options(cpu: u32) -> Option<Vec<u32>> {
    let stepped = |lo: u32, hi: u32, step: u32| (lo..=hi).step_by(step as usize).collect();
    match cpu {
        256 => Some(vec![512, 1024, 2048]),
        512 => Some(stepped(1024, 4096, 1024)),
        1024 => Some(stepped(2048, 8192, 1024)),
        2048 => Some(stepped(4096, 16384, 1024)),
        4096 => Some(stepped(8192, 30720, 1024)),
        8192 => Some(stepped(16384, 61440, 4096)),
        16384 => Some(stepped(32768, 122880, 8192)),
        _ => None,
    }
}

/// The retention periods (days) CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
