"""Runs moto server, with fixes where moto departs from AWS's documented behaviour in ways that
matter to deployer's tests.

Each fix makes the emulator answer the way AWS does, so the tests check deployer against AWS's
behaviour rather than against a gap of the emulator. Usage is that of `python -m moto.server`.
"""

import sys

from moto.ecs.responses import EC2ContainerServiceResponse
from moto.server import main

_create_service = EC2ContainerServiceResponse.create_service


def _create_service_keeping_settings(self):
    """CreateService stores `deploymentConfiguration` and `healthCheckGracePeriodSeconds`
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html) and
    DescribeServices returns them; moto drops both on create (it keeps them on UpdateService)."""
    result = _create_service(self)
    cluster = self._get_param("cluster", "default")
    service = self.ecs_backend._get_service(cluster, self._get_param("serviceName"))
    deployment = self._get_param("deploymentConfiguration")
    if deployment is not None:
        service.deployment_configuration = deployment
    grace = self._get_param("healthCheckGracePeriodSeconds")
    if grace is not None:
        service.health_check_grace_period_seconds = grace
    return result


EC2ContainerServiceResponse.create_service = _create_service_keeping_settings

if __name__ == "__main__":
    main(sys.argv[1:])
