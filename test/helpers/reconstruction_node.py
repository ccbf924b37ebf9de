"""The reconstruction node as the ROS tests start it: its modules, its services, quick settings."""

from __future__ import annotations

from rclpy.node import Node
from visualization_msgs.msg import MarkerArray

from c2f_sdf_ros.msg import HandObjectReconstruction
from c2f_sdf_ros.ros.reconstruction_node import NODE_NAME

RECONSTRUCTION_NODE = 'c2f_sdf_ros.ros.reconstruction_node'
LIFECYCLE_NODE = 'c2f_sdf_ros.ros.reconstruction_lifecycle_node'
# A 32^3 lattice and one torch thread keep a frame to seconds on a shared CI runner (the
# pipeline is the same at the node's 128); a report every half second reaches the log of
# even a short test.
QUICK_PARAMETERS = {'resolution': 32, 'threads': 1, 'report_period': 0.5}


def node_arguments(namespace: str, **parameters) -> tuple[str, ...]:
    """
    ``--ros-args`` of a node under test: remapped into ``namespace``, with quick settings.

    ``parameters`` are set as well, overriding ``QUICK_PARAMETERS`` of the same name.
    """
    arguments = ['-r', f'__ns:={namespace}']
    for name, value in {**QUICK_PARAMETERS, **parameters}.items():
        arguments += ['-p', f'{name}:={value}']
    return tuple(arguments)


def service_name(namespace: str, service: str) -> str:
    """The full name of ``service`` of the reconstruction node started in ``namespace``."""
    return f'{namespace}/{NODE_NAME}/{service}'


def collect_outputs(node: Node) -> tuple[list, list]:
    """
    Subscribe ``node`` to both outputs of a reconstruction node in its namespace.

    Returns the lists that the ``reconstruction`` messages and the ``markers`` arrays are
    appended to as they arrive. The node publishes markers only to a subscriber: a test
    that does not look at them should subscribe to ``reconstruction`` alone.
    """
    results, markers = [], []
    node.create_subscription(HandObjectReconstruction, 'reconstruction', results.append, 10)
    node.create_subscription(MarkerArray, 'markers', markers.append, 10)
    return results, markers
