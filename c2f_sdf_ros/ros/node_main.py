"""
The ``main()`` of every node module: start, spin and stop a node as ros2/examples do.

Ctrl-C (SIGINT) ends the spin with ``KeyboardInterrupt`` or ``ExternalShutdownException``,
a normal stop (exit status 0). ``node.destroy_node()`` runs before the context is shut down
on the way out; nodes that own a thread or a file override it to stop or close them first.
A ``ConfigurationError`` (bad parameter, missing file) is printed as one clear line and
gives exit status 2.
"""

from __future__ import annotations

from collections.abc import Callable
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from c2f_sdf_ros.ros.parameters import ConfigurationError


def run_node(make_node: Callable[[], Node], args: list[str] | None = None,
             spin: Callable[[Node], None] = rclpy.spin) -> int:
    """
    Create the node, ``spin(node)`` until it returns or Ctrl-C, destroy the node, shut down.

    ``spin`` is ``rclpy.spin`` (until shutdown) unless the node can finish on its own, e.g.
    ``lambda node: rclpy.spin_until_future_complete(node, node.finished)``. Returns the exit
    status.
    """
    try:
        with rclpy.init(args=args):
            node = make_node()
            try:
                spin(node)
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ConfigurationError as error:
        print(f'[ERROR] {error}', file=sys.stderr)
        return 2
    return 0
