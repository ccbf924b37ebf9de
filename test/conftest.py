"""Test-wide settings: keep DDS on this machine and away from other test runs."""

import os
import random

import pytest

# Set before anything imports rclpy; child processes (nodes under test) inherit them.
# Kilted ignores ROS_LOCALHOST_ONLY: the discovery range is what keeps traffic on loopback.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.pop('ROS_LOCALHOST_ONLY', None)
os.environ.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
# A domain of our own so that a concurrent run (another checkout, CI) cannot cross-talk.
os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(100, 200)))


@pytest.fixture
def test_node(request):
    """An rclpy node of the test process, in the module's TEST_NAMESPACE; closed after."""
    from helpers.processes import RosTestNode

    node = RosTestNode(f'{request.module.__name__.rsplit(".", 1)[-1]}_node',
                       namespace=getattr(request.module, 'TEST_NAMESPACE', ''))
    yield node
    node.close()
