"""Runs moto server, with fixes where moto departs from AWS's documented behaviour in ways that
matter to deployer's tests.

Each fix makes the emulator answer the way AWS does, so the tests check deployer against AWS's
behaviour rather than against a gap of the emulator. Usage is that of `python -m moto.server`.
"""

import hashlib
import itertools
import json
import os
import sys

from moto.acm.models import AWSCertificateManagerBackend
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.core.exceptions import AWSError, JsonRESTError
from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    DefaultVpcAlreadyExists,
    DependencyViolationError,
    InvalidNetworkInterfaceIdError,
    InvalidSubnetIdError,
)
from moto.ec2 import ec2_backends
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend, Zone
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.subnets import Subnet, SubnetBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.ecr.models import Image
from moto.ecr.responses import ECRResponse
from moto.ecs.models import Container, EC2ContainerServiceBackend
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.elbv2.exceptions import ValidationError as ELBValidationError
from moto.elbv2.models import ELBv2Backend, elbv2_backends
from moto.elbv2.responses import ELBV2Response
from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.s3.responses import S3Response
from moto.core.utils import utcnow
from moto.route53.exceptions import Route53ClientError
from moto.route53.responses import Route53
from moto.server import main

_create_service = EC2ContainerServiceResponse.create_service


def _create_service_keeping_settings(self):
    """CreateService stores `deploymentConfiguration`, `healthCheckGracePeriodSeconds` and
    `capacityProviderStrategy`
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html) and
    DescribeServices returns them; moto drops them on create (it keeps them on UpdateService)."""
    result = _create_service(self)
    cluster = self._get_param("cluster", "default")
    service = self.ecs_backend._get_service(cluster, self._get_param("serviceName"))
    deployment = self._get_param("deploymentConfiguration")
    if deployment is not None:
        service.deployment_configuration = deployment
    grace = self._get_param("healthCheckGracePeriodSeconds")
    if grace is not None:
        service.health_check_grace_period_seconds = grace
    # A capacity provider strategy instead of a launch type: "If a capacityProviderStrategy is
    # specified, the launchType parameter must be omitted" (same page); moto drops the strategy
    # and makes the service an EC2 one.
    strategy = self._get_param("capacityProviderStrategy")
    if strategy:
        service.capacity_provider_strategy = strategy
        service.launch_type = None
    # `enableExecuteCommand` (ECS Exec) is kept and described too (same page, and
    # API_Service.html); UpdateService already stores it under moto's generic attribute update.
    service.enable_execute_command = bool(self._get_param("enableExecuteCommand", False))
    return result


EC2ContainerServiceResponse.create_service = _create_service_keeping_settings


def _execute_command(self):
    """ExecuteCommand is missing from moto. AWS answers with the task and container and a Session
    Manager session (sessionId, streamUrl, tokenValue) for `session-manager-plugin`
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ExecuteCommand.html); this
    gives that shape with a session that leads nowhere, since the emulator runs no containers."""
    cluster = self._get_param("cluster", "default")
    task = self._get_param("task")
    container = self._get_param("container")
    cluster_arn = (
        cluster
        if cluster.startswith("arn:")
        else f"arn:aws:ecs:{self.region}:{self.current_account}:cluster/{cluster}"
    )
    session_id = f"ecs-execute-command-{abs(hash((task, container))) % 10**12:012d}"
    return ActionResult(
        {
            "clusterArn": cluster_arn,
            "containerArn": f"{task}/container/{container}",
            "containerName": container,
            "interactive": bool(self._get_param("interactive", False)),
            "session": {
                "sessionId": session_id,
                "streamUrl": f"wss://ssmmessages.{self.region}.amazonaws.com/v1/data-channel/{session_id}",
                "tokenValue": "emulated-token",
            },
            "taskArn": task,
        }
    )


EC2ContainerServiceResponse.execute_command = _execute_command

_calculate_task_resource_requirements = (
    EC2ContainerServiceBackend._calculate_task_resource_requirements
)


def _task_resource_requirements_with_task_level_memory(task_definition):
    """RunTask of a Fargate task definition whose containers give no `memory`: "If using the
    Fargate launch type, this parameter is optional" when the task sets its memory
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html);
    moto adds the missing value and fails with a 500. A container without one counts as 0."""
    keys = ("memory", "memoryReservation", "Memory", "MemoryReservation")
    missing = [
        (d, dict((k, d[k]) for k in keys if k in d))
        for d in task_definition.container_definitions
        if all(d.get(k) is None for k in keys)
    ]
    for definition, _ in missing:
        definition["memory"] = 0
    try:
        return _calculate_task_resource_requirements(task_definition)
    finally:
        for definition, kept in missing:
            definition.pop("memory", None)
            definition.update(kept)


EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(
    _task_resource_requirements_with_task_level_memory
)

_container_init = Container.__init__


def _container_as_described(self, task_def):
    """A task's container as RunTask and DescribeTasks describe it
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Container.html): `cpu` and
    `memory` are strings ("0" when the definition set none), and there is no `exitCode` before
    the container stopped; moto gives numbers, which the SDK refuses, and an exit code of 0 for
    a container that has not run."""
    _container_init(self, task_def)
    self.cpu = str(self.cpu or 0)
    self.memory = None if self.memory is None else str(self.memory)
    self.exitCode = None


Container.__init__ = _container_as_described

_stop_task = EC2ContainerServiceBackend.stop_task


def _stop_task_releasing_its_network_interface(self, cluster_str, task_str, reason):
    """A stopped `awsvpc` task's network interface is detached and deleted ("Amazon ECS task
    networking options for Fargate": "When the task stops, the ENI is detached and deleted");
    moto keeps it, and the tasks' security group can then never be deleted."""
    task = _stop_task(self, cluster_str, task_str, reason)
    ec2 = ec2_backends[self.account_id][self.region_name]
    for attachment in getattr(task, "attachments", []):
        for detail in attachment.get("details", []):
            if detail.get("name") == "networkInterfaceId":
                try:
                    ec2.delete_network_interface(detail["value"])
                except InvalidNetworkInterfaceIdError:
                    pass  # deleted already
    return task


EC2ContainerServiceBackend.stop_task = _stop_task_releasing_its_network_interface

_create_load_balancer = ELBV2Response.create_load_balancer


def _create_load_balancer_idempotent(self):
    """CreateLoadBalancer "is idempotent ... If you attempt to create multiple load balancers with
    the same settings, each call succeeds" and returns the existing one
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html);
    moto makes a second load balancer with the same name. A retried create whose first answer
    was lost depends on this."""
    name = self._get_param("Name")
    for balancer in self.elbv2_backend.load_balancers.values():
        if balancer.name == name:
            return ActionResult({"LoadBalancers": [balancer]})
    return _create_load_balancer(self)


ELBV2Response.create_load_balancer = _create_load_balancer_idempotent

_create_listener = ELBV2Response.create_listener


def _create_listener_idempotent(self):
    """CreateListener: "If you attempt to create multiple listeners with the same settings, each
    call succeeds" (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateListener.html),
    returning the existing listener; moto adds a second listener on the same port (its duplicate
    check compares the port with listener ARNs)."""
    balancer = self.elbv2_backend.load_balancers.get(self._get_param("LoadBalancerArn"))
    port = self._get_param("Port")
    if balancer is not None:
        for listener in balancer.listeners.values():
            if str(listener.port) == str(port):
                return ActionResult({"Listeners": [listener]})
    return _create_listener(self)


ELBV2Response.create_listener = _create_listener_idempotent

_delete_security_group = SecurityGroupBackend._delete_security_group


def _delete_security_group_unless_referenced(self, vpc_id, group_id):
    """DeleteSecurityGroup fails with `DependencyViolation` ("resource sg-... has a dependent
    object") while a rule of another group refers to the group
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html: "If you
    attempt to delete a security group that is ... referenced by another security group in the
    same VPC, the operation fails with DependencyViolation"); moto deletes it and leaves the
    other group's rule pointing at nothing."""
    for groups in self.groups.values():
        for other in groups.values():
            if other.id == group_id:
                continue
            for rule in list(other.ingress_rules) + list(other.egress_rules):
                if (rule.source_group or {}).get("GroupId") == group_id:
                    raise DependencyViolationError(
                        f"resource {group_id} has a dependent object"
                    )
    return _delete_security_group(self, vpc_id, group_id)


SecurityGroupBackend._delete_security_group = _delete_security_group_unless_referenced

_put_image_scanning_configuration = ECRResponse.put_image_scanning_configuration


def _put_image_scanning_configuration_default_off(self):
    """PutImageScanningConfiguration: `scanOnPush` "If this parameter is not specified, it will
    default to false"
    (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageScanningConfiguration.html),
    and the Rust SDK leaves a false boolean out; moto ignores the empty configuration, so scanning
    on push could never be turned off."""
    config = self._get_param("imageScanningConfiguration")
    if config is None or "scanOnPush" in config:
        return _put_image_scanning_configuration(self)
    return ActionResult(
        self.ecr_backend.put_image_scanning_configuration(
            registry_id=self._get_param("registryId"),
            repository_name=self._get_param("repositoryName"),
            image_scan_config={**config, "scanOnPush": False},
        )
    )


ECRResponse.put_image_scanning_configuration = _put_image_scanning_configuration_default_off

_delete_certificate = AWSCertificateManagerBackend.delete_certificate


class _ResourceInUse(AWSError):
    TYPE = "ResourceInUseException"


def _delete_certificate_unless_in_use(self, arn):
    """DeleteCertificate fails with `ResourceInUseException` while the certificate is "in use by
    another AWS service", such as a load balancer's HTTPS listener
    (https://docs.aws.amazon.com/acm/latest/APIReference/API_DeleteCertificate.html); moto
    deletes it and leaves the listener serving a certificate that no longer exists."""
    backend = elbv2_backends[self.account_id][self.region_name]
    for balancer in backend.load_balancers.values():
        for listener in balancer.listeners.values():
            if listener.protocol == "HTTPS" and arn in (listener.certificates or []):
                raise _ResourceInUse(
                    message=f"Certificate {arn} in account {self.account_id} is in use."
                )
    return _delete_certificate(self, arn)


AWSCertificateManagerBackend.delete_certificate = _delete_certificate_unless_in_use


_create_digest = Image._create_digest


def _digest_of_the_manifest(self):
    """An image's digest is "the sha256 digest of the image manifest"
    (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageIdentifier.html), so two
    pushes of a tag with different manifests have different digests; moto hashes the layers'
    digests only (the same for every image without layers) or picks one of 101 random ones."""
    if self.image_manifest is None:
        return _create_digest(self)
    digest = hashlib.sha256(self.image_manifest.encode("utf-8")).hexdigest()
    self._image_digest = f"sha256:{digest}"


Image._create_digest = _digest_of_the_manifest




def _get_bucket_versioning_as_aws(self):
    """GetBucketVersioning answers `<VersioningConfiguration>` with a `Status` once versioning was
    ever set, and an empty `<VersioningConfiguration/>` before
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketVersioning.html: "If the
    versioning state has never been set on a bucket, then no versioning state is returned"); moto
    answers an unversioned bucket with an empty `<GetBucketVersioningResponse/>`, a root element
    the SDKs refuse."""
    status = self.backend.get_bucket_versioning(self.bucket_name)
    inner = f"<Status>{status}</Status>" if status else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"{inner}</VersioningConfiguration>"
    )
    return 200, {"Content-Type": "application/xml"}, body


S3Response.get_bucket_versioning = _get_bucket_versioning_as_aws

_is_action_permitted = IAMPolicyStatement.is_action_permitted


def _condition_holds(statement, incoming_condition_values):
    """Whether every condition of the statement holds. A condition on a key the request does not
    have does not hold, unless its operator ends in `IfExists` or is `Null`: "If the key that you
    specify in a policy condition is not present in the request context, the values do not match"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)."""
    present = {key.lower() for key in (incoming_condition_values or {})}
    for operator, keys in statement._statement.get("Condition", {}).items():
        if operator.endswith("IfExists") or operator == "Null":
            continue
        if any(key.lower() not in present for key in keys):
            return False
    return statement._check_conditions(incoming_condition_values)


def _is_action_permitted_only_when_its_condition_holds(
    self, action, resource="*", principal=None, incoming_condition_values=None
):
    """A statement whose `Condition` does not hold does not apply: "The Condition element ... lets
    you specify conditions for when a policy is in effect"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html),
    so a `Deny` on `aws:SecureTransport = false` refuses only requests without TLS. moto turns a
    statement with an unmet condition into an explicit deny, whatever its effect, and takes a
    condition on a key the request lacks as met, so a bucket with the usual TLS-only policy
    refused every request. (moto sets no `aws:SecureTransport`; the SDK reaches AWS over HTTPS,
    where it is true and the deny does not apply either.)"""
    if self._statement.get("Condition") and not _condition_holds(
        self, incoming_condition_values
    ):
        return PermissionResult.NEUTRAL
    return _is_action_permitted(
        self, action, resource, principal, incoming_condition_values
    )


IAMPolicyStatement.is_action_permitted = _is_action_permitted_only_when_its_condition_holds


# Application Auto Scaling: tags of scalable targets, and what deregistering a target removes.
# https://docs.aws.amazon.com/autoscaling/application/APIReference/ ("RegisterScalableTarget",
# "TagResource", "ListTagsForResource", "UntagResource", "DeregisterScalableTarget",
# "PutScalingPolicy").


def _target_tags(backend):
    """Tags by scalable target ARN, kept beside moto's targets (moto keeps none)."""
    if not hasattr(backend, "deployer_target_tags"):
        backend.deployer_target_tags = {}
    return backend.deployer_target_tags


def _target_arns(backend):
    return {t.arn for by_id in backend.targets.values() for t in by_id.values()}


def _no_such_target_arn(arn):
    return JsonRESTError(
        "ResourceNotFoundException", f"No scalable target found for ARN: {arn}"
    )


_register_scalable_target = ApplicationAutoScalingResponse.register_scalable_target


def _register_scalable_target_with_tags(self):
    """RegisterScalableTarget takes `Tags` for a new target ("Assigns one or more tags to the
    scalable target"); moto drops them. An update of an existing target leaves its tags."""
    backend = self.applicationautoscaling_backend
    known = _target_arns(backend)
    result = _register_scalable_target(self)
    arn = json.loads(result)["ScalableTargetARN"]
    tags = self._get_param("Tags")
    if arn not in known and tags:
        _target_tags(backend)[arn] = dict(tags)
    return result


def _tag_resource(self):
    """TagResource adds tags to a scalable target, by its ARN; not in moto."""
    backend = self.applicationautoscaling_backend
    arn = self._get_param("ResourceARN")
    if arn not in _target_arns(backend):
        raise _no_such_target_arn(arn)
    _target_tags(backend).setdefault(arn, {}).update(self._get_param("Tags") or {})
    return json.dumps({})


def _untag_resource(self):
    """UntagResource removes tags of a scalable target by key; not in moto."""
    backend = self.applicationautoscaling_backend
    arn = self._get_param("ResourceARN")
    if arn not in _target_arns(backend):
        raise _no_such_target_arn(arn)
    tags = _target_tags(backend).setdefault(arn, {})
    for key in self._get_param("TagKeys") or []:
        tags.pop(key, None)
    return json.dumps({})


def _list_tags_for_resource(self):
    """ListTagsForResource returns a scalable target's tags; not in moto."""
    backend = self.applicationautoscaling_backend
    arn = self._get_param("ResourceARN")
    if arn not in _target_arns(backend):
        raise _no_such_target_arn(arn)
    return json.dumps({"Tags": dict(_target_tags(backend).get(arn, {}))})


_deregister_scalable_target = ApplicationAutoScalingResponse.deregister_scalable_target


def _deregister_scalable_target_and_its_policies(self):
    """DeregisterScalableTarget: "Deregistering a scalable target deletes the scaling policies
    and the scheduled actions that are associated with it"; moto keeps the policies."""
    backend = self.applicationautoscaling_backend
    resource_id = self._get_param("ResourceId")
    dimension = self._get_param("ScalableDimension")
    target = backend.targets.get(dimension, {}).get(resource_id)
    result = _deregister_scalable_target(self)
    for key, policy in list(backend.policies.items()):
        if policy.resource_id == resource_id and policy.scalable_dimension == dimension:
            policy.delete_alarms(backend.account_id, backend.region_name)
            del backend.policies[key]
    if target is not None:
        _target_tags(backend).pop(target.arn, None)
    return result


_put_scaling_policy = ApplicationAutoScalingResponse.put_scaling_policy


def _put_scaling_policy_of_a_registered_target(self):
    """PutScalingPolicy: "You cannot create a scaling policy until you have registered the
    resource as a scalable target" (ObjectNotFoundException); moto makes the policy anyway."""
    backend = self.applicationautoscaling_backend
    namespace = self._get_param("ServiceNamespace")
    resource_id = self._get_param("ResourceId")
    dimension = self._get_param("ScalableDimension")
    if resource_id not in backend.targets.get(dimension, {}):
        raise JsonRESTError(
            "ObjectNotFoundException",
            f"No scalable target registered for service namespace: {namespace}, resource ID: "
            f"{resource_id}, scalable dimension: {dimension}",
        )
    return _put_scaling_policy(self)


ApplicationAutoScalingResponse.register_scalable_target = _register_scalable_target_with_tags
ApplicationAutoScalingResponse.tag_resource = _tag_resource
ApplicationAutoScalingResponse.untag_resource = _untag_resource
ApplicationAutoScalingResponse.list_tags_for_resource = _list_tags_for_resource
ApplicationAutoScalingResponse.deregister_scalable_target = (
    _deregister_scalable_target_and_its_policies
)
ApplicationAutoScalingResponse.put_scaling_policy = _put_scaling_policy_of_a_registered_target


_describe_subnets = SubnetBackend.describe_subnets


def _describe_subnets_naming_the_missing_one(self, subnet_ids=None, filters=None):
    """DescribeSubnets of an ID that does not exist answers `InvalidSubnetID.NotFound` naming
    that ID ("The subnet ID 'subnet-…' does not exist"); moto subtracts subnets from IDs, so it
    names any of the IDs asked for, often one that exists."""
    if subnet_ids:
        known = {
            subnet_id for zone in self.subnets.values() for subnet_id in zone
        }
        missing = [subnet_id for subnet_id in subnet_ids if subnet_id not in known]
        if missing:
            raise InvalidSubnetIdError(missing[0])
    return _describe_subnets(self, subnet_ids, filters)


SubnetBackend.describe_subnets = _describe_subnets_naming_the_missing_one

# The Hamburg Local Zone of eu-central-1 (zone ID `euc1-ham1-az1`), which moto lacks:
# DescribeAvailabilityZones describes Local Zones with `ZoneType` `local-zone` ("Regions and
# Zones", Amazon EC2 User Guide), and a subnet can be made in one once the account opted in.
RegionsAndZonesBackend.zones.setdefault("eu-central-1", []).append(
    Zone(
        region_name="eu-central-1",
        name="eu-central-1-ham-1a",
        zone_id="euc1-ham1-az1",
        zone_type="local-zone",
    )
)


def _create_default_vpc_in_availability_zones(self):
    """The default VPC has "a default subnet in each Availability Zone" (Amazon VPC User Guide,
    "Default VPCs"), none in a Local Zone; moto makes one in every zone it knows."""
    if self.describe_vpcs(filters={"is-default": ["true"]}):
        raise DefaultVpcAlreadyExists
    vpc = self.create_vpc(cidr_block="172.31.0.0/16", is_default=True)
    for zone in self.describe_availability_zones():
        if zone.zone_type == "availability-zone":
            self.create_default_subnet(zone.name)
    return vpc


VPCBackend.create_default_vpc = _create_default_vpc_in_availability_zones

_create_subnet = SubnetBackend.create_subnet


def _create_subnet_default_only_in_the_default_vpc(self, vpc_id, *args, **kwargs):
    """Only the default VPC has default subnets (`DefaultForAz`, "Default VPCs"); moto makes
    the first subnet of any VPC in a zone a default one, public IPs on launch included."""
    subnet = _create_subnet(self, vpc_id, *args, **kwargs)
    if not self.get_vpc(vpc_id).is_default:
        subnet.default_for_az = False
        subnet.map_public_ip_on_launch = False
    return subnet


SubnetBackend.create_subnet = _create_subnet_default_only_in_the_default_vpc

def _ipv6_cidr_block_association_set(self):
    """DescribeSubnets reports each IPv6 block's state as a string, `"State": "associated"`
    (EC2 API Reference, `SubnetCidrBlockState`); moto nests its own state dictionary in it."""
    return [
        {
            "ipv6CidrBlock": association["ipv6CidrBlock"],
            "associationId": association["associationId"],
            "ipv6CidrBlockState": {
                "state": association["ipv6CidrBlockState"]["State"],
            },
        }
        for association in self.ipv6_cidr_block_associations.values()
        if association["ipv6CidrBlockState"]["State"] == "associated"
    ]


Subnet.ipv6_cidr_block_association_set = property(_ipv6_cidr_block_association_set)

_create_lb_backend = ELBv2Backend.create_load_balancer
_set_ip_address_type = ELBv2Backend.set_ip_address_type


def _refuse_dualstack_without_ipv6(backend, subnets):
    """A dualstack load balancer needs subnets with an IPv6 CIDR block: ELB answers
    `ValidationError` "You must specify subnets with an associated IPv6 CIDR block." (see "IP
    address types" in the ELB User Guide); moto accepts any subnet."""
    for subnet in subnets:
        associated = [
            a
            for a in subnet.ipv6_cidr_block_associations.values()
            if a.get("ipv6CidrBlockState", {}).get("State") == "associated"
        ]
        if not associated:
            raise ELBValidationError(
                "You must specify subnets with an associated IPv6 CIDR block."
            )


def _create_load_balancer_dualstack_needs_ipv6(self, *args, **kwargs):
    if kwargs.get("ip_address_type") == "dualstack":
        _refuse_dualstack_without_ipv6(
            self,
            [self.ec2_backend.get_subnet(s) for s in kwargs.get("subnet_ids") or []],
        )
    return _create_lb_backend(self, *args, **kwargs)


def _set_ip_address_type_dualstack_needs_ipv6(self, arn, ip_type):
    balancer = self.load_balancers.get(arn)
    if ip_type == "dualstack" and balancer is not None:
        _refuse_dualstack_without_ipv6(self, balancer.subnets)
    return _set_ip_address_type(self, arn, ip_type)


ELBv2Backend.create_load_balancer = _create_load_balancer_dualstack_needs_ipv6
ELBv2Backend.set_ip_address_type = _set_ip_address_type_dualstack_needs_ipv6


class NoSuchChange(Route53ClientError):
    def __init__(self, change_id):
        super().__init__(
            "NoSuchChange",
            f"A change with the specified change ID does not exist: {change_id}",
        )


_change_resource_record_sets = Route53.change_resource_record_sets
# Change ID -> how many more GetChange calls answer PENDING.
_pending_changes = {}
_change_ids = itertools.count(1)


def _change_resource_record_sets_pending(self):
    """ChangeResourceRecordSets answers `PENDING` with the ID of the change, which `GetChange`
    reports `INSYNC` once every Route 53 DNS server has it ("GetChange", Route 53 API
    Reference); moto answers `INSYNC` at once, with one ID for every change.
    `MOTO_ROUTE53_PENDING_POLLS` (default 0) is how many GetChange calls still answer
    `PENDING`."""
    answer = _change_resource_record_sets(self)
    change_id = f"C{next(_change_ids):013d}"
    _pending_changes[change_id] = int(os.environ.get("MOTO_ROUTE53_PENDING_POLLS", "0"))
    answer.result["ChangeInfo"]["Id"] = f"/change/{change_id}"
    answer.result["ChangeInfo"]["Status"] = "PENDING"
    return answer


def _get_change_in_sync_after_polls(self):
    change_id = self._get_param("Id").removeprefix("/change/")
    if change_id not in _pending_changes:
        raise NoSuchChange(change_id)
    pending = _pending_changes[change_id] > 0
    _pending_changes[change_id] -= 1
    return ActionResult(
        {
            "ChangeInfo": {
                "Id": f"/change/{change_id}",
                "Status": "PENDING" if pending else "INSYNC",
                "SubmittedAt": utcnow(),
            }
        }
    )


Route53.change_resource_record_sets = _change_resource_record_sets_pending
Route53.get_change = _get_change_in_sync_after_polls

if __name__ == "__main__":
    main(sys.argv[1:])
