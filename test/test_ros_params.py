"""Runtime parameters of the reconstruction node, set from another process as ros2 param does."""

import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters

from c2f_sdf_ros.msg import HandObjectReconstruction
from c2f_sdf_ros.ros.sync import stamp_to_ns
from helpers.camera_topics import camera_publishers, publish_triple, sample_triple
from helpers.processes import call_service, process_log, start_node, stop_process
from helpers.reconstruction_node import RECONSTRUCTION_NODE, node_arguments, service_name

pytestmark = [pytest.mark.ros, pytest.mark.slow]
TEST_NAMESPACE = '/params_test'
# The bundled frames are renders MediaPipe does not take for hands: the skin/depth finder.
NODE_ARGS = node_arguments(TEST_NAMESPACE, detector='skin_depth')


def double(name, value):
    return Parameter(name=name, value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                     double_value=value))


def integer(name, value):
    return Parameter(name=name, value=ParameterValue(type=ParameterType.PARAMETER_INTEGER,
                                                     integer_value=value))


def test_runtime_change_applied_and_invalid_ones_rejected_with_reason(test_node, tmp_path):
    node = test_node.node
    results = []
    node.create_subscription(HandObjectReconstruction, 'reconstruction', results.append, 10)
    publishers = camera_publishers(node)
    set_client = node.create_client(SetParameters, service_name(TEST_NAMESPACE, 'set_parameters'))
    get_client = node.create_client(GetParameters, service_name(TEST_NAMESPACE, 'get_parameters'))
    process = start_node(RECONSTRUCTION_NODE, tmp_path / 'node.log', *NODE_ARGS)
    triple = sample_triple(1)

    def reconstruct():
        """Publish the frame (again, until answered) and return the node's answer."""
        for _ in range(5):
            stamp = node.get_clock().now().to_msg()
            publish_triple(publishers, stamp, *triple)
            if test_node.spin_until(lambda s=stamp: any(
                    stamp_to_ns(r.header.stamp) == stamp_to_ns(s) for r in results), 90.0):
                return next(r for r in results if stamp_to_ns(r.header.stamp) ==
                            stamp_to_ns(stamp))
        raise AssertionError(process_log(process))

    def set_parameters(*parameters):
        return call_service(test_node, set_client,
                            SetParameters.Request(parameters=list(parameters))).results

    try:
        assert test_node.spin_until(
            lambda: all(p.get_subscription_count() >= 1 for p in publishers), timeout=60.0), \
            process_log(process)
        before = reconstruct()
        assert before.hands

        # Accepted: applied to the model settings from the next frame.
        [result] = set_parameters(double('contact_distance', 0.05))
        assert result.successful, result.reason
        values = call_service(test_node, get_client, GetParameters.Request(
            names=['contact_distance', 'ser_margin'])).values
        assert [v.double_value for v in values] == [0.05, 0.5]
        after = reconstruct()
        # Hand vertices within the distance of the object are contacts: 5 cm takes more
        # of them than the default 5 mm (the same frame, the same meshes otherwise).
        assert after.hands and len(after.contacts) > len(before.contacts), \
            (len(before.contacts), len(after.contacts), process_log(process))

        # Refused, each with the reason, and nothing changed.
        refused = {
            'ser_margin': set_parameters(double('ser_margin', 1.5)),
            'max_hands': set_parameters(integer('max_hands', 0)),
            'resolution': set_parameters(integer('resolution', 64)),
            'type': set_parameters(integer('contact_distance', 1)),
        }
        for name, [result] in refused.items():
            assert not result.successful, name
            assert result.reason, name
        # The reason names the parameter, the value and the range (rclpy checks the declared
        # range first; ParameterSpec.check and the pipeline's configs back it up).
        for name, value, bound in (('ser_margin', '1.5', '0.99'), ('max_hands', '0', '1')):
            reason = refused[name][0].reason
            assert name in reason and value in reason and bound in reason, reason
        assert 'read-only' in refused['resolution'][0].reason.lower()
        values = call_service(test_node, get_client, GetParameters.Request(
            names=['ser_margin', 'max_hands', 'resolution', 'contact_distance'])).values
        assert (values[0].double_value, values[1].integer_value, values[2].integer_value,
                values[3].double_value) == (0.5, 2, 32, 0.05)
        # The node still answers with the accepted settings.
        assert len(reconstruct().contacts) == len(after.contacts)
    finally:
        assert stop_process(process) == 0, process_log(process)
    log = process_log(process)
    assert 'parameters set: contact_distance=0.05' in log
    assert 'Traceback' not in log
