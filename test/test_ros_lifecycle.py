"""The managed reconstruction node driven through its lifecycle services from another process."""

from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
import pytest
from visualization_msgs.msg import Marker, MarkerArray

from c2f_sdf_ros.msg import HandObjectReconstruction
from helpers.processes import (
    call_service,
    camera_publishers,
    process_log,
    publish_triple,
    sample_triple,
    start_node,
    stop_process,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
TEST_NAMESPACE = '/lifecycle_test'
NODE = 'c2f_sdf_ros.ros.reconstruction_lifecycle_node'
NODE_NAME = f'{TEST_NAMESPACE}/hand_object_reconstruction'
NODE_ARGS = ('-r', f'__ns:={TEST_NAMESPACE}', '-p', 'resolution:=32', '-p', 'threads:=1',
             '-p', 'detector:=skin_depth', '-p', 'report_period:=0.5')


def actions(arrays):
    return [[m.action for m in array.markers] for array in arrays]


def test_configure_activate_deactivate_cleanup_across_processes(test_node, tmp_path):
    node = test_node.node
    results, markers = [], []
    node.create_subscription(HandObjectReconstruction, 'reconstruction', results.append, 10)
    node.create_subscription(MarkerArray, 'markers', markers.append, 10)
    publishers = camera_publishers(node)
    change = node.create_client(ChangeState, f'{NODE_NAME}/change_state')
    get = node.create_client(GetState, f'{NODE_NAME}/get_state')
    process = start_node(NODE, tmp_path / 'node.log', *NODE_ARGS)
    triple = sample_triple(1)

    def state():
        return call_service(test_node, get, GetState.Request()).current_state.id

    def transition(transition_id):
        request = ChangeState.Request(transition=Transition(id=transition_id))
        assert call_service(test_node, change, request, timeout=120.0).success, \
            process_log(process)
        return state()

    def frame_answered(count):
        for _ in range(5):
            publish_triple(publishers, node.get_clock().now().to_msg(), *triple)
            if test_node.spin_until(lambda: len(results) > count, 60.0):
                return True
        return False

    try:
        assert state() == State.PRIMARY_STATE_UNCONFIGURED
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
    node = test_node.node
    change = node.create_client(ChangeState, f'{NODE_NAME}/change_state')
    get = node.create_client(GetState, f'{NODE_NAME}/get_state')
    process = start_node(NODE, tmp_path / 'node.log', *NODE_ARGS, '-p',
                         f'weights:={tmp_path / "missing"}')
    try:
        request = ChangeState.Request(
            transition=Transition(id=Transition.TRANSITION_CONFIGURE))
        assert not call_service(test_node, change, request, timeout=120.0).success
        assert call_service(test_node, get, GetState.Request()).current_state.id == \
            State.PRIMARY_STATE_UNCONFIGURED
    finally:
        assert stop_process(process) == 0, process_log(process)
    assert 'configure failed: cannot load weights' in process_log(process)
