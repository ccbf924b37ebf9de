"""The ``main()`` every node module shares: init, spin, clean shutdown, clear errors."""

from __future__ import annotations

from collections.abc import Callable
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from c2f_sdf_ros.ros.parameters import ConfigurationError


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    """
    Create the node, spin it until it is done or interrupted, then shut down.

    A node may define ``done`` (bool) to end the spin on its own, e.g. a replay that played
    every frame once. Returns the process exit status: 0, or 2 for a configuration error
    (bad parameter, missing file), which is printed as one clear line.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        while rclpy.ok() and not getattr(node, 'done', False):
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ConfigurationError, FileNotFoundError) as error:
        print(f'[ERROR] {error}', file=sys.stderr)
        return 2
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C shut the context down while spin_once was between its checks (seen on a
        # loaded machine): a normal stop, not a failure.
    finally:
        if node is not None:
            close = getattr(node, 'close', None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
