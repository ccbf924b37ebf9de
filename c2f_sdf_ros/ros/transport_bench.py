"""
How many synchronized RGB-D frames survive DDS between processes, and how late.

For each case (image size x reliability x Fast DDS profile) this writes a test-pattern
frame folder, starts the replay camera in one process and a synchronized receiver
(``RgbdInput``, as the reconstruction node reads its input) in another, replays every
frame once at the given rate, and reports the fraction of frames received as complete
triples and the latency from stamp to receipt. ``c2f-sdf bench-transport``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from c2f_sdf_ros.data.pattern import write_pattern_folder
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

PROFILE = pathlib.Path(__file__).resolve().parents[2] / 'config' / 'fastdds_localhost.xml'
# Color intrinsics of a RealSense D435 at the two common stream sizes.
CAMERAS = {
    '640x480': CameraIntrinsics(640, 480, 615.0, 615.0, 319.5, 239.5),
    '1280x720': CameraIntrinsics(1280, 720, 922.5, 922.5, 639.5, 359.5),
}
NAMESPACE = '/transport_bench'


def _share_profile() -> pathlib.Path:
    """The shipped Fast DDS profile, from the source tree or an installed share/."""
    if PROFILE.is_file():
        return PROFILE
    from ament_index_python.packages import get_package_share_directory
    return pathlib.Path(get_package_share_directory('c2f_sdf_ros')) / 'config' / PROFILE.name


def receive(reliability: str, idle_timeout: float, total_timeout: float) -> dict:
    """Receive synchronized triples until idle; return counts and latencies (receiver side)."""
    import rclpy
    from rclpy.node import Node
    from rclpy.task import Future

    from c2f_sdf_ros.ros.rgbd_input import RgbdInput
    from c2f_sdf_ros.ros.sync import NS_PER_S, stamp_to_ns

    with rclpy.init():
        node = Node('transport_bench_receiver', namespace=NAMESPACE)
        try:
            latencies = []
            last_at = time.monotonic()
            idle: Future[None] = Future()

            def on_triple(color, depth, info):
                nonlocal last_at
                last_at = time.monotonic()
                now = node.get_clock().now().nanoseconds
                latencies.append((now - stamp_to_ns(color.header.stamp)) / NS_PER_S)

            def check_idle():
                if not idle.done() and latencies and time.monotonic() - last_at > idle_timeout:
                    idle.set_result(None)

            rgbd = RgbdInput(node, on_triple, qos_reliability=reliability, qos_depth=5,
                             exact_sync=True)
            node.create_timer(0.05, check_idle)
            rclpy.spin_until_future_complete(node, idle, timeout_sec=total_timeout)
            return {'triples': len(latencies), 'received': list(rgbd.stats.received),
                    'latencies': latencies}
        finally:
            node.destroy_node()

def run_case(size: str, reliability: str, profile: str, rate: float, frames: int,
             workdir: pathlib.Path) -> dict:
    """One case: replay ``frames`` frames of ``size`` once and count what arrives."""
    folder = workdir / size
    if not folder.exists():
        write_pattern_folder(folder, frames, CAMERAS[size])
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    if profile == 'shipped':
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(_share_profile())
    receiver = subprocess.Popen(
        [sys.executable, '-m', __name__, '--receive', reliability], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    replay = subprocess.run(
        [sys.executable, '-m', 'c2f_sdf_ros.ros.replay_camera_node', '--ros-args',
         '-r', f'__ns:={NAMESPACE}', '-p', f'frames_dir:={folder}', '-p', f'rate:={rate}',
         '-p', 'loop:=false', '-p', f'qos_reliability:={reliability}',
         '-p', 'wait_for_subscribers:=1', '-p', 'start_delay:=0.5',
         '--log-level', 'warn'],
        env=env, capture_output=True, text=True, timeout=120 + frames / rate)
    output, _ = receiver.communicate(timeout=60)
    if replay.returncode != 0 or receiver.returncode != 0:
        raise RuntimeError(f'case {size} {reliability} {profile} failed: {replay.stderr}')
    received = json.loads(output.strip().splitlines()[-1])
    latencies = sorted(received['latencies'])
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None
    return {
        'size': size, 'reliability': reliability, 'profile': profile, 'rate_hz': rate,
        'published': frames, 'received_triples': received['triples'],
        'delivered': received['triples'] / frames,
        'latency_median_ms': 1000 * statistics.median(latencies) if latencies else None,
        'latency_p95_ms': 1000 * p95 if latencies else None,
    }


def format_table(results: list[dict]) -> str:
    """Markdown table of the results."""
    lines = ['| size | reliability | Fast DDS profile | triples received | delivered '
             '| latency median (ms) | latency p95 (ms) |', '|---|---|---|---|---|---|---|']
    for r in results:
        median = f'{r["latency_median_ms"]:.1f}' if r['latency_median_ms'] is not None else '-'
        p95 = f'{r["latency_p95_ms"]:.1f}' if r['latency_p95_ms'] is not None else '-'
        lines.append(f'| {r["size"]} | {r["reliability"]} | {r["profile"]} | '
                     f'{r["received_triples"]}/{r["published"]} | {100 * r["delivered"]:.0f}% '
                     f'| {median} | {p95} |')
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run ``c2f-sdf bench-transport``."""
    parser = argparse.ArgumentParser(prog='c2f-sdf bench-transport', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', default='640x480,1280x720',
                        help='comma-separated image sizes (%(default)s); known: '
                        + ', '.join(CAMERAS))
    parser.add_argument('--reliability', default='reliable,best_effort',
                        help='comma-separated QoS reliabilities (%(default)s)')
    parser.add_argument('--profiles', default='shipped,default',
                        help='Fast DDS profiles: shipped (config/fastdds_localhost.xml) '
                        'and/or default (Fast DDS built-in transports) (%(default)s)')
    parser.add_argument('--rate', type=float, default=30.0, help='frames per second')
    parser.add_argument('--frames', type=int, default=90, help='frames per case')
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    parser.add_argument('--receive', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receive:
        print(json.dumps(receive(args.receive, idle_timeout=3.0, total_timeout=300.0)))
        return 0
    sizes = args.sizes.split(',')
    reliabilities = args.reliability.split(',')
    profiles = args.profiles.split(',')
    for value, allowed, what in ((sizes, CAMERAS, 'size'),
                                 (reliabilities, ('reliable', 'best_effort'), 'reliability'),
                                 (profiles, ('shipped', 'default'), 'profile')):
        unknown = set(value) - set(allowed)
        if unknown:
            parser.error(f'unknown {what} {", ".join(sorted(unknown))}; '
                         f'choose from {", ".join(allowed)}')
    if args.frames < 2 or not 0 < args.rate <= 1000:
        parser.error('need --frames >= 2 and 0 < --rate <= 1000')
    results = []
    with tempfile.TemporaryDirectory(prefix='c2f_sdf_transport_') as workdir:
        for size in sizes:
            for profile in profiles:
                for reliability in reliabilities:
                    result = run_case(size, reliability, profile, args.rate, args.frames,
                                      pathlib.Path(workdir))
                    results.append(result)
                    if not args.json:
                        median = result['latency_median_ms'] or float('nan')
                        print(f'{size} {reliability:11s} {profile:7s}: '
                              f'{result["received_triples"]}/{args.frames} triples, '
                              f'median latency {median:.1f} ms', flush=True)
    if args.json:
        print(json.dumps({'cases': results}))
    else:
        print(format_table(results))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
