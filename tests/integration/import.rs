//! `deployer import --from-terraform`: the old Terraform stack, built on the emulator the way
//! its code builds it (its names, its `ManagedBy=terraform` tags), is taken over without a
//! resource created, deleted or replaced, without a new task definition revision and without a
//! deployment.

use aws_sdk_ec2::types::{DomainType, IpPermission, IpRange, UserIdGroupPair};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, KeyValuePair,
    LaunchType, LoadBalancer as EcsLoadBalancer, LogConfiguration, LogDriver, NetworkConfiguration,
    NetworkMode, PortMapping,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, Matcher, ProtocolEnum, TargetTypeEnum,
};
use serde_json::{json, Value};

use crate::support::{block_on, TestEnv, REGION};

/// The tags the old stack's provider puts on everything (`default_tags`).
const TF_TAGS: [(&str, &str); 3] = [
    ("Environment", "dev"),
    ("Project", "simhill"),
    ("ManagedBy", "terraform"),
];

/// What the old stack is, as its Terraform state records it: one `terraform show -json`
/// resource per entry (address, type, values).
struct OldStack {
    resources: Vec<(String, String, Value)>,
    lb_dns_name: String,
    revision: String,
}

fn tf_tags() -> Value {
    json!({"Environment": "dev", "Project": "simhill", "ManagedBy": "terraform"})
}

/// Builds the old stack with the SDK: the names of its Terraform code (`-ecs-tasks-sg`,
/// `/ecs/simhill-dev`, `simhill-dev-container`, the repository `flask-tp-app`), the defaults
/// it leaves to AWS (deregistration delay 300, no circuit breaker, no grace period).
fn build_old_stack(env: &TestEnv, container_port: i32) -> OldStack {
    build_stack(env, container_port, Placement::DefaultVpc, false)
}

/// The inline policy of the old stack's task role, as its Terraform code writes it
/// (`jsonencode`, with a `Sid`).
fn task_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadAssets", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": ["arn:aws:s3:::simhill-dev-assets", "arn:aws:s3:::simhill-dev-assets/*"]},
        {"Effect": "Allow", "Action": "sqs:SendMessage",
         "Resource": "arn:aws:sqs:eu-central-1:123456789012:simhill-dev-jobs",
         "Condition": {"StringEquals": {"aws:ResourceAccount": "123456789012"}}}]})
}

/// Where the old stack runs.
#[derive(Clone, Copy)]
enum Placement {
    /// The default VPC's default subnets, with public IPs: what the old stack's code does.
    DefaultVpc,
    /// A VPC of its own ([`own_vpc`]): the tasks in private subnets without public IPs, the
    /// load balancer in public ones.
    OwnVpc,
}

/// A VPC that the same Terraform state manages, as a team's network module makes it: an
/// internet gateway, a private and a public subnet in each of two Availability Zones, a NAT
/// gateway, and a route table for each kind of subnet.
struct OwnVpc {
    vpc_id: String,
    private_subnets: Vec<String>,
    public_subnets: Vec<String>,
    /// Their `terraform show -json` resources.
    resources: Vec<(String, String, Value)>,
}

fn own_vpc(env: &TestEnv) -> OwnVpc {
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    let vpc = block_on(ec2.create_vpc().cidr_block("10.1.0.0/16").send()).unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let mut resources = vec![(
        "aws_vpc.main".to_owned(),
        "aws_vpc".to_owned(),
        json!({"id": vpc_id, "cidr_block": "10.1.0.0/16", "default": false,
               "tags": tf_tags()}),
    )];
    let gateway = block_on(ec2.create_internet_gateway().send()).unwrap();
    let gateway_id = gateway
        .internet_gateway()
        .unwrap()
        .internet_gateway_id()
        .unwrap()
        .to_owned();
    block_on(
        ec2.attach_internet_gateway()
            .internet_gateway_id(&gateway_id)
            .vpc_id(&vpc_id)
            .send(),
    )
    .unwrap();
    resources.push((
        "aws_internet_gateway.main".to_owned(),
        "aws_internet_gateway".to_owned(),
        json!({"id": gateway_id, "vpc_id": vpc_id, "tags": tf_tags()}),
    ));
    let mut subnet = |name: &str, cidr: &str, zone: &str| {
        let made = block_on(
            ec2.create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(cidr)
                .availability_zone(zone)
                .send(),
        )
        .unwrap();
        let id = made.subnet().unwrap().subnet_id().unwrap().to_owned();
        resources.push((
            format!("aws_subnet.{name}"),
            "aws_subnet".to_owned(),
            json!({"id": id, "vpc_id": vpc_id, "cidr_block": cidr, "availability_zone": zone,
                   "map_public_ip_on_launch": name.starts_with("public"),
                   "tags": tf_tags()}),
        ));
        id
    };
    let private_subnets = vec![
        subnet("private_a", "10.1.1.0/24", "eu-central-1a"),
        subnet("private_b", "10.1.2.0/24", "eu-central-1b"),
    ];
    let public_subnets = vec![
        subnet("public_a", "10.1.101.0/24", "eu-central-1a"),
        subnet("public_b", "10.1.102.0/24", "eu-central-1b"),
    ];
    // The public subnets reach the internet through the gateway, the private ones through a
    // NAT gateway in a public subnet (so the tasks can pull their image).
    let address = block_on(ec2.allocate_address().domain(DomainType::Vpc).send()).unwrap();
    let nat = block_on(
        ec2.create_nat_gateway()
            .subnet_id(&public_subnets[0])
            .allocation_id(address.allocation_id().unwrap())
            .send(),
    )
    .unwrap();
    let nat_id = nat
        .nat_gateway()
        .unwrap()
        .nat_gateway_id()
        .unwrap()
        .to_owned();
    resources.push((
        "aws_nat_gateway.main".to_owned(),
        "aws_nat_gateway".to_owned(),
        json!({"id": nat_id, "subnet_id": public_subnets[0], "tags": tf_tags()}),
    ));
    for (name, subnets, gateway) in [
        ("public", &public_subnets, Some(&gateway_id)),
        ("private", &private_subnets, None),
    ] {
        let table = block_on(ec2.create_route_table().vpc_id(&vpc_id).send()).unwrap();
        let table_id = table
            .route_table()
            .unwrap()
            .route_table_id()
            .unwrap()
            .to_owned();
        let route = ec2
            .create_route()
            .route_table_id(&table_id)
            .destination_cidr_block("0.0.0.0/0");
        let route = match gateway {
            Some(gateway) => route.gateway_id(gateway),
            None => route.nat_gateway_id(&nat_id),
        };
        block_on(route.send()).unwrap();
        for subnet in subnets.iter() {
            block_on(
                ec2.associate_route_table()
                    .route_table_id(&table_id)
                    .subnet_id(subnet)
                    .send(),
            )
            .unwrap();
        }
        resources.push((
            format!("aws_route_table.{name}"),
            "aws_route_table".to_owned(),
            json!({"id": table_id, "vpc_id": vpc_id, "tags": tf_tags()}),
        ));
    }
    OwnVpc {
        vpc_id,
        private_subnets,
        public_subnets,
        resources,
    }
}

/// Builds the old stack in `placement`.
fn build_stack(
    env: &TestEnv,
    container_port: i32,
    placement: Placement,
    with_task_role: bool,
) -> OldStack {
    let config = env.sdk_config();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let ecr = aws_sdk_ecr::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    let ec2_tags = || {
        TF_TAGS
            .iter()
            .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build())
            .collect::<Vec<_>>()
    };
    let mut resources = Vec::new();

    let (vpc_id, subnets, lb_subnets, public_ip) = match placement {
        Placement::DefaultVpc => {
            let vpcs = block_on(ec2.describe_vpcs().send()).unwrap();
            let vpc = vpcs
                .vpcs()
                .iter()
                .find(|v| v.is_default() == Some(true))
                .unwrap();
            let vpc_id = vpc.vpc_id().unwrap().to_owned();
            let subnets: Vec<String> = block_on(
                ec2.describe_subnets()
                    .filters(
                        aws_sdk_ec2::types::Filter::builder()
                            .name("default-for-az")
                            .values("true")
                            .build(),
                    )
                    .send(),
            )
            .unwrap()
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_owned))
            .collect();
            resources.push((
                "data.aws_vpc.default".to_owned(),
                "aws_vpc".to_owned(),
                json!({"id": vpc_id, "default": true}),
            ));
            resources.push((
                "data.aws_subnets.default".to_owned(),
                "aws_subnets".to_owned(),
                json!({"id": REGION, "ids": subnets}),
            ));
            (vpc_id, subnets.clone(), subnets, true)
        }
        Placement::OwnVpc => {
            let network = own_vpc(env);
            resources.extend(network.resources);
            (
                network.vpc_id,
                network.private_subnets,
                network.public_subnets,
                false,
            )
        }
    };

    let group = |name: &str, description: &str, rule: IpPermission| {
        let id = block_on(
            ec2.create_security_group()
                .group_name(name)
                .description(description)
                .vpc_id(&vpc_id)
                .send(),
        )
        .unwrap()
        .group_id()
        .unwrap()
        .to_owned();
        block_on(
            ec2.create_tags()
                .resources(&id)
                .set_tags(Some(ec2_tags()))
                .send(),
        )
        .unwrap();
        block_on(
            ec2.authorize_security_group_ingress()
                .group_id(&id)
                .ip_permissions(rule)
                .send(),
        )
        .unwrap();
        id
    };
    let alb_sg = group(
        "simhill-dev-alb-sg",
        "Security group for ALB",
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build(),
    );
    let tasks_sg = group(
        "simhill-dev-ecs-tasks-sg",
        "Security group for ECS tasks",
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(5000)
            .to_port(5000)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(&alb_sg).build())
            .build(),
    );
    for (address, name, id) in [
        ("aws_security_group.alb", "simhill-dev-alb-sg", &alb_sg),
        (
            "aws_security_group.ecs_tasks",
            "simhill-dev-ecs-tasks-sg",
            &tasks_sg,
        ),
    ] {
        resources.push((
            address.to_owned(),
            "aws_security_group".to_owned(),
            json!({"id": id, "name": name, "vpc_id": vpc_id, "tags": tf_tags(),
                   "ingress": if name == "simhill-dev-alb-sg" {
                       json!([{"from_port": 80, "to_port": 80, "protocol": "tcp",
                               "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": [],
                               "security_groups": [], "self": false}])
                   } else {
                       json!([])
                   },
                   "arn": format!("arn:aws:ec2:{REGION}:123456789012:security-group/{id}")}),
        ));
    }

    let repo = block_on(
        ecr.create_repository()
            .repository_name("flask-tp-app")
            .image_scanning_configuration(
                aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build(),
            )
            .set_tags(Some(
                TF_TAGS
                    .iter()
                    .map(|(k, v)| {
                        aws_sdk_ecr::types::Tag::builder()
                            .key(*k)
                            .value(*v)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .send(),
    )
    .unwrap();
    let repo = repo.repository().unwrap();
    let repository_url = repo.repository_uri().unwrap().to_owned();
    // Three images, the last one "latest", as the old stack's image workflow pushes them.
    for (n, tag) in ["v1", "v2", "latest"].iter().enumerate() {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": 1, "digest": format!("sha256:{n:0>64}")},
            "layers": [],
        });
        block_on(
            ecr.put_image()
                .repository_name("flask-tp-app")
                .image_manifest(manifest.to_string())
                .image_tag(*tag)
                .send(),
        )
        .unwrap();
    }
    resources.push((
        "aws_ecr_repository.app".to_owned(),
        "aws_ecr_repository".to_owned(),
        json!({"id": "flask-tp-app", "name": "flask-tp-app", "arn": repo.repository_arn(),
               "repository_url": repository_url, "image_tag_mutability": "MUTABLE",
               "image_scanning_configuration": [{"scan_on_push": true}], "tags": tf_tags()}),
    ));

    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let role = block_on(
        iam.create_role()
            .role_name("simhill-dev-ecs-task-execution-role")
            .assume_role_policy_document(trust.to_string())
            .set_tags(Some(
                TF_TAGS
                    .iter()
                    .map(|(k, v)| {
                        aws_sdk_iam::types::Tag::builder()
                            .key(*k)
                            .value(*v)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .send(),
    )
    .unwrap();
    let role_arn = role.role().unwrap().arn().to_owned();
    let policy = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";
    block_on(
        iam.attach_role_policy()
            .role_name("simhill-dev-ecs-task-execution-role")
            .policy_arn(policy)
            .send(),
    )
    .unwrap();
    resources.push((
        "aws_iam_role.ecs_task_execution_role".to_owned(),
        "aws_iam_role".to_owned(),
        json!({"id": "simhill-dev-ecs-task-execution-role",
               "name": "simhill-dev-ecs-task-execution-role", "arn": role_arn,
               "assume_role_policy": trust.to_string(), "tags": tf_tags()}),
    ));
    resources.push((
        "aws_iam_role_policy_attachment.ecs_task_execution_role_policy".to_owned(),
        "aws_iam_role_policy_attachment".to_owned(),
        json!({"id": "simhill-dev-ecs-task-execution-role-20240101000000000000000001",
               "role": "simhill-dev-ecs-task-execution-role", "policy_arn": policy}),
    ));
    // The app's own role, with its permissions as an inline policy of its own name.
    let task_role_arn = if with_task_role {
        let role = block_on(
            iam.create_role()
                .role_name("simhill-dev-ecs-task-role")
                .assume_role_policy_document(trust.to_string())
                .set_tags(Some(
                    TF_TAGS
                        .iter()
                        .map(|(k, v)| {
                            aws_sdk_iam::types::Tag::builder()
                                .key(*k)
                                .value(*v)
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .send(),
        )
        .unwrap();
        let arn = role.role().unwrap().arn().to_owned();
        block_on(
            iam.put_role_policy()
                .role_name("simhill-dev-ecs-task-role")
                .policy_name("simhill-dev-task-policy")
                .policy_document(task_policy().to_string())
                .send(),
        )
        .unwrap();
        resources.push((
            "aws_iam_role.ecs_task_role".to_owned(),
            "aws_iam_role".to_owned(),
            json!({"id": "simhill-dev-ecs-task-role", "name": "simhill-dev-ecs-task-role",
                   "arn": arn, "assume_role_policy": trust.to_string(), "tags": tf_tags(),
                   "inline_policy": [{"name": "simhill-dev-task-policy",
                                      "policy": task_policy().to_string()}]}),
        ));
        resources.push((
            "aws_iam_role_policy.ecs_task_policy".to_owned(),
            "aws_iam_role_policy".to_owned(),
            json!({"id": "simhill-dev-ecs-task-role:simhill-dev-task-policy",
                   "name": "simhill-dev-task-policy", "role": "simhill-dev-ecs-task-role",
                   "policy": task_policy().to_string()}),
        ));
        arn
    } else {
        String::new()
    };

    block_on(
        logs.create_log_group()
            .log_group_name("/ecs/simhill-dev")
            .set_tags(Some(
                TF_TAGS
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ))
            .send(),
    )
    .unwrap();
    block_on(
        logs.put_retention_policy()
            .log_group_name("/ecs/simhill-dev")
            .retention_in_days(7)
            .send(),
    )
    .unwrap();
    resources.push((
        "aws_cloudwatch_log_group.ecs".to_owned(),
        "aws_cloudwatch_log_group".to_owned(),
        json!({"id": "/ecs/simhill-dev", "name": "/ecs/simhill-dev",
               "arn": format!("arn:aws:logs:{REGION}:123456789012:log-group:/ecs/simhill-dev"),
               "retention_in_days": 7, "tags": tf_tags()}),
    ));

    let elb_tags = || {
        TF_TAGS
            .iter()
            .map(|(k, v)| {
                aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                    .key(*k)
                    .value(*v)
                    .build()
            })
            .collect::<Vec<_>>()
    };
    let lb = block_on(
        elb.create_load_balancer()
            .name("simhill-dev-alb")
            .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::InternetFacing)
            .r#type(aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Application)
            .set_subnets(Some(lb_subnets.clone()))
            .security_groups(&alb_sg)
            .set_tags(Some(elb_tags()))
            .send(),
    )
    .unwrap();
    let lb = &lb.load_balancers()[0];
    let lb_arn = lb.load_balancer_arn().unwrap().to_owned();
    let lb_dns_name = lb.dns_name().unwrap().to_owned();
    resources.push((
        "aws_lb.main".to_owned(),
        "aws_lb".to_owned(),
        json!({"id": lb_arn, "arn": lb_arn, "name": "simhill-dev-alb", "dns_name": lb_dns_name,
               "internal": false, "load_balancer_type": "application",
               "security_groups": [alb_sg], "subnets": lb_subnets, "tags": tf_tags()}),
    ));
    let tg = block_on(
        elb.create_target_group()
            .name("simhill-dev-tg")
            .port(5000)
            .protocol(ProtocolEnum::Http)
            .vpc_id(&vpc_id)
            .target_type(TargetTypeEnum::Ip)
            .health_check_path("/")
            .health_check_interval_seconds(30)
            .health_check_timeout_seconds(5)
            .healthy_threshold_count(2)
            .unhealthy_threshold_count(2)
            .matcher(Matcher::builder().http_code("200").build())
            .set_tags(Some(elb_tags()))
            .send(),
    )
    .unwrap();
    let tg_arn = tg.target_groups()[0].target_group_arn().unwrap().to_owned();
    resources.push((
        "aws_lb_target_group.app".to_owned(),
        "aws_lb_target_group".to_owned(),
        json!({"id": tg_arn, "arn": tg_arn, "name": "simhill-dev-tg", "port": 5000,
               "protocol": "HTTP", "target_type": "ip", "vpc_id": vpc_id,
               "deregistration_delay": "300",
               "health_check": [{"enabled": true, "healthy_threshold": 2, "interval": 30,
                   "matcher": "200", "path": "/", "port": "traffic-port", "protocol": "HTTP",
                   "timeout": 5, "unhealthy_threshold": 2}],
               "tags": tf_tags()}),
    ));
    let listener = block_on(
        elb.create_listener()
            .load_balancer_arn(&lb_arn)
            .port(80)
            .protocol(ProtocolEnum::Http)
            .default_actions(
                ElbAction::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&tg_arn)
                    .build(),
            )
            .set_tags(Some(elb_tags()))
            .send(),
    )
    .unwrap();
    let listener_arn = listener.listeners()[0].listener_arn().unwrap().to_owned();
    resources.push((
        "aws_lb_listener.app".to_owned(),
        "aws_lb_listener".to_owned(),
        json!({"id": listener_arn, "arn": listener_arn, "load_balancer_arn": lb_arn,
               "port": 80, "protocol": "HTTP",
               "default_action": [{"type": "forward", "target_group_arn": tg_arn,
                                   "forward": []}],
               "tags": tf_tags()}),
    ));

    let ecs_tags = || {
        TF_TAGS
            .iter()
            .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(*k).value(*v).build())
            .collect::<Vec<_>>()
    };
    let cluster = block_on(
        ecs.create_cluster()
            .cluster_name("simhill-dev-cluster")
            .set_tags(Some(ecs_tags()))
            .send(),
    )
    .unwrap();
    let cluster_arn = cluster.cluster().unwrap().cluster_arn().unwrap().to_owned();
    resources.push((
        "aws_ecs_cluster.main".to_owned(),
        "aws_ecs_cluster".to_owned(),
        json!({"id": cluster_arn, "arn": cluster_arn, "name": "simhill-dev-cluster",
               "tags": tf_tags()}),
    ));
    let image = format!("{repository_url}:latest");
    let task = block_on(
        ecs.register_task_definition()
            .family("simhill-dev-task")
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .execution_role_arn(&role_arn)
            .set_task_role_arn((!task_role_arn.is_empty()).then(|| task_role_arn.clone()))
            .container_definitions(
                ContainerDefinition::builder()
                    .name("simhill-dev-container")
                    .image(&image)
                    .essential(true)
                    .port_mappings(
                        PortMapping::builder()
                            .container_port(container_port)
                            .protocol(aws_sdk_ecs::types::TransportProtocol::Tcp)
                            .build(),
                    )
                    .environment(
                        KeyValuePair::builder()
                            .name("FLASK_APP")
                            .value("hello")
                            .build(),
                    )
                    .environment(
                        KeyValuePair::builder()
                            .name("FLASK_ENV")
                            .value("production")
                            .build(),
                    )
                    .log_configuration(
                        LogConfiguration::builder()
                            .log_driver(LogDriver::Awslogs)
                            .options("awslogs-group", "/ecs/simhill-dev")
                            .options("awslogs-region", REGION)
                            .options("awslogs-stream-prefix", "ecs")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .set_tags(Some(ecs_tags()))
            .send(),
    )
    .unwrap();
    let revision = task
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_owned();
    // The state's copy of the containers: the port Terraform's code says, 5000.
    let container_definitions = json!([{
        "name": "simhill-dev-container", "image": image, "essential": true,
        "portMappings": [{"containerPort": 5000, "hostPort": 5000, "protocol": "tcp"}],
        "environment": [{"name": "FLASK_APP", "value": "hello"},
                        {"name": "FLASK_ENV", "value": "production"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/simhill-dev", "awslogs-region": REGION,
            "awslogs-stream-prefix": "ecs"}},
        "mountPoints": [], "volumesFrom": [], "systemControls": []
    }]);
    resources.push((
        "aws_ecs_task_definition.app".to_owned(),
        "aws_ecs_task_definition".to_owned(),
        json!({"id": "simhill-dev-task", "arn": revision, "family": "simhill-dev-task",
               "revision": 1, "cpu": "256", "memory": "512", "network_mode": "awsvpc",
               "requires_compatibilities": ["FARGATE"], "execution_role_arn": role_arn,
               "task_role_arn": task_role_arn, "runtime_platform": [],
               "container_definitions": container_definitions.to_string(),
               "tags": tf_tags()}),
    ));
    let service = block_on(
        ecs.create_service()
            .cluster("simhill-dev-cluster")
            .service_name("simhill-dev-service")
            .task_definition(&revision)
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        AwsVpcConfiguration::builder()
                            .set_subnets(Some(subnets.clone()))
                            .security_groups(&tasks_sg)
                            .assign_public_ip(if public_ip {
                                AssignPublicIp::Enabled
                            } else {
                                AssignPublicIp::Disabled
                            })
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .load_balancers(
                EcsLoadBalancer::builder()
                    .target_group_arn(&tg_arn)
                    .container_name("simhill-dev-container")
                    .container_port(5000)
                    .build(),
            )
            .set_tags(Some(ecs_tags()))
            .send(),
    )
    .unwrap();
    let service_arn = service.service().unwrap().service_arn().unwrap().to_owned();
    resources.push((
        "aws_ecs_service.app".to_owned(),
        "aws_ecs_service".to_owned(),
        json!({"id": service_arn, "name": "simhill-dev-service", "cluster": cluster_arn,
               "task_definition": revision, "desired_count": 2, "launch_type": "FARGATE",
               "deployment_minimum_healthy_percent": 100, "deployment_maximum_percent": 200,
               "health_check_grace_period_seconds": 0,
               "deployment_circuit_breaker": [],
               "capacity_provider_strategy": [],
               "load_balancer": [{"target_group_arn": tg_arn, "elb_name": "",
                   "container_name": "simhill-dev-container", "container_port": 5000}],
               "network_configuration": [{"subnets": subnets, "security_groups": [tasks_sg],
                   "assign_public_ip": public_ip}],
               "tags": tf_tags()}),
    ));
    // A resource of a kind this tool does not manage, in the same state.
    resources.push((
        "aws_s3_bucket.assets".to_owned(),
        "aws_s3_bucket".to_owned(),
        json!({"id": "simhill-dev-assets", "bucket": "simhill-dev-assets"}),
    ));
    OldStack {
        resources,
        lb_dns_name,
        revision,
    }
}

/// The state as `terraform show -json` prints it (format 1.0), the service in a child module.
fn show_json(stack: &OldStack) -> String {
    let resource = |(address, kind, values): &(String, String, Value)| {
        let data = address.starts_with("data.");
        let name = address.rsplit('.').next().unwrap_or_default();
        json!({"address": address, "mode": if data { "data" } else { "managed" },
               "type": kind, "name": name,
               "provider_name": "registry.terraform.io/hashicorp/aws",
               "schema_version": 0, "values": values, "sensitive_values": {}})
    };
    let (service, root): (Vec<_>, Vec<_>) = stack
        .resources
        .iter()
        .partition(|(address, ..)| address == "aws_ecs_service.app");
    let service: Vec<Value> = service
        .iter()
        .map(|(address, kind, values)| {
            resource(&(
                format!("module.app.{address}"),
                kind.clone(),
                values.clone(),
            ))
        })
        .collect();
    json!({
        "format_version": "1.0",
        "terraform_version": "1.7.5",
        "values": {"outputs": {}, "root_module": {
            "resources": root.iter().map(|r| resource(r)).collect::<Vec<_>>(),
            "child_modules": [{"address": "module.app", "resources": service}]
        }}
    })
    .to_string()
}

/// The same as a raw `terraform.tfstate` (version 4).
fn raw_state(stack: &OldStack) -> String {
    let resources: Vec<Value> = stack
        .resources
        .iter()
        .map(|(address, kind, values)| {
            let data = address.starts_with("data.");
            let name = address.rsplit('.').next().unwrap_or_default();
            let mut resource = json!({"mode": if data { "data" } else { "managed" }, "type": kind, "name": name,
                   "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                   "instances": [{"schema_version": 0, "attributes": values,
                                  "sensitive_attributes": []}]});
            // The service in a child module, as in the show -json fixture.
            if address == "aws_ecs_service.app" {
                resource["module"] = json!("module.app");
            }
            resource
        })
        .collect();
    json!({"version": 4, "terraform_version": "1.7.5", "serial": 7,
           "lineage": "3f1c2d4e-0000-4000-8000-000000000000", "outputs": {},
           "resources": resources})
    .to_string()
}

fn run(env: &TestEnv, args: &[&str]) -> (i32, String, String) {
    let output = env.deployer().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let code = output.status.code().unwrap_or(-1);
    assert_ne!(code, 101, "deployer {args:?} panicked: {stderr}");
    (code, stdout, stderr)
}

fn lb_dns_name(env: &TestEnv) -> String {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&env.sdk_config());
    let lbs = block_on(
        elb.describe_load_balancers()
            .names("simhill-dev-alb")
            .send(),
    )
    .unwrap();
    lbs.load_balancers()[0].dns_name().unwrap().to_owned()
}

/// The whole path: import, then apply only tags (and sets what import could not carry over in
/// place), and a second apply changes nothing.
fn takes_over(fixture_name: &str, fixture: fn(&OldStack) -> String) {
    let env = TestEnv::start();
    let stack = build_old_stack(&env, 5000);
    let fixture_path = env.dir.path().join(fixture_name);
    std::fs::write(&fixture_path, fixture(&stack)).unwrap();

    env.proxy.clear();
    let (code, stdout, stderr) = run(
        &env,
        &["import", "--from-terraform", fixture_name, "--env", "dev"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        env.proxy.mutating_calls(),
        [],
        "import writes nothing to AWS"
    );
    assert!(
        stderr.contains("Left to Terraform: aws_s3_bucket.assets"),
        "{stderr}"
    );

    // The configuration: the stack's values, and the names off the pattern.
    let written = std::fs::read_to_string(env.dir.path().join("envs/dev.toml")).unwrap();
    let config: toml::Value = toml::from_str(&written).unwrap();
    assert_eq!(config["project"].as_str(), Some("simhill"));
    assert_eq!(config["region"].as_str(), Some(REGION));
    assert_eq!(config["container"]["port"].as_integer(), Some(5000));
    assert_eq!(
        config["container"]["environment"]["FLASK_APP"].as_str(),
        Some("hello")
    );
    assert_eq!(config["logs"]["retention_days"].as_integer(), Some(7));
    assert_eq!(
        config["load_balancer"]["deregistration_delay_seconds"].as_integer(),
        Some(300)
    );
    assert_eq!(config["service"]["circuit_breaker"].as_bool(), Some(false));
    // The default VPC's default subnets, with public IPs: where a stack without [network] runs.
    assert!(config.get("network").is_none(), "{written}");
    let names = config["names"].as_table().unwrap();
    assert_eq!(
        names["ecs_security_group"].as_str(),
        Some("simhill-dev-ecs-tasks-sg")
    );
    assert_eq!(names["log_group"].as_str(), Some("/ecs/simhill-dev"));
    assert_eq!(names["container"].as_str(), Some("simhill-dev-container"));
    assert_eq!(names["ecr_repository"].as_str(), Some("flask-tp-app"));
    // Names that follow the pattern are not written.
    assert!(!names.contains_key("load_balancer"), "{names:?}");
    assert!(!names.contains_key("alb_security_group"), "{names:?}");

    // The state records every resource, as taken over.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join(".deployer/dev.json")).unwrap(),
    )
    .unwrap();
    let recorded = state["resources"].as_object().unwrap();
    assert_eq!(recorded.len(), 11, "{recorded:?}");
    assert_eq!(recorded["task_definition"]["id"], stack.revision.as_str());
    assert!(
        recorded.values().all(|r| r["imported"] == true),
        "{recorded:?}"
    );

    // removed.tf forgets every resource taken over, and not the others.
    let removed = std::fs::read_to_string(env.dir.path().join("removed.tf")).unwrap();
    for address in [
        "aws_lb.main",
        "aws_lb_listener.app",
        "aws_security_group.ecs_tasks",
        "aws_iam_role_policy_attachment.ecs_task_execution_role_policy",
        "module.app.aws_ecs_service.app",
    ] {
        assert!(
            removed.contains(&format!("removed {{\n  from = {address}\n")),
            "{address}: {removed}"
        );
    }
    assert!(
        !removed.contains("aws_s3_bucket") && !removed.contains("data."),
        "{removed}"
    );
    assert_eq!(
        removed.matches("removed {").count(),
        removed.matches("destroy = false").count()
    );

    // The printed plan: tags only.
    let changed: Vec<&str> = stdout.lines().filter(|l| l.contains(" -> ")).collect();
    assert!(changed.iter().all(|l| l.contains("tags")), "{stdout}");
    assert!(
        std::fs::read_to_string(env.dir.path().join("envs/dev.toml"))
            .unwrap()
            .contains("keep_images = 0"),
        "the repository had no lifecycle policy"
    );
    assert!(
        stdout.contains("Plan of the next apply: 0 to create,") && stdout.contains("0 to delete."),
        "{stdout}"
    );

    env.proxy.clear();
    let (code, stdout, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let mutating: Vec<String> = env
        .proxy
        .mutating_calls()
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    // Only tags: nothing created, deleted, registered or deployed, and no lifecycle policy.
    for operation in &mutating {
        assert!(
            TAKEOVER_CALLS.contains(&operation.as_str()),
            "{operation} in {mutating:?}"
        );
    }
    assert!(mutating.contains(&"TagRole".to_owned()), "{mutating:?}");
    assert_eq!(lb_dns_name(&env), stack.lb_dns_name);
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let services = block_on(
        ecs.describe_services()
            .cluster("simhill-dev-cluster")
            .services("simhill-dev-service")
            .send(),
    )
    .unwrap();
    assert_eq!(
        services.services()[0].task_definition(),
        Some(stack.revision.as_str())
    );
    // Tagged as this stack's now, and the record no longer says "imported".
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join(".deployer/dev.json")).unwrap(),
    )
    .unwrap();
    let unmarked = state["resources"]
        .as_object()
        .unwrap()
        .values()
        .all(|r| r.get("imported").is_none());
    assert!(unmarked, "{state}");

    env.proxy.clear();
    env.deployer()
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(0);
}

/// Only these calls change anything when a stack taken over is first applied: tags. (The old
/// stack's repository has no lifecycle policy, and the import sets none: `ecr.keep_images = 0`.)
const TAKEOVER_CALLS: [&str; 5] = [
    "TagResource",
    "TagRole",
    "CreateTags",
    "AddTags",
    "TagLogGroup",
];

/// A stack in a VPC of its own (private subnets for the tasks, without public IPs; public ones
/// for the load balancer) is imported with a `[network]` table, and apply then creates,
/// replaces and deletes nothing, registers no revision and starts no deployment. The VPC and
/// its subnets stay Terraform's.
#[test]
fn import_of_a_stack_in_its_own_vpc_writes_network_and_only_tags_the_stack() {
    let env = TestEnv::start();
    let stack = build_stack(&env, 5000, Placement::OwnVpc, false);
    std::fs::write(env.dir.path().join("tf-state.json"), show_json(&stack)).unwrap();
    let network = |address: &str| {
        stack
            .resources
            .iter()
            .find(|(a, ..)| a == address)
            .map(|(_, _, values)| values["id"].as_str().unwrap().to_owned())
            .unwrap()
    };

    env.proxy.clear();
    let (code, stdout, stderr) = run(
        &env,
        &[
            "import",
            "--from-terraform",
            "tf-state.json",
            "--env",
            "dev",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        !stderr.contains("warning"),
        "a network that works: {stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "import writes nothing");
    for address in [
        "aws_vpc.main",
        "aws_internet_gateway.main",
        "aws_nat_gateway.main",
        "aws_route_table.private",
        "aws_subnet.private_a",
        "aws_subnet.public_b",
    ] {
        assert!(
            stderr.contains(&format!("Left to Terraform: {address}")),
            "{address}: {stderr}"
        );
    }
    let written = std::fs::read_to_string(env.dir.path().join("envs/dev.toml")).unwrap();
    let config: toml::Value = toml::from_str(&written).unwrap();
    let table = &config["network"];
    assert_eq!(
        table["vpc_id"].as_str(),
        Some(network("aws_vpc.main").as_str()),
        "{written}"
    );
    let ids = |key: &str| -> Vec<String> {
        table[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids("subnets"),
        [
            network("aws_subnet.private_a"),
            network("aws_subnet.private_b")
        ]
    );
    assert_eq!(
        ids("load_balancer_subnets"),
        [
            network("aws_subnet.public_a"),
            network("aws_subnet.public_b")
        ]
    );
    assert_eq!(table["assign_public_ip"].as_bool(), Some(false));
    let removed = std::fs::read_to_string(env.dir.path().join("removed.tf")).unwrap();
    assert!(
        !removed.contains("aws_vpc") && !removed.contains("aws_subnet"),
        "{removed}"
    );
    assert!(
        stdout.contains("Plan of the next apply: 0 to create,") && stdout.contains("0 to delete."),
        "{stdout}"
    );

    env.proxy.clear();
    let (code, stdout, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let mutating: Vec<String> = env
        .proxy
        .mutating_calls()
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    for operation in &mutating {
        assert!(
            TAKEOVER_CALLS.contains(&operation.as_str()),
            "{operation} in {mutating:?}"
        );
    }
    assert_eq!(lb_dns_name(&env), stack.lb_dns_name);
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let services = block_on(
        ecs.describe_services()
            .cluster("simhill-dev-cluster")
            .services("simhill-dev-service")
            .send(),
    )
    .unwrap();
    let service = &services.services()[0];
    assert_eq!(service.task_definition(), Some(stack.revision.as_str()));
    assert_eq!(service.deployments().len(), 1, "no new deployment");
    let vpc = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .unwrap();
    assert_eq!(vpc.assign_public_ip(), Some(&AssignPublicIp::Disabled));
    let mut subnets = vpc.subnets().to_vec();
    subnets.sort();
    let mut private = [
        network("aws_subnet.private_a"),
        network("aws_subnet.private_b"),
    ];
    private.sort();
    assert_eq!(subnets, private);

    env.deployer()
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(0);
}

/// The old stack's task role, with its inline policy, becomes `[task_role]` (its statements)
/// and `[names]` (the role's and the policy's names): apply tags the role, narrows its trust
/// to this account (the one setting deployer adds), and leaves the policy as it is.
#[test]
fn import_of_a_task_role_with_an_inline_policy_keeps_the_policy() {
    let env = TestEnv::start();
    let stack = build_stack(&env, 5000, Placement::DefaultVpc, true);
    std::fs::write(env.dir.path().join("tf-state.json"), show_json(&stack)).unwrap();
    let (code, stdout, stderr) = run(
        &env,
        &[
            "import",
            "--from-terraform",
            "tf-state.json",
            "--env",
            "dev",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let written = std::fs::read_to_string(env.dir.path().join("envs/dev.toml")).unwrap();
    let config: toml::Value = toml::from_str(&written).unwrap();
    assert_eq!(
        config["names"]["task_role"].as_str(),
        Some("simhill-dev-ecs-task-role")
    );
    assert_eq!(
        config["names"]["task_role_policy"].as_str(),
        Some("simhill-dev-task-policy")
    );
    let statements = config["task_role"]["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{written}");
    assert_eq!(
        statements[1]["conditions"]["StringEquals"]["aws:ResourceAccount"][0].as_str(),
        Some("123456789012")
    );
    let removed = std::fs::read_to_string(env.dir.path().join("removed.tf")).unwrap();
    for address in [
        "aws_iam_role.ecs_task_role",
        "aws_iam_role_policy.ecs_task_policy",
    ] {
        assert!(
            removed.contains(&format!("from = {address}\n")),
            "{removed}"
        );
    }

    env.proxy.clear();
    let (code, stdout, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let mutating: Vec<String> = env
        .proxy
        .mutating_calls()
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    for operation in &mutating {
        assert!(
            TAKEOVER_CALLS.contains(&operation.as_str()) || operation == "UpdateAssumeRolePolicy",
            "{operation} in {mutating:?}"
        );
    }
    let iam = aws_sdk_iam::Client::new(&env.sdk_config());
    let policies = block_on(
        iam.list_role_policies()
            .role_name("simhill-dev-ecs-task-role")
            .send(),
    )
    .unwrap();
    assert_eq!(policies.policy_names(), ["simhill-dev-task-policy"]);
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let services = block_on(
        ecs.describe_services()
            .cluster("simhill-dev-cluster")
            .services("simhill-dev-service")
            .send(),
    )
    .unwrap();
    assert_eq!(
        services.services()[0].task_definition(),
        Some(stack.revision.as_str())
    );
    env.deployer()
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(0);
}

#[test]
fn import_of_the_terraform_show_json_only_tags_the_stack() {
    takes_over("tf-state.json", show_json);
}

#[test]
fn import_of_a_raw_tfstate_only_tags_the_stack() {
    takes_over("terraform.tfstate", raw_state);
}

/// The state says port 5000, the running revision listens on 8080: taking over would register
/// a new revision and deploy it, so import refuses, names the setting and records nothing.
#[test]
fn import_refuses_when_the_running_stack_differs_from_its_state() {
    let env = TestEnv::start();
    let stack = build_old_stack(&env, 8080);
    std::fs::write(env.dir.path().join("tf-state.json"), show_json(&stack)).unwrap();
    env.proxy.clear();
    let (code, stdout, stderr) = run(
        &env,
        &[
            "import",
            "--from-terraform",
            "tf-state.json",
            "--env",
            "dev",
        ],
    );
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("task_definition.container_port (8080 -> 5000)"),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), []);
    assert!(!env.dir.path().join(".deployer/dev.json").exists());
    assert!(!env.dir.path().join("removed.tf").exists());
}

#[test]
fn import_accepted_a_stale_state_whose_apply_shrinks_the_service() {
    // Six tasks ran (scaled by hand, or by an autoscaler Terraform ignores) while the state
    // said two: the first apply would have scaled production down.
    let env = TestEnv::start();
    let stack = build_old_stack(&env, 5000);
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    block_on(
        ecs.update_service()
            .cluster("simhill-dev-cluster")
            .service("simhill-dev-service")
            .desired_count(6)
            .send(),
    )
    .unwrap();
    std::fs::write(env.dir.path().join("tf-state.json"), show_json(&stack)).unwrap();
    env.proxy.clear();
    let (code, stdout, stderr) = run(
        &env,
        &[
            "import",
            "--from-terraform",
            "tf-state.json",
            "--env",
            "dev",
        ],
    );
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("service.desired_count (6 -> 2)")
            && stderr.contains("differs from the Terraform state"),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), []);
    assert!(!env.dir.path().join(".deployer/dev.json").exists());
    assert!(!env.dir.path().join("removed.tf").exists());
}

#[test]
fn import_of_an_unsupported_state_says_what_is_read_and_calls_nothing() {
    let env = TestEnv::offline();
    for (doc, expected) in [
        (r#"{"format_version": "2.0"}"#, "format 1.x"),
        (r#"{"version": 3, "modules": []}"#, "version 4"),
        ("not json", "is not JSON"),
    ] {
        std::fs::write(env.dir.path().join("state.json"), doc).unwrap();
        let (code, _, stderr) = run(
            &env,
            &["import", "--from-terraform", "state.json", "--env", "dev"],
        );
        assert_eq!(code, 3, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stderr.contains("state.json"), "{stderr}");
    }
    assert_eq!(env.proxy.calls(), []);
    assert!(!env.dir.path().join("envs").exists());
}

/// The old stack, imported from its `terraform show -json` and applied (which tags it).
fn imported_and_applied(env: &TestEnv) -> OldStack {
    let stack = build_old_stack(env, 5000);
    std::fs::write(env.dir.path().join("tf-state.json"), show_json(&stack)).unwrap();
    let (code, stdout, stderr) = run(
        env,
        &[
            "import",
            "--from-terraform",
            "tf-state.json",
            "--env",
            "dev",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr) = run(env, &["apply", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    stack
}

#[test]
fn import_took_over_a_stack_another_deployer_environment_owns() {
    // The dev stack, imported and applied, is deployer's now; importing the same Terraform
    // state as qa made the two environments fight over its tags, and destroying qa deleted it.
    let env = TestEnv::start();
    imported_and_applied(&env);
    let qa = env.dir.path().join("qa");
    std::fs::create_dir_all(&qa).unwrap();
    env.proxy.clear();
    let output = env
        .deployer_process()
        .current_dir(&qa)
        .args([
            "import",
            "--from-terraform",
            "../tf-state.json",
            "--env",
            "qa",
            "--removed-tf",
            "removed.tf",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("already managed by deployer (") && stderr.contains("Environment=dev"),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");
    assert!(!qa.join(".deployer/qa.json").exists());
    assert!(!qa.join("removed.tf").exists());
}

/// The number of images in `repository`, or `None` when it does not exist.
fn images_in(env: &TestEnv, repository: &str) -> Option<usize> {
    let ecr = aws_sdk_ecr::Client::new(&env.sdk_config());
    match block_on(ecr.describe_images().repository_name(repository).send()) {
        Ok(answer) => Some(answer.image_details().len()),
        Err(e) if format!("{:?}", e).contains("RepositoryNotFoundException") => None,
        Err(e) => panic!("describing the images of {repository}: {e:?}"),
    }
}

fn log_group_exists(env: &TestEnv, name: &str) -> bool {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk_config());
    let answer = block_on(
        logs.describe_log_groups()
            .log_group_name_prefix(name)
            .send(),
    )
    .unwrap();
    answer
        .log_groups()
        .iter()
        .any(|g| g.log_group_name() == Some(name))
}

/// The repository the old stack pushed its images to was not created by deployer: `destroy`
/// deletes the rest of the stack and keeps the repository with its three images, says so in its
/// plan and its summary, and exits 0; so does a destroy that lost the state (the repository's
/// `AdoptedBy` tag says it, not the state). `--force-delete-images` deletes it.
#[test]
fn destroy_after_import_keeps_the_repository_and_its_three_images() {
    let env = TestEnv::start();
    imported_and_applied(&env);
    let arn = format!("arn:aws:ecr:{REGION}:123456789012:repository/flask-tp-app");
    let tags = crate::stack::repository_tags(&env, &arn);
    assert_eq!(
        tags.get("AdoptedBy").map(String::as_str),
        Some("deployer"),
        "{tags:?}"
    );

    let (code, stdout, stderr) = run(&env, &["destroy", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let kept = "it holds 3 images and deployer did not create it";
    let plan_end = stderr.find("Plan: ").expect(&stderr);
    let in_plan = stderr[..plan_end].find(kept).expect(&stderr);
    assert!(
        stderr[..in_plan].contains("ECR repository             kept         flask-tp-app"),
        "{stderr}"
    );
    assert!(stderr.contains("`deployer destroy --force-delete-images` deletes it"));
    assert!(
        stderr.contains("; kept: ECR repository flask-tp-app (it holds 3 images"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("deleted with every image in it"),
        "{stderr}"
    );
    assert_eq!(images_in(&env, "flask-tp-app"), Some(3));
    assert_eq!(
        crate::stack::Stack::read(&env).leftovers(),
        Vec::<String>::new()
    );
    assert!(!log_group_exists(&env, "/ecs/simhill-dev"));
    assert!(!env
        .proxy
        .calls()
        .iter()
        .any(|c| c.operation == "DeleteRepository"));

    // The state is a cache: without it, the repository's tag still says deployer did not
    // create it.
    std::fs::remove_dir_all(env.dir.path().join(".deployer")).unwrap();
    let (code, stdout, stderr) = run(&env, &["destroy", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains(kept), "{stderr}");
    assert!(stderr.contains("Nothing to destroy"), "{stderr}");
    assert_eq!(images_in(&env, "flask-tp-app"), Some(3));

    let (code, stdout, stderr) = run(&env, &["plan", "--destroy", "--force-delete-images"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("flask-tp-app"), "{stdout}");
    assert!(
        stdout.contains("Plan: 0 to create, 0 to update, 1 to delete."),
        "{stdout}"
    );

    let (code, stdout, stderr) = run(&env, &["destroy", "--yes", "--force-delete-images"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("Destroy complete: 1 deleted."), "{stderr}");
    assert_eq!(images_in(&env, "flask-tp-app"), None);
}

/// A repository found under the stack's name without its tags and taken over by `apply
/// --adopt` is not deployer's either: kept while it holds images; once empty, deleted (without
/// `force`, so an image pushed meanwhile would stop the delete rather than go with it).
#[test]
fn destroy_after_adopt_keeps_a_repository_it_did_not_create() {
    let env = crate::lifecycle::dev_env();
    let ecr = aws_sdk_ecr::Client::new(&env.sdk_config());
    block_on(
        ecr.create_repository()
            .repository_name("simhill-dev-ecr")
            .send(),
    )
    .unwrap();
    let digest = crate::rollout::push_image(&env, "v1");
    let (code, stdout, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 1, "not ours without --adopt: {stdout}\n{stderr}");
    let (code, stdout, stderr) = run(&env, &["apply", "--yes", "--adopt"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    let (code, stdout, stderr) = run(&env, &["plan", "--destroy"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("it holds 1 image and deployer did not create it"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(&env, &["destroy", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("; kept: ECR repository simhill-dev-ecr"),
        "{stderr}"
    );
    assert_eq!(images_in(&env, "simhill-dev-ecr"), Some(1));
    assert_eq!(
        crate::stack::Stack::read(&env).leftovers(),
        ["repository Some(\"simhill-dev-ecr\")"]
    );

    // Emptied by hand: nothing is lost by deleting it.
    block_on(
        ecr.batch_delete_image()
            .repository_name("simhill-dev-ecr")
            .image_ids(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(digest)
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let (code, stdout, stderr) = run(&env, &["destroy", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("Destroy complete: 1 deleted."), "{stderr}");
    assert_eq!(images_in(&env, "simhill-dev-ecr"), None);
}

/// While another run holds the environment's lock, import is refused with the usual lock error
/// before it writes anything: no configuration, no state, no removed.tf, and no AWS call.
#[test]
fn import_while_another_run_holds_the_lock_is_refused_and_writes_nothing() {
    let env = TestEnv::offline();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/terraform/old-stack.show.json"
        ),
        env.dir.path().join("tf-state.json"),
    )
    .unwrap();
    let state_dir = env.dir.path().join(".deployer");
    std::fs::create_dir_all(&state_dir).unwrap();
    // Held by a run that is alive on this host: this test's own process.
    std::fs::write(
        state_dir.join("dev.lock"),
        json!({"pid": std::process::id(), "host": crate::locking::this_host(),
               "started_at": 0, "command": "apply"})
        .to_string(),
    )
    .unwrap();
    let (code, stdout, stderr) = run(
        &env,
        &[
            "import",
            "--from-terraform",
            "tf-state.json",
            "--env",
            "dev",
        ],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "locked by `deployer apply` (pid {}",
            std::process::id()
        )),
        "{stderr}"
    );
    assert!(!env.dir.path().join("envs").exists(), "a configuration");
    assert!(!state_dir.join("dev.json").exists(), "a state");
    assert!(!env.dir.path().join("removed.tf").exists(), "removed.tf");
    assert!(state_dir.join("dev.lock").exists(), "the holder's lock");
    assert_eq!(env.proxy.calls(), []);
}

/// Import holds the lock that apply holds, and reads the state once: on S3, one `GetObject`
/// of the state between the lock's conditional `PutObject` and its `DeleteObject`.
#[test]
fn import_to_s3_takes_the_lock_and_reads_the_state_once() {
    let env = TestEnv::start();
    let stack = build_old_stack(&env, 5000);
    std::fs::write(env.dir.path().join("tf-state.json"), show_json(&stack)).unwrap();
    let s3 = crate::s3_state::s3(&env);
    block_on(
        s3.create_bucket()
            .bucket("team-deployer-state")
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send(),
    )
    .unwrap();
    env.proxy.clear();
    let (code, stdout, stderr) = run(
        &env,
        &[
            "import",
            "--from-terraform",
            "tf-state.json",
            "--env",
            "dev",
            "--state",
            "s3://team-deployer-state/deployer/",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let s3_calls: Vec<String> = env
        .proxy
        .operations()
        .into_iter()
        .filter(|op| op.starts_with("s3:"))
        .collect();
    assert_eq!(
        s3_calls,
        [
            "s3:PutObject",
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject"
        ],
        "lock, state read, state write, unlock"
    );
    let state: Value =
        serde_json::from_str(&crate::s3_state::object(&env, "deployer/simhill/dev.json").unwrap())
            .unwrap();
    assert_eq!(state["resources"].as_object().unwrap().len(), 11, "{state}");
    assert_eq!(
        crate::s3_state::object(&env, "deployer/simhill/dev.lock"),
        None
    );
    // The written configuration keeps its state there: the next plan finds it untold.
    let written = std::fs::read_to_string(env.dir.path().join("envs/dev.toml")).unwrap();
    assert!(written.contains("backend = \"s3\""), "{written}");
    env.deployer().args(["plan"]).assert().success();
}
