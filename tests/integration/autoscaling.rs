//! `[autoscaling]`: the scalable target and its target tracking policies are made, repaired and
//! removed like every other resource, and the service's desired count is theirs (or `deployer
//! scale`'s), never `apply`'s.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use serde_json::Value;

use crate::drift::plan_json;
use crate::lifecycle::DEV_TOML;
use crate::rollout::push_image;
use crate::stack::{owner_tags, PREFIX};
use crate::support::{block_on, TestEnv};

const CLUSTER: &str = "simhill-dev-cluster";
const SERVICE: &str = "simhill-dev-service";
const RESOURCE_ID: &str = "service/simhill-dev-cluster/simhill-dev-service";

/// The shipped configuration with autoscaling between 2 and 8 tasks on CPU and requests.
pub fn autoscaling_toml() -> String {
    format!(
        "{DEV_TOML}\n[autoscaling]\nmin = 2\nmax = 8\ncpu_percent = 60\nrequests_per_target = 1000\n\
         scale_in_cooldown = 120\nscale_out_cooldown = 30\n"
    )
}

fn autoscaling_env() -> TestEnv {
    let env = TestEnv::start();
    env.write_config("dev", &autoscaling_toml());
    env
}

fn run(env: &TestEnv, args: &[&str]) -> String {
    let output = env.deployer().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "deployer {args:?} failed: {stderr}"
    );
    stderr
}

fn client(env: &TestEnv) -> aws_sdk_applicationautoscaling::Client {
    aws_sdk_applicationautoscaling::Client::new(&env.sdk_config())
}

fn ecs(env: &TestEnv) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&env.sdk_config())
}

/// The service's desired count, read directly from the emulator.
fn desired_count(env: &TestEnv) -> i32 {
    let answer = block_on(
        ecs(env)
            .describe_services()
            .cluster(CLUSTER)
            .services(SERVICE)
            .send(),
    )
    .unwrap();
    answer.services()[0].desired_count()
}

fn set_desired_count(env: &TestEnv, count: i32) {
    block_on(
        ecs(env)
            .update_service()
            .cluster(CLUSTER)
            .service(SERVICE)
            .desired_count(count)
            .send(),
    )
    .unwrap();
}

/// The scalable target's (min, max, ARN), if it is registered.
fn scalable_target(env: &TestEnv) -> Option<(i32, i32, String)> {
    let answer = block_on(
        client(env)
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(RESOURCE_ID)
            .send(),
    )
    .unwrap();
    answer.scalable_targets().first().map(|t| {
        (
            t.min_capacity(),
            t.max_capacity(),
            t.scalable_target_arn().unwrap().to_owned(),
        )
    })
}

/// The policies on the service's target: name -> (metric, target value, resource label).
fn policies(env: &TestEnv) -> BTreeMap<String, (String, f64, Option<String>)> {
    let answer = block_on(
        client(env)
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(RESOURCE_ID)
            .send(),
    )
    .unwrap();
    answer
        .scaling_policies()
        .iter()
        .map(|p| {
            let config = p.target_tracking_scaling_policy_configuration().unwrap();
            let metric = config.predefined_metric_specification().unwrap();
            (
                p.policy_name().to_owned(),
                (
                    metric.predefined_metric_type().as_str().to_owned(),
                    config.target_value(),
                    metric.resource_label().map(str::to_owned),
                ),
            )
        })
        .collect()
}

/// `app/<lb>/<id>/targetgroup/<tg>/<id>` of the stack's load balancer and the target group the
/// listener forwards to.
fn resource_label(env: &TestEnv) -> String {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&env.sdk_config());
    let balancers = block_on(
        elb.describe_load_balancers()
            .names(format!("{PREFIX}-alb"))
            .send(),
    )
    .unwrap();
    let balancer = balancers.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_owned();
    let listeners = block_on(elb.describe_listeners().load_balancer_arn(&balancer).send()).unwrap();
    let group = listeners.listeners()[0].default_actions()[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    format!(
        "{}/targetgroup/{}",
        balancer.split_once(":loadbalancer/").unwrap().1,
        group.split_once(":targetgroup/").unwrap().1
    )
}

/// The steps a plan would change, with their changed fields.
fn changed(plan: &Value) -> Vec<(String, Vec<String>)> {
    plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !matches!(r["action"].as_str(), Some("no-change" | "read")))
        .map(|r| {
            let fields = r["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["field"].as_str().unwrap().to_owned())
                .collect();
            (r["step"].as_str().unwrap().to_owned(), fields)
        })
        .collect()
}

fn assert_configured_autoscaling(env: &TestEnv) {
    let (min, max, arn) = scalable_target(env).expect("the scalable target is registered");
    assert_eq!((min, max), (2, 8));
    let tags = block_on(
        client(env)
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send(),
    )
    .unwrap();
    let tags: BTreeMap<String, String> = tags
        .tags()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    assert_eq!(tags, owner_tags());
    let label = resource_label(env);
    assert_eq!(
        policies(env),
        BTreeMap::from([
            (
                format!("{SERVICE}-cpu"),
                ("ECSServiceAverageCPUUtilization".to_owned(), 60.0, None)
            ),
            (
                format!("{SERVICE}-requests"),
                ("ALBRequestCountPerTarget".to_owned(), 1000.0, Some(label))
            ),
        ])
    );
}

#[test]
fn every_image_deploy_fights_autoscaling() {
    let env = autoscaling_env();
    run(&env, &["apply", "--yes"]);
    assert_configured_autoscaling(&env);
    assert_eq!(
        desired_count(&env),
        2,
        "the count a new service starts with"
    );

    // Autoscaling (or a person) has the service at 6 tasks.
    set_desired_count(&env, 6);
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 0, "a count autoscaling set is no drift: {plan:#}");

    push_image(&env, "v2");
    env.proxy.clear();
    run(&env, &["apply", "--yes", "--image-tag", "v2"]);
    assert_eq!(
        env.proxy.count("UpdateService"),
        1,
        "{:?}",
        env.proxy.operations()
    );
    assert_eq!(desired_count(&env), 6, "the deploy left the count alone");
    let answer = block_on(
        ecs(&env)
            .describe_services()
            .cluster(CLUSTER)
            .services(SERVICE)
            .send(),
    )
    .unwrap();
    assert!(
        answer.services()[0]
            .task_definition()
            .unwrap()
            .ends_with(":2"),
        "the image was deployed: {:?}",
        answer.services()[0].task_definition()
    );

    // A no-op apply adds only the two autoscaling reads to what the stack reads anyway.
    env.proxy.clear();
    run(&env, &["apply", "--yes"]);
    // The two reads run at the same time, in either order.
    let mut autoscaling_calls: Vec<String> = env
        .proxy
        .calls()
        .iter()
        .filter(|c| c.service == "application-autoscaling")
        .map(|c| c.operation.clone())
        .collect();
    autoscaling_calls.sort();
    assert_eq!(
        autoscaling_calls,
        ["DescribeScalableTargets", "DescribeScalingPolicies"]
    );
    assert!(
        env.proxy.calls().len() <= 17,
        "{:?}",
        env.proxy.operations()
    );
    assert_eq!(desired_count(&env), 6);

    // `scale` within the range sets the count now; outside it, nothing is called.
    env.proxy.clear();
    run(&env, &["scale", "4", "--yes"]);
    assert_eq!(desired_count(&env), 4);
    assert_eq!(
        env.proxy.mutating_calls().len(),
        1,
        "{:?}",
        env.proxy.operations()
    );
    env.proxy.clear();
    let output = env
        .deployer()
        .args(["scale", "9", "--yes"])
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(
        stderr.contains("outside the [autoscaling] range 2-8"),
        "{stderr}"
    );
    assert_eq!(env.proxy.calls(), [], "no AWS call for a refused count");
    assert_eq!(desired_count(&env), 4);
}

#[test]
fn autoscaling_drift_is_repaired_and_removing_the_table_removes_it() {
    let env = autoscaling_env();
    run(&env, &["apply", "--yes"]);

    // Behind the tool's back: a wider range, and the CPU policy's target changed.
    let aas = client(&env);
    block_on(
        aas.register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(RESOURCE_ID)
            .min_capacity(1)
            .max_capacity(20)
            .send(),
    )
    .unwrap();
    block_on(
        aas.put_scaling_policy()
            .policy_name(format!("{SERVICE}-cpu"))
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(RESOURCE_ID)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(
                TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(90.0)
                    .predefined_metric_specification(
                        PredefinedMetricSpecification::builder()
                            .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send(),
    )
    .unwrap();
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    assert_eq!(
        changed(&plan),
        [
            (
                "scalable_target".to_owned(),
                vec!["min".to_owned(), "max".to_owned()]
            ),
            (
                "scaling_policies".to_owned(),
                vec!["cpu_percent".to_owned()]
            ),
        ],
        "{plan:#}"
    );
    run(&env, &["apply", "--yes"]);
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 0, "apply repaired the drift: {plan:#}");
    assert_configured_autoscaling(&env);

    // Without [autoscaling], apply deregisters the target and deletes the policies, and the
    // configured desired_count is the service's again.
    set_desired_count(&env, 5);
    env.write_config("dev", DEV_TOML);
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    let actions: Vec<(&str, &str)> = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] != "no-change" && r["action"] != "read")
        .map(|r| (r["step"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("service", "update"),
            ("scalable_target", "delete"),
            ("scaling_policies", "delete"),
        ],
        "{plan:#}"
    );
    run(&env, &["apply", "--yes"]);
    assert_eq!(scalable_target(&env), None);
    assert_eq!(policies(&env), BTreeMap::new());
    assert_eq!(desired_count(&env), 2);
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 0, "{plan:#}");
}

#[test]
fn destroy_deregisters_the_scalable_target_before_the_service() {
    let env = autoscaling_env();
    run(&env, &["apply", "--yes"]);
    env.proxy.clear();
    run(&env, &["destroy", "--yes"]);
    assert_eq!(scalable_target(&env), None);
    assert_eq!(policies(&env), BTreeMap::new());
    let operations = env.proxy.operations();
    let at = |operation: &str| {
        operations
            .iter()
            .position(|o| o.ends_with(operation))
            .unwrap_or_else(|| panic!("no {operation}: {operations:?}"))
    };
    assert!(
        at(":DeregisterScalableTarget") < at(":DeleteService"),
        "{operations:?}"
    );
    // The policies' owner tags are the scalable target's, whose ARN its own read found: the
    // check of their tags reads the target only once.
    let reads: Vec<String> = env
        .proxy
        .calls()
        .into_iter()
        .filter(|c| c.service == "application-autoscaling" && !c.is_mutating())
        .map(|c| c.operation)
        .collect();
    assert_eq!(
        reads,
        [
            "DescribeScalableTargets",
            "DescribeScalingPolicies",
            "ListTagsForResource",
            "ListTagsForResource"
        ],
        "{operations:?}"
    );
}

#[test]
fn scale_outside_the_range_is_refused_without_an_aws_call() {
    let env = TestEnv::offline();
    env.write_config("dev", &autoscaling_toml());
    for count in ["1", "9"] {
        let output = env
            .deployer()
            .args(["scale", count, "--yes"])
            .assert()
            .code(3);
        let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
        assert!(
            stderr.contains(&format!("{count} is outside the [autoscaling] range 2-8")),
            "{stderr}"
        );
    }
    assert_eq!(env.proxy.calls(), [], "no AWS call on bad input");
}
