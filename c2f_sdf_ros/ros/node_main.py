"""
The ``main()`` of every node module: start, spin and stop a node as ros2/examples do.

Ctrl-C (SIGINT) ends the spin with ``KeyboardInterrupt`` or ``ExternalShutdownException``,
a normal stop (exit status 0). ``node.destroy_node()`` runs before the context is shut down
on the way out; nodes that own a thread or a file override it to stop or close them first.
A ``ConfigurationError`` (bad parameter, missing file) is printed as one clear line and
gives exit status 2.

rclpy's own SIGINT handler shuts the context down at once, from another thread: a callback
that is publishing at that moment fails, and ``destroy_node()`` cannot publish on the way
out. Nodes that publish from timers or must publish at the end (the reconstruction node
clears its RViz markers) pass ``publish_on_stop=True``: SIGINT and SIGTERM then only end
the spin (within 0.1 s), and the context stays up until ``destroy_node()`` has returned.
"""

from __future__ import annotations

from collections.abc import Callable
import signal
import sys
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from c2f_sdf_ros.ros.parameters import ConfigurationError


def run_node(make_node: Callable[[], Node], args: list[str] | None = None,
             spin: Callable[[Node], None] = rclpy.spin, publish_on_stop: bool = False) -> int:
    """
    Create the node, ``spin(node)`` until it returns or Ctrl-C, destroy the node, shut down.

    ``spin`` is ``rclpy.spin`` (until shutdown) unless the node can finish on its own, e.g.
    ``lambda node: rclpy.spin_until_future_complete(node, node.finished)``.
    ``publish_on_stop``: keep the context up through ``destroy_node()`` (see above; ``spin``
    is then this module's own loop). Returns the exit status.
    """
    try:
        if publish_on_stop:
            _spin_until_signal(make_node, args)
        else:
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


def _spin_until_signal(make_node: Callable[[], Node], args: list[str] | None) -> None:
    """Spin until SIGINT/SIGTERM with our own handler, so the context outlives the node."""
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, on_signal) for signum in signals}
    try:
        with rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO):
            node = make_node()
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            try:
                # A short wait, so that the Python signal handler runs soon after a signal
                # (it runs between bytecodes of the main thread, not inside rcl_wait).
                while not stop.is_set() and rclpy.ok():
                    executor.spin_once(timeout_sec=0.1)
            finally:
                executor.remove_node(node)
                executor.shutdown()
                node.destroy_node()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
