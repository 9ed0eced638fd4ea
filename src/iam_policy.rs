//! The least-privilege IAM policy that every command (`apply`, `plan`, `status`, `rollback`,
//! `restart`, `wait`, `logs`, `run`, `exec`, `destroy`) needs for one environment, printed by
//! `deployer iam-policy`.
//!
//! Every action is one the code calls (or one AWS checks on a call the code makes: `iam:PassRole`,
//! `iam:CreateServiceLinkedRole`, and the EC2 reads Elastic Load Balancing checks), scoped to this stack's ARNs wherever the action supports
//! resource-level permissions. The resource names come from [`Names`], the same place the
//! resources get them, so the policy follows any change of a name. The account is not known
//! without an AWS call, so ARNs have `*` as their account.
//!
//! With `[https]`, the policy also allows the ACM and Route 53 calls of that configuration, only
//! for its names; with `[network]`, the reads of the VPC's zones, route tables and endpoints.
//!
//! `tests/integration/iam_policy.rs` runs the binary through a whole life cycle and checks that
//! every call it makes is allowed here, and that nothing here goes unused.

use serde::Serialize;
use serde_json::{json, Value};

use crate::aws::partition;
use crate::config::{Config, HttpsConfig, S3StateConfig, StateConfig};
use crate::names::{alternate_target_group, Names};

/// The service the execution role is passed to.
pub const PASSED_TO_SERVICE: &str = "ecs-tasks.amazonaws.com";

/// Builds one ARN of this stack: the partition and region of the configuration, any account.
struct Arns<'a> {
    partition: &'static str,
    region: &'a str,
    names: Names,
}

impl Arns<'_> {
    /// `arn:{partition}:{service}:{region}:*:{resource}`.
    fn regional(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:*:{resource}",
            self.partition, self.region
        )
    }

    /// IAM ARNs have no region.
    fn iam(&self, resource: &str) -> String {
        format!("arn:{}:iam::*:{resource}", self.partition)
    }

    /// The AWS-managed policy the execution role gets attached (AWS's account is `aws`).
    fn managed_execution_policy(&self) -> String {
        format!(
            "arn:{}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            self.partition
        )
    }

    fn execution_role(&self) -> String {
        self.iam(&format!("role/{}", self.names.execution_role))
    }

    /// Read (and deleted) whether or not `[task_role]` asks for it: a role left from an earlier
    /// configuration is removed.
    fn task_role(&self) -> String {
        self.iam(&format!("role/{}", self.names.task_role))
    }

    fn cluster(&self) -> String {
        self.regional("ecs", &format!("cluster/{}", self.names.cluster))
    }

    fn service(&self) -> String {
        self.regional(
            "ecs",
            &format!("service/{}/{}", self.names.cluster, self.names.service),
        )
    }

    fn task_definitions(&self) -> String {
        self.regional(
            "ecs",
            &format!("task-definition/{}:*", self.names.task_family),
        )
    }

    fn load_balancer(&self) -> String {
        self.regional(
            "elasticloadbalancing",
            &format!("loadbalancer/app/{}/*", self.names.load_balancer),
        )
    }

    fn listeners(&self) -> String {
        self.regional(
            "elasticloadbalancing",
            &format!("listener/app/{}/*/*", self.names.load_balancer),
        )
    }

    /// Both names the target group takes in turns: a replacement is created under the other.
    fn target_groups(&self) -> [String; 2] {
        let names = [
            self.names.target_group.clone(),
            alternate_target_group(&self.names.target_group),
        ];
        names.map(|name| self.regional("elasticloadbalancing", &format!("targetgroup/{name}/*")))
    }

    fn security_groups(&self) -> String {
        self.regional("ec2", "security-group/*")
    }
}

/// An IAM policy document; serializes to the JSON IAM takes, fields in the usual order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

/// The most characters a customer managed policy may have, whitespace not counted (see "IAM and
/// AWS STS quotas" in the IAM User Guide).
pub const MANAGED_POLICY_MAX_CHARS: usize = 6144;

/// The most characters all the inline policies of one role may have together, whitespace not
/// counted (same page).
pub const INLINE_ROLE_POLICY_MAX_CHARS: usize = 10240;

impl Policy {
    /// Splits the statements, in order, into as few documents as the greedy order allows that each
    /// fit in `max_chars` (see [`Policy::size`]), for attaching as several managed policies (a
    /// role or user takes up to 10 by default). A statement bigger than `max_chars` on its own
    /// gets a document of its own, which is then still too big.
    pub fn split(&self, max_chars: usize) -> Vec<Policy> {
        let mut documents: Vec<Policy> = Vec::new();
        for statement in &self.statements {
            if let Some(last) = documents.last_mut() {
                last.statements.push(statement.clone());
                if last.size() <= max_chars {
                    continue;
                }
                last.statements.pop();
            }
            documents.push(Policy {
                version: self.version,
                statements: vec![statement.clone()],
            });
        }
        documents
    }

    /// The policy's size as IAM counts it against its quotas: characters of its JSON, whitespace
    /// not counted.
    pub fn size(&self) -> usize {
        serde_json::to_string(self)
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .count()
    }
}

/// One `Allow` statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    #[serde(rename = "Sid")]
    pub sid: &'static str,
    #[serde(rename = "Effect")]
    pub effect: &'static str,
    #[serde(rename = "Action", serialize_with = "one_or_many")]
    pub actions: Vec<&'static str>,
    #[serde(rename = "Resource", serialize_with = "one_or_many")]
    pub resources: Vec<String>,
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

/// A list of one as its only element: the IAM policy grammar takes a string or a list for
/// `Action` and `Resource`, and the string is shorter, which counts against the policy's size.
fn one_or_many<S, T>(items: &[T], serializer: S) -> Result<S::Ok, S::Error>
where
    S: serde::Serializer,
    T: Serialize,
{
    match items {
        [only] => only.serialize(serializer),
        _ => items.serialize(serializer),
    }
}

fn allow(
    sid: &'static str,
    actions: &[&'static str],
    resources: &[String],
    condition: Option<Value>,
) -> Statement {
    Statement {
        sid,
        effect: "Allow",
        actions: actions.to_vec(),
        resources: resources.to_vec(),
        condition,
    }
}

/// `Resource: "*"`, for actions without resource-level permissions.
fn any() -> Vec<String> {
    vec!["*".to_owned()]
}

/// The policy for the stack of `config`, in its region (set `config.region` to honour
/// `--region`).
pub fn policy(config: &Config) -> Policy {
    let arns = Arns {
        partition: partition(&config.region),
        region: &config.region,
        names: Names::new(config),
    };
    let names = &arns.names;
    // The tags every resource of the stack carries (see `names::OwnerTags`).
    let (project, environment) = (config.project.as_str(), config.environment.as_str());
    let log_group = arns.regional("logs", &format!("log-group:{}", names.log_group));
    let [target_group, replacement_target_group] = arns.target_groups();

    let mut linked_services = vec!["ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com"];
    if config.autoscaling.is_some() {
        linked_services.push("ecs.application-autoscaling.amazonaws.com");
    }
    let mut statements = vec![
        // EC2: the VPC and subnets are only read; the two security groups are created
        // with the stack's tags, and only groups carrying them are changed or deleted.
        allow(
            "Ec2Read",
            &[
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeNetworkInterfaces",
                // Not called by deployer: Elastic Load Balancing checks that its caller may make
                // these reads when it creates a load balancer or a target group (see "Elastic
                // Load Balancing API permissions"), and refuses the create otherwise.
                "ec2:DescribeAccountAttributes",
                "ec2:DescribeAddresses",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeVpcs",
            ],
            &any(),
            None,
        ),
        allow(
            "Ec2CreateSecurityGroupInVpc",
            &["ec2:CreateSecurityGroup"],
            &[arns.regional("ec2", "vpc/*")],
            None,
        ),
        allow(
            "Ec2CreateTaggedSecurityGroup",
            &["ec2:CreateSecurityGroup"],
            &[arns.security_groups()],
            Some(json!({
                "StringEquals": {
                    "aws:RequestTag/Project": project,
                    "aws:RequestTag/Environment": environment,
                }
            })),
        ),
        // Tags on create, and our tags on a group taken over with `--adopt`.
        allow(
            "Ec2TagOwnSecurityGroups",
            &["ec2:CreateTags"],
            &[arns.security_groups()],
            Some(json!({
                "StringEquals": {
                    "aws:RequestTag/Project": project,
                    "aws:RequestTag/Environment": environment,
                    "aws:RequestTag/ManagedBy": crate::names::MANAGED_BY,
                },
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["Environment", "ManagedBy", "Name", "Project"],
                },
            })),
        ),
        allow(
            "Ec2ChangeOwnSecurityGroups",
            &[
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupEgress",
                "ec2:DeleteSecurityGroup",
            ],
            &[arns.security_groups()],
            Some(json!({
                "StringEquals": {
                    "aws:ResourceTag/Project": project,
                    "aws:ResourceTag/Environment": environment,
                }
            })),
        ),
        // ECR: the stack's repository.
        allow(
            "EcrRepository",
            &[
                "ecr:DescribeRepositories",
                "ecr:GetLifecyclePolicy",
                "ecr:ListTagsForResource",
                "ecr:CreateRepository",
                "ecr:TagResource",
                "ecr:PutLifecyclePolicy",
                "ecr:PutImageScanningConfiguration",
                "ecr:PutImageTagMutability",
                "ecr:DeleteRepository",
            ],
            &[arns.regional("ecr", &format!("repository/{}", names.ecr_repository))],
            None,
        ),
        // The image of `--image-tag` or `--image` (and `container.image` in this account's ECR)
        // is checked and pinned to its digest before a deploy, in the registry that holds it:
        // the stack's repository, or any repository of any region of the partition that
        // `--image` names.
        allow(
            "EcrCheckImageToDeploy",
            &["ecr:DescribeImages"],
            &[format!("arn:{}:ecr:*:*:repository/*", arns.partition)],
            None,
        ),
        // IAM: the execution role, its inline secrets policy, and only the AWS-managed execution
        // policy attached; the task role, its inline policy of the configured statements, and
        // only the configured managed policies attached. Detaching stays unconditioned so that
        // `apply` can remove a policy attached by hand.
        allow(
            "IamRoles",
            &[
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:GetRolePolicy",
                "iam:CreateRole",
                "iam:TagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:PutRolePolicy",
                "iam:DetachRolePolicy",
                "iam:ListRolePolicies",
                "iam:DeleteRolePolicy",
                "iam:ListInstanceProfilesForRole",
                "iam:DeleteRole",
            ],
            &[arns.execution_role(), arns.task_role()],
            None,
        ),
        // Only when IAM refuses to delete a role because an instance profile holds it (made by
        // hand for an EC2 test, say): the role is taken out. The action applies to the profile,
        // which has no name of ours, and has no condition key naming the role.
        allow(
            "IamReleaseRolesFromInstanceProfiles",
            &["iam:RemoveRoleFromInstanceProfile"],
            &[arns.iam("instance-profile/*")],
            None,
        ),
        allow(
            "IamAttachExecutionPolicy",
            &["iam:AttachRolePolicy"],
            &[arns.execution_role()],
            Some(json!({
                "ArnEquals": {
                    "iam:PolicyARN": arns.managed_execution_policy(),
                }
            })),
        ),
        allow(
            "IamPassRolesToEcsTasks",
            &["iam:PassRole"],
            &[arns.execution_role(), arns.task_role()],
            Some(json!({ "StringEquals": { "iam:PassedToService": PASSED_TO_SERVICE } })),
        ),
        // ECS, Elastic Load Balancing and, with `[autoscaling]`, Application Auto Scaling (for
        // ECS services: AWSServiceRoleForApplicationAutoScaling_ECSService, made by
        // RegisterScalableTarget) create their service-linked roles on first use in an account;
        // once they exist this statement is never used.
        allow(
            "IamCreateServiceLinkedRoles",
            &["iam:CreateServiceLinkedRole"],
            &[arns.iam("role/aws-service-role/*")],
            Some(json!({
                "StringEquals": {
                    "iam:AWSServiceName": linked_services,
                }
            })),
        ),
        // CloudWatch Logs: the log group is found by name prefix, which needs `*`.
        allow(
            "LogsFindLogGroup",
            &["logs:DescribeLogGroups"],
            &any(),
            None,
        ),
        allow(
            "LogsLogGroup",
            &[
                "logs:ListTagsForResource",
                "logs:CreateLogGroup",
                "logs:TagResource",
                "logs:PutRetentionPolicy",
                "logs:DeleteLogGroup",
                // `logs`, and the output of `run` and of the release command.
                "logs:FilterLogEvents",
                "logs:GetLogEvents",
            ],
            &[log_group.clone(), format!("{log_group}:*")],
            None,
        ),
        // Elastic Load Balancing: its describe calls have no resource-level permissions.
        allow(
            "ElbRead",
            &[
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            &any(),
            None,
        ),
        // The load balancer, its listeners and the target group: each action applies to its own
        // kind of resource among these. One statement, so the policy fits a managed policy.
        allow(
            "ElbResources",
            &[
                "elasticloadbalancing:CreateLoadBalancer",
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetIpAddressType",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:DeleteTargetGroup",
            ],
            &[
                arns.load_balancer(),
                arns.listeners(),
                target_group,
                replacement_target_group,
            ],
            None,
        ),
        // ECS: task definitions are read, listed and deregistered without resource-level
        // permissions; tasks are listed by cluster.
        // The cluster and the service.
        allow(
            "EcsClusterAndService",
            &[
                "ecs:DescribeClusters",
                "ecs:CreateCluster",
                "ecs:PutClusterCapacityProviders",
                "ecs:DeleteCluster",
                "ecs:DescribeServices",
                "ecs:CreateService",
                "ecs:UpdateService",
                "ecs:DeleteService",
                "ecs:TagResource",
                // `exec`: ExecuteCommand is authorized on the cluster and on the task.
                "ecs:ExecuteCommand",
            ],
            &[arns.cluster(), arns.service()],
            None,
        ),
        // Destroy checks every revision's tags before deregistering it.
        allow(
            "EcsRegisterTaskDefinition",
            &[
                "ecs:RegisterTaskDefinition",
                "ecs:TagResource",
                "ecs:ListTagsForResource",
            ],
            &[arns.task_definitions()],
            None,
        ),
        // `run` and the release command: one-off tasks of the stack's revisions, in its cluster
        // only.
        allow(
            "EcsRunTask",
            &["ecs:RunTask"],
            &[arns.task_definitions()],
            Some(json!({ "ArnEquals": { "ecs:cluster": arns.cluster() } })),
        ),
        allow(
            "EcsTaskDefinitions",
            &[
                "ecs:DescribeTaskDefinition",
                "ecs:ListTaskDefinitions",
                "ecs:DeregisterTaskDefinition",
            ],
            &any(),
            None,
        ),
        allow(
            "EcsListTasks",
            &["ecs:ListTasks"],
            &any(),
            Some(json!({ "ArnLike": { "ecs:cluster": arns.cluster() } })),
        ),
        allow(
            "EcsTasks",
            &["ecs:DescribeTasks", "ecs:ExecuteCommand"],
            &[arns.regional("ecs", &format!("task/{}/*", names.cluster))],
            None,
        ),
    ];
    if config.autoscaling.is_some() {
        statements.extend([
            // Application Auto Scaling, with `[autoscaling]` only (so that the other stacks' policies
            // stay small): its describe calls have no resource-level permissions; the scalable
            // target's ARN ends in an ID AWS picks.
            allow(
                "AutoScalingRead",
                &[
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                ],
                &any(),
                None,
            ),
            allow(
                "AutoScalingTarget",
                &[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:TagResource",
                    "application-autoscaling:ListTagsForResource",
                ],
                &[arns.regional("application-autoscaling", "scalable-target/*")],
                None,
            ),
            // Not called by deployer: PutScalingPolicy and DeleteScalingPolicy make and delete the
            // CloudWatch alarms of a target tracking policy, named after the service's resource ID,
            // and check that their caller may (see "IAM permissions required for Amazon ECS service
            // auto scaling" in the ECS Developer Guide).
            allow(
                "AutoScalingAlarms",
                &[
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:DeleteAlarms",
                ],
                &[arns.regional(
                    "cloudwatch",
                    &format!(
                        "alarm:TargetTracking-service/{}/{}-*",
                        names.cluster, names.service
                    ),
                )],
                None,
            ),
        ]);
    }
    // Only the managed policies `[task_role]` names can be attached to the task role: whoever
    // may run deployer must not be able to make the app an administrator through it.
    let task_role_policies: Vec<&String> = config
        .task_role
        .iter()
        .flat_map(|role| &role.managed_policies)
        .collect();
    if !task_role_policies.is_empty() {
        statements.push(allow(
            "IamAttachTaskRolePolicies",
            &["iam:AttachRolePolicy"],
            &[arns.task_role()],
            Some(json!({ "ArnEquals": { "iam:PolicyARN": task_role_policies } })),
        ));
    }
    if config.network.is_some() {
        // Only for a VPC of `[network]`: the checks made before any change read the zones of
        // its subnets, its route tables and its VPC endpoints. EC2's Describe actions have no
        // resource-level permissions ("Actions, resources, and condition keys for Amazon EC2").
        statements.push(allow(
            "Ec2ReadNetwork",
            &[
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeRouteTables",
                "ec2:DescribeVpcEndpoints",
            ],
            &any(),
            None,
        ));
    }
    if let Some(https) = &config.https {
        statements.extend(https_statements(&arns, config, https));
    }
    if let StateConfig::S3(s3) = &config.state {
        statements.extend(state_statements(config, s3));
    }
    Policy {
        version: "2012-10-17",
        statements,
    }
}

/// What `[https]` adds: reading a given certificate, requesting, tagging and deleting the
/// requested one (only for the configured names), and changing only the domain's alias records
/// and the validation records of its names in the hosted zone.
fn https_statements(arns: &Arns<'_>, config: &Config, https: &HttpsConfig) -> Vec<Statement> {
    let mut statements = Vec::new();
    let (project, environment) = (config.project.as_str(), config.environment.as_str());
    if let Some(arn) = &https.certificate_arn {
        statements.push(allow(
            "AcmReadGivenCertificate",
            &["acm:DescribeCertificate"],
            std::slice::from_ref(arn),
            None,
        ));
    }
    if https.requests_certificate() {
        let names: Vec<&String> = https
            .domain
            .iter()
            .chain(&https.subject_alternative_names)
            .collect();
        // RequestCertificate has no resource-level permissions; its names are a condition.
        statements.push(allow(
            "AcmRequestCertificate",
            &["acm:RequestCertificate"],
            &any(),
            Some(json!({ "ForAllValues:StringEquals": { "acm:DomainNames": names } })),
        ));
        statements.push(allow(
            "AcmFindCertificate",
            &["acm:ListCertificates"],
            &any(),
            None,
        ));
        let certificates = arns.regional("acm", "certificate/*");
        statements.push(allow(
            "AcmCertificates",
            &[
                "acm:DescribeCertificate",
                "acm:ListTagsForCertificate",
                "acm:AddTagsToCertificate",
            ],
            std::slice::from_ref(&certificates),
            None,
        ));
        statements.push(allow(
            "AcmDeleteOwnCertificate",
            &["acm:DeleteCertificate"],
            &[certificates],
            Some(json!({
                "StringEquals": {
                    "aws:ResourceTag/Project": project,
                    "aws:ResourceTag/Environment": environment,
                }
            })),
        ));
    }
    if let Some(domain) = &https.domain {
        // Route 53 ARNs have neither region nor account; the zone's ID is only known by a call.
        let zones = format!("arn:{}:route53:::hostedzone/*", arns.partition);
        statements.push(allow(
            "Route53FindZone",
            &["route53:ListHostedZonesByName"],
            &any(),
            None,
        ));
        statements.push(allow(
            "Route53ReadRecords",
            &["route53:ListResourceRecordSets"],
            std::slice::from_ref(&zones),
            None,
        ));
        // The domain's alias records, and the validation records (`_<token>.<name>`) of the
        // certificate's names.
        let mut names = vec![domain.clone()];
        if https.requests_certificate() {
            for name in std::iter::once(domain).chain(&https.subject_alternative_names) {
                let name = name.strip_prefix("*.").unwrap_or(name);
                let validation = format!("_*.{name}");
                if !names.contains(&validation) {
                    names.push(validation);
                }
            }
        }
        // Waiting until a change of the alias records is on every Route 53 DNS server.
        statements.push(allow(
            "Route53WaitForChange",
            &["route53:GetChange"],
            &[format!("arn:{}:route53:::change/*", arns.partition)],
            None,
        ));
        statements.push(allow(
            "Route53ChangeRecords",
            &["route53:ChangeResourceRecordSets"],
            &[zones],
            Some(json!({
                "ForAllValues:StringLike": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
                },
                "ForAllValues:StringEquals": {
                    "route53:ChangeResourceRecordSetsRecordTypes": ["A", "AAAA", "CNAME"],
                },
            })),
        ));
    }
    statements
}

/// With the S3 backend: reading, writing and deleting exactly the environment's state and lock
/// objects (a delete with `If-Match` also needs `s3:GetObject`, see "How to perform conditional
/// deletes" in the Amazon S3 User Guide), listing the bucket (so that a missing object is a 404),
/// and with `kms_key_id` the KMS calls S3 makes for the caller (SSE-KMS: `kms:GenerateDataKey` to
/// write, `kms:Decrypt` to read), only through S3.
fn state_statements(config: &Config, s3: &S3StateConfig) -> Vec<Statement> {
    let partition = partition(&config.region);
    let object = |key: String| format!("arn:{partition}:s3:::{}/{key}", s3.bucket);
    let mut statements = vec![
        allow(
            "StateObjects",
            &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            &[
                object(s3.state_key(&config.project, &config.environment)),
                object(s3.lock_key(&config.project, &config.environment)),
            ],
            None,
        ),
        // Never called, but checked by GetObject on a key that does not exist: without it S3
        // answers 403 AccessDenied instead of 404 NoSuchKey, and the first run (no state yet)
        // could not tell "nothing recorded" from "not allowed" (see "GetObject", Permissions, in
        // the Amazon S3 API Reference).
        allow(
            "StateBucketList",
            &["s3:ListBucket"],
            &[format!("arn:{partition}:s3:::{}", s3.bucket)],
            None,
        ),
    ];
    if let Some(key) = &s3.kms_key_id {
        let region = s3.region.as_deref().unwrap_or(&config.region);
        let via_s3 = json!({ "kms:ViaService": format!("s3.{region}.amazonaws.com") });
        let (resource, condition) = if key.starts_with("arn:") {
            (key.clone(), json!({ "StringEquals": via_s3 }))
        } else if key.starts_with("alias/") {
            // An alias is not a key's resource: any key that has it.
            (
                format!("arn:{partition}:kms:{region}:*:key/*"),
                json!({
                    "StringEquals": via_s3,
                    "ForAnyValue:StringEquals": { "kms:ResourceAliases": key },
                }),
            )
        } else {
            (
                format!("arn:{partition}:kms:{region}:*:key/{key}"),
                json!({ "StringEquals": via_s3 }),
            )
        };
        statements.push(allow(
            "StateKmsKey",
            &["kms:GenerateDataKey", "kms:Decrypt"],
            &[resource],
            Some(condition),
        ));
    }
    statements
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    fn config_of(project: &str, region: &str) -> Config {
        let text = format!(
            "project = \"{project}\"\nenvironment = \"dev\"\nregion = \"{region}\"\n\n\
             [container]\nimage = \"nginx:1.27\"\n"
        );
        Config::from_toml_str(&text, Path::new("dev.toml")).unwrap()
    }

    fn config(region: &str) -> Config {
        config_of("simhill", region)
    }

    fn policy(config: &Config) -> Value {
        serde_json::to_value(super::policy(config)).unwrap()
    }

    fn statements(policy: &Value) -> &Vec<Value> {
        policy["Statement"].as_array().unwrap()
    }

    /// A string, or a list of strings, as a list.
    fn strings(value: &Value) -> Vec<&str> {
        match value {
            Value::String(one) => vec![one.as_str()],
            _ => value
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect(),
        }
    }

    fn statement<'a>(policy: &'a Value, sid: &str) -> &'a Value {
        statements(policy)
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
    }

    #[test]
    fn every_statement_is_a_complete_allow_with_a_unique_sid() {
        let policy = policy(&config("eu-central-1"));
        assert_eq!(policy["Version"], "2012-10-17");
        let mut sids = BTreeSet::new();
        for s in statements(&policy) {
            let sid = s["Sid"].as_str().unwrap();
            assert!(
                !sid.is_empty() && sid.chars().all(|c| c.is_ascii_alphanumeric()),
                "IAM allows only letters and digits in a Sid: {sid}"
            );
            assert!(sids.insert(sid), "duplicate Sid {sid}");
            assert_eq!(s["Effect"], "Allow", "{sid}");
            assert!(!strings(&s["Action"]).is_empty(), "{sid}");
            assert!(!strings(&s["Resource"]).is_empty(), "{sid}");
            let keys: BTreeSet<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
            let allowed = BTreeSet::from(["Sid", "Effect", "Action", "Resource", "Condition"]);
            assert!(keys.is_subset(&allowed), "{sid}: {keys:?}");
        }
    }

    #[test]
    fn no_action_is_a_wildcard_or_granted_twice_on_a_resource() {
        let policy = policy(&config("eu-central-1"));
        let mut unconditioned = BTreeSet::new();
        for s in statements(&policy) {
            for action in strings(&s["Action"]) {
                let (prefix, name) = action.split_once(':').unwrap();
                assert!(
                    [
                        "ec2",
                        "ecr",
                        "ecs",
                        "elasticloadbalancing",
                        "iam",
                        "logs",
                        "application-autoscaling",
                        "cloudwatch"
                    ]
                    .contains(&prefix),
                    "{action}"
                );
                assert!(
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{action}"
                );
                if s.get("Condition").is_none() {
                    for resource in strings(&s["Resource"]) {
                        assert!(
                            unconditioned.insert((action, resource)),
                            "{action} on {resource} granted twice"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn only_actions_without_resource_level_permissions_get_every_resource() {
        let policy = policy(&config("eu-central-1"));
        let mut any: Vec<&str> = statements(&policy)
            .iter()
            .filter(|s| strings(&s["Resource"]).contains(&"*"))
            .flat_map(|s| strings(&s["Action"]))
            .collect();
        any.sort_unstable();
        assert_eq!(
            any,
            [
                "ec2:DescribeAccountAttributes",
                "ec2:DescribeAddresses",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
                "ecs:DeregisterTaskDefinition",
                "ecs:DescribeTaskDefinition",
                "ecs:ListTaskDefinitions",
                "ecs:ListTasks",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "logs:DescribeLogGroups",
            ]
        );
        // ListTasks is narrowed to the cluster by a condition instead.
        assert_eq!(
            statement(&policy, "EcsListTasks")["Condition"]["ArnLike"]["ecs:cluster"],
            "arn:aws:ecs:eu-central-1:*:cluster/simhill-dev-cluster"
        );
    }

    #[test]
    fn resources_are_this_stacks_arns() {
        let policy = policy(&config("eu-central-1"));
        // The one exception: an image chosen with `--image` may be in any repository of any
        // region, and is looked up there; only the partition is the stack's.
        let check = statement(&policy, "EcrCheckImageToDeploy");
        assert_eq!(strings(&check["Action"]), ["ecr:DescribeImages"]);
        assert_eq!(
            strings(&check["Resource"]),
            ["arn:aws:ecr:*:*:repository/*"]
        );
        let resources: BTreeSet<&str> = statements(&policy)
            .iter()
            .filter(|s| s["Sid"] != "EcrCheckImageToDeploy")
            .flat_map(|s| strings(&s["Resource"]))
            .filter(|r| *r != "*")
            .collect();
        for resource in &resources {
            assert!(resource.starts_with("arn:aws:"), "{resource}");
            let region_or_global = resource.split(':').nth(3).unwrap();
            assert!(
                ["eu-central-1", ""].contains(&region_or_global),
                "{resource}"
            );
            assert_eq!(resource.split(':').nth(4), Some("*"), "{resource}");
        }
        for name in [
            "role/simhill-dev-ecs-task-execution-role",
            "repository/simhill-dev-ecr",
            "log-group:simhill-dev-logs",
            "loadbalancer/app/simhill-dev-alb/*",
            "listener/app/simhill-dev-alb/*/*",
            "targetgroup/simhill-dev-tg/*",
            "targetgroup/simhill-dev-tg-b/*",
            "cluster/simhill-dev-cluster",
            "service/simhill-dev-cluster/simhill-dev-service",
            "task-definition/simhill-dev-task:*",
            "task/simhill-dev-cluster/*",
        ] {
            assert!(
                resources.iter().any(|r| r.ends_with(name)),
                "{name} in {resources:#?}"
            );
        }
        // Security group IDs are random: what is not ours by name is ours by tag.
        for sid in ["Ec2CreateTaggedSecurityGroup", "Ec2ChangeOwnSecurityGroups"] {
            let condition = &statement(&policy, sid)["Condition"]["StringEquals"];
            let tags = condition.as_object().unwrap();
            assert_eq!(tags.len(), 2, "{sid}");
            for (key, value) in tags {
                let expected = if key.ends_with("/Project") {
                    "simhill"
                } else {
                    "dev"
                };
                assert_eq!(value, expected, "{sid}: {key}");
            }
        }
    }

    #[test]
    fn the_task_role_is_passed_to_ecs_tasks_and_gets_only_the_configured_policies() {
        let without = policy(&config_of("simhill", "eu-central-1"));
        let policy = &without;
        let pass = statements(policy)
            .iter()
            .find(|s| strings(&s["Action"]).contains(&"iam:PassRole"))
            .unwrap();
        assert!(strings(&pass["Resource"]).contains(&"arn:aws:iam::*:role/simhill-dev-task-role"));
        // Without [task_role], nothing may be attached to it.
        assert!(!policy.to_string().contains("IamAttachTaskRolePolicies"));
        let mut config = config_of("simhill", "eu-central-1");
        config.task_role = Some(crate::config::TaskRoleConfig {
            managed_policies: vec!["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess".into()],
            statements: Vec::new(),
        });
        let with = super::tests::policy(&config);
        let attach = statements(&with)
            .iter()
            .find(|s| s["Sid"] == "IamAttachTaskRolePolicies")
            .unwrap();
        assert_eq!(
            strings(&attach["Resource"]),
            ["arn:aws:iam::*:role/simhill-dev-task-role"]
        );
        assert_eq!(
            attach["Condition"],
            json!({ "ArnEquals": { "iam:PolicyARN":
                ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"] } })
        );
    }

    #[test]
    fn the_roles_are_passed_only_to_ecs_tasks() {
        let policy = policy(&config("eu-central-1"));
        let passing: Vec<&Value> = statements(&policy)
            .iter()
            .filter(|s| strings(&s["Action"]).contains(&"iam:PassRole"))
            .collect();
        assert_eq!(passing.len(), 1);
        let pass = passing[0];
        assert_eq!(strings(&pass["Action"]), ["iam:PassRole"]);
        assert_eq!(
            strings(&pass["Resource"]),
            [
                "arn:aws:iam::*:role/simhill-dev-ecs-task-execution-role",
                "arn:aws:iam::*:role/simhill-dev-task-role"
            ]
        );
        assert_eq!(
            pass["Condition"],
            json!({ "StringEquals": { "iam:PassedToService": "ecs-tasks.amazonaws.com" } })
        );
    }

    #[test]
    fn only_the_managed_execution_policy_may_be_attached() {
        let policy = policy(&config("eu-central-1"));
        assert_eq!(
            statement(&policy, "IamAttachExecutionPolicy")["Condition"],
            json!({ "ArnEquals": { "iam:PolicyARN":
                "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" } })
        );
    }

    #[test]
    fn arns_follow_the_partition_of_the_region() {
        let policy = policy(&config("cn-north-1"));
        let resources: Vec<&str> = statements(&policy)
            .iter()
            .flat_map(|s| strings(&s["Resource"]))
            .filter(|r| *r != "*")
            .collect();
        assert!(resources.iter().all(|r| r.starts_with("arn:aws-cn:")));
        assert!(resources.contains(&"arn:aws-cn:ecs:cn-north-1:*:cluster/simhill-dev-cluster"));
        assert_eq!(
            statement(&policy, "IamAttachExecutionPolicy")["Condition"]["ArnEquals"]
                ["iam:PolicyARN"],
            "arn:aws-cn:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
        );
    }

    #[test]
    fn split_parts_each_fit_in_a_managed_policy() {
        // The longest names validation allows: project and environment of 27 characters.
        let policy = super::policy(&config_of("long-project-name-abcdef", "ap-southeast-5"));
        let spaced = serde_json::to_string_pretty(&policy).unwrap();
        assert!(spaced.len() > policy.size(), "whitespace is not counted");
        let parts = policy.split(MANAGED_POLICY_MAX_CHARS);
        for part in &parts {
            let size = part.size();
            assert!(size <= MANAGED_POLICY_MAX_CHARS, "{size} characters");
        }
        // Nothing lost, nothing repeated, the order kept.
        let rejoined: Vec<Statement> = parts.into_iter().flat_map(|p| p.statements).collect();
        assert_eq!(rejoined, policy.statements);
    }

    #[test]
    fn a_policy_within_the_size_is_not_split() {
        let policy = super::policy(&config("eu-central-1"));
        assert!(policy.size() <= INLINE_ROLE_POLICY_MAX_CHARS);
        assert_eq!(policy.split(INLINE_ROLE_POLICY_MAX_CHARS), vec![policy]);
    }

    #[test]
    fn split_starts_a_new_document_when_the_next_statement_would_not_fit() {
        let policy = super::policy(&config("eu-central-1"));
        let first_two = Policy {
            version: policy.version,
            statements: policy.statements[..2].to_vec(),
        };
        let parts = policy.split(first_two.size());
        assert_eq!(parts[0], first_two);
        assert_eq!(parts[1].statements[0], policy.statements[2]);
        // A statement over the size on its own still gets a document.
        assert_eq!(policy.split(0).len(), policy.statements.len());
    }

    #[test]
    fn target_group_replacement_name_is_in_the_policy() {
        // A port change replaces `{name}-tg` by `{name}-tg-b`: creating, tagging and deleting
        // it must be allowed too, or the replacement stops half-way for lack of permission.
        let policy = policy(&config("eu-central-1"));
        let elb = statement(&policy, "ElbResources");
        let resources = strings(&elb["Resource"]);
        for name in ["simhill-dev-tg", "simhill-dev-tg-b"] {
            let arn = format!("arn:aws:elasticloadbalancing:eu-central-1:*:targetgroup/{name}/*");
            assert!(resources.contains(&arn.as_str()), "{arn} in {resources:?}");
        }
    }

    #[test]
    fn network_adds_the_reads_of_its_vpc_only_when_configured() {
        let reads = [
            "ec2:DescribeAvailabilityZones",
            "ec2:DescribeRouteTables",
            "ec2:DescribeVpcEndpoints",
        ];
        let without = policy(&config("eu-central-1")).to_string();
        assert!(reads.iter().all(|a| !without.contains(a)), "{without}");
        let mut with = config("eu-central-1");
        with.network = Some(crate::config::NetworkConfig {
            vpc_id: "vpc-0123abcd".into(),
            subnets: vec!["subnet-0123abcd".into(), "subnet-4567abcd".into()],
            load_balancer_subnets: vec!["subnet-0123abcd".into(), "subnet-4567abcd".into()],
            assign_public_ip: false,
        });
        let policy = policy(&with);
        let network = statement(&policy, "Ec2ReadNetwork");
        assert_eq!(strings(&network["Action"]), reads);
        assert_eq!(strings(&network["Resource"]), ["*"]);
    }

    #[test]
    fn https_adds_acm_and_route53_only_for_its_names() {
        assert!(!policy(&config("eu-central-1")).to_string().contains("acm:"));
        let mut with = config("eu-central-1");
        with.https = Some(crate::config::HttpsConfig {
            domain: Some("app.example.com".into()),
            hosted_zone: Some("example.com".into()),
            subject_alternative_names: vec!["*.example.com".into()],
            ..Default::default()
        });
        let policy = policy(&with);
        assert_eq!(
            statement(&policy, "AcmRequestCertificate")["Condition"],
            json!({ "ForAllValues:StringEquals":
                { "acm:DomainNames": ["app.example.com", "*.example.com"] } })
        );
        let change = statement(&policy, "Route53ChangeRecords");
        assert_eq!(
            change["Condition"]["ForAllValues:StringLike"]
                ["route53:ChangeResourceRecordSetsNormalizedRecordNames"],
            json!(["app.example.com", "_*.app.example.com", "_*.example.com"])
        );
        assert_eq!(
            strings(&change["Resource"]),
            ["arn:aws:route53:::hostedzone/*"]
        );
        assert_eq!(
            statement(&policy, "AcmDeleteOwnCertificate")["Condition"]["StringEquals"]
                ["aws:ResourceTag/Project"],
            "simhill"
        );
        // A given certificate is only read, by its ARN.
        let arn = "arn:aws:acm:eu-central-1:123456789012:certificate/1";
        with.https = Some(crate::config::HttpsConfig {
            certificate_arn: Some(arn.into()),
            ..Default::default()
        });
        let policy = super::tests::policy(&with);
        let acm: Vec<&str> = statements(&policy)
            .iter()
            .flat_map(|s| strings(&s["Action"]))
            .filter(|a| a.starts_with("acm:") || a.starts_with("route53:"))
            .collect();
        assert_eq!(acm, ["acm:DescribeCertificate"]);
        assert_eq!(
            strings(&statement(&policy, "AcmReadGivenCertificate")["Resource"]),
            [arn]
        );
    }

    fn with_s3_state(mut config: Config, kms_key_id: Option<&str>) -> Config {
        config.state = StateConfig::S3(S3StateConfig {
            bucket: "acme-state".into(),
            prefix: "team/".into(),
            region: Some("us-east-1".into()),
            kms_key_id: kms_key_id.map(str::to_owned),
        });
        config
    }

    #[test]
    fn the_s3_backend_adds_exactly_its_two_objects_and_its_kms_key() {
        let local = policy(&config("eu-central-1"));
        assert!(statements(&local)
            .iter()
            .all(|s| !s["Sid"].as_str().unwrap().starts_with("State")));

        let policy = policy(&with_s3_state(config("eu-central-1"), None));
        let objects = statement(&policy, "StateObjects");
        assert_eq!(
            strings(&objects["Action"]),
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        );
        assert_eq!(
            strings(&objects["Resource"]),
            [
                "arn:aws:s3:::acme-state/team/simhill/dev.json",
                "arn:aws:s3:::acme-state/team/simhill/dev.lock",
            ]
        );
        assert!(statements(&policy)
            .iter()
            .all(|s| s["Sid"] != "StateKmsKey"));

        let with_alias = policy_of_key("alias/deployer-state");
        let kms = statement(&with_alias, "StateKmsKey");
        assert_eq!(
            strings(&kms["Action"]),
            ["kms:GenerateDataKey", "kms:Decrypt"]
        );
        assert_eq!(kms["Resource"], "arn:aws:kms:us-east-1:*:key/*");
        assert_eq!(
            kms["Condition"],
            json!({
                "StringEquals": { "kms:ViaService": "s3.us-east-1.amazonaws.com" },
                "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/deployer-state" },
            })
        );
        let by_id = policy_of_key("1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(
            statement(&by_id, "StateKmsKey")["Resource"],
            "arn:aws:kms:us-east-1:*:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(
            statement(&policy_of_key(arn), "StateKmsKey")["Resource"],
            arn
        );
    }

    fn policy_of_key(key: &str) -> Value {
        policy(&with_s3_state(config("eu-central-1"), Some(key)))
    }

    #[test]
    fn the_longest_policy_with_an_s3_backend_splits_into_managed_policies() {
        let config = with_s3_state(
            config_of("long-project-name-abcdef", "ap-southeast-5"),
            Some("alias/deployer-state"),
        );
        let policy = super::policy(&config);
        let parts = policy.split(MANAGED_POLICY_MAX_CHARS);
        for part in &parts {
            let size = part.size();
            assert!(size <= MANAGED_POLICY_MAX_CHARS, "{size} characters");
        }
        let rejoined: Vec<Statement> = parts.into_iter().flat_map(|p| p.statements).collect();
        assert_eq!(rejoined, policy.statements);
    }
}
