"""The managed reconstruction node driven through its lifecycle services from another process."""

from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
import pytest
from visualization_msgs.msg import Marker

from helpers.camera_topics import camera_publishers, publish_triple, sample_triple
from helpers.processes import call_service, process_log, start_node, stop_process
from helpers.reconstruction_node import (
    LIFECYCLE_NODE,
    collect_outputs,
    node_arguments,
    service_name,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
TEST_NAMESPACE = '/lifecycle_test'
# The bundled frames are renders MediaPipe does not take for hands: the skin/depth finder.
NODE_ARGS = node_arguments(TEST_NAMESPACE, detector='skin_depth')


def actions(arrays):
    return [[m.action for m in array.markers] for array in arrays]


class LifecycleServices:
    """The lifecycle services of the node under test, called from the test node."""

    def __init__(self, test_node):
        self.test_node = test_node
        node = test_node.node
        self.change = node.create_client(ChangeState,
                                         service_name(TEST_NAMESPACE, 'change_state'))
        self.get = node.create_client(GetState, service_name(TEST_NAMESPACE, 'get_state'))

    def state(self) -> int:
        """The id of the node's primary state."""
        return call_service(self.test_node, self.get, GetState.Request()).current_state.id

    def change_state(self, transition_id: int) -> bool:
        """Whether the transition succeeded (configure loads the weights: a long timeout)."""
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return call_service(self.test_node, self.change, request, timeout=120.0).success


def test_configure_activate_deactivate_cleanup_across_processes(test_node, tmp_path):
    node = test_node.node
    results, markers = collect_outputs(node)
    publishers = camera_publishers(node)
    services = LifecycleServices(test_node)
    process = start_node(LIFECYCLE_NODE, tmp_path / 'node.log', *NODE_ARGS)
    triple = sample_triple(1)

    def transition(transition_id):
        assert services.change_state(transition_id), process_log(process)
        return services.state()

    def frame_answered(count):
        for _ in range(5):
            publish_triple(publishers, node.get_clock().now().to_msg(), *triple)
            if test_node.spin_until(lambda: len(results) > count, 60.0):
                return True
        return False

    try:
        assert services.state() == State.PRIMARY_STATE_UNCONFIGURED
        # Unconfigured: nothing subscribes to the camera yet.
        assert all(p.get_subscription_count() == 0 for p in publishers)
        assert transition(Transition.TRANSITION_CONFIGURE) == State.PRIMARY_STATE_INACTIVE
        assert all(p.get_subscription_count() == 0 for p in publishers)
        assert transition(Transition.TRANSITION_ACTIVATE) == State.PRIMARY_STATE_ACTIVE
        assert test_node.spin_until(
            lambda: all(p.get_subscription_count() >= 1 for p in publishers), 30.0)
        assert frame_answered(0), process_log(process)
        assert results[-1].hands
        assert test_node.spin_until(lambda: any(Marker.ADD in a for a in actions(markers)),
                                    10.0)

        # Deactivate: unsubscribed, markers cleared with one DELETEALL.
        assert transition(Transition.TRANSITION_DEACTIVATE) == State.PRIMARY_STATE_INACTIVE
        assert test_node.spin_until(lambda: actions(markers)[-1] == [Marker.DELETEALL], 10.0), \
            actions(markers)
        assert test_node.spin_until(
            lambda: all(p.get_subscription_count() == 0 for p in publishers), 10.0)
        answered = len(results)
        publish_triple(publishers, node.get_clock().now().to_msg(), *triple)
        test_node.spin_for(1.0)
        assert len(results) == answered   # inactive: no work

        # Cleanup releases the model; configure + activate load it again and work.
        assert transition(Transition.TRANSITION_CLEANUP) == State.PRIMARY_STATE_UNCONFIGURED
        assert transition(Transition.TRANSITION_CONFIGURE) == State.PRIMARY_STATE_INACTIVE
        assert transition(Transition.TRANSITION_ACTIVATE) == State.PRIMARY_STATE_ACTIVE
        assert test_node.spin_until(
            lambda: all(p.get_subscription_count() >= 1 for p in publishers), 30.0)
        assert frame_answered(answered), process_log(process)
    finally:
        # Ctrl-C while active: a clean stop that clears the markers first.
        assert stop_process(process) == 0, process_log(process)
    test_node.spin_for(0.5)
    assert actions(markers)[-1] == [Marker.DELETEALL], actions(markers)
    log = process_log(process)
    for line in ('configured:', 'active:', 'inactive:', 'unconfigured: model released',
                 'markers cleared (stopped)', 'totals:'):
        assert line in log, log
    for bad in ('Traceback', '[ERROR]'):
        assert bad not in log, log


def test_configure_fails_cleanly_on_missing_weights(test_node, tmp_path):
    services = LifecycleServices(test_node)
    process = start_node(LIFECYCLE_NODE, tmp_path / 'node.log', *NODE_ARGS, '-p',
                         f'weights:={tmp_path / "missing"}')
    try:
        assert not services.change_state(Transition.TRANSITION_CONFIGURE)
        assert services.state() == State.PRIMARY_STATE_UNCONFIGURED
    finally:
        assert stop_process(process) == 0, process_log(process)
    assert 'configure failed: cannot load weights' in process_log(process)
