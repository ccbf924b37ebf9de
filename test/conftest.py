"""Test-wide settings: keep DDS on this machine and away from other test runs."""

import os
import random

from hypothesis import Phase, settings
import pytest

# Set before anything imports rclpy; child processes (nodes under test) inherit them.
# Kilted ignores ROS_LOCALHOST_ONLY: the discovery range is what keeps traffic on loopback.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.pop('ROS_LOCALHOST_ONLY', None)
os.environ.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
# A domain of our own so that a concurrent run (another checkout, CI) cannot cross-talk.
os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(100, 200)))

# Property tests are deterministic (the examples follow from each test, not from a clock
# or pytest-randomly's seed) and keep no example database in the checkout. For a longer
# random search: HYPOTHESIS_PROFILE=explore (docs/testing.md).
settings.register_profile('ci', derandomize=True, database=None, deadline=None)
settings.register_profile('explore', max_examples=2000, database=None, deadline=None)
# Mutation runs (mutmut): a failing example is enough, shrinking it only costs time.
settings.register_profile('mutmut', derandomize=True, database=None, deadline=None,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))


@pytest.fixture
def test_node(request):
    """An rclpy node of the test process, in the module's TEST_NAMESPACE; closed after."""
    from helpers.processes import RosTestNode

    node = RosTestNode(f'{request.module.__name__.rsplit(".", 1)[-1]}_node',
                       namespace=getattr(request.module, 'TEST_NAMESPACE', ''))
    yield node
    node.close()
