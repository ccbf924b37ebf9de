"""
Publish ``count`` test reconstructions on ``reconstruction`` from a process of its own.

Usage: python publish_reconstruction.py COUNT [grasp] [--ros-args ...]. Waits for one
subscriber, publishes seeds 0..COUNT-1 (with ``grasp``: frames 0..COUNT-1 of the scripted
grasp, ``grasp_message``) at 10 Hz, waits until all are acknowledged, exits 0.
"""

import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import rclpy  # noqa: E402
from rclpy.duration import Duration  # noqa: E402

from c2f_sdf_ros.msg import HandObjectReconstruction  # noqa: E402
from helpers.reconstruction import build_reconstruction, grasp_message  # noqa: E402


def main() -> int:
    count = int(sys.argv[1])
    grasp = len(sys.argv) > 2 and sys.argv[2] == 'grasp'
    with rclpy.init(args=sys.argv):
        node = rclpy.create_node('test_reconstruction_publisher')
        try:
            publisher = node.create_publisher(HandObjectReconstruction, 'reconstruction', 10)
            deadline = time.monotonic() + 30.0
            while publisher.get_subscription_count() < 1 and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.05)
            time.sleep(0.5)  # let the subscriber's side of discovery finish too
            for seed in range(count):
                publisher.publish(grasp_message(seed) if grasp else build_reconstruction(
                    seed, stamp=node.get_clock().now().to_msg()))
                time.sleep(0.1)
            ok = publisher.wait_for_all_acked(Duration(seconds=5.0))
        finally:
            node.destroy_node()
    return 0 if ok else 1

if __name__ == '__main__':
    sys.exit(main())
