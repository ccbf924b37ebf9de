"""
``c2f-sdf bench-node``: the reconstruction node under a live camera rate, and its memory.

Starts two processes, as a deployment runs them: the replay camera publishing a frame folder
(default: the bundled 640x480 sample) at ``--rate`` Hz, looping, and the reconstruction node
reading it. This process subscribes to the node's outputs (raw bytes: it reads only the
stamps, so it costs little CPU) and to its ``/diagnostics``, and samples the node's resident
memory (``/proc/<pid>/status``). After ``--warmup`` seconds it measures for ``--duration``
seconds and prints one JSON summary:

- ``compute_median_ms``: the node's time per published frame, frame decoding through the
  pipeline, messages and markers to publishing (its ``/diagnostics``, last 500 frames);
  ``pipeline_median_ms`` and ``outputs_median_ms`` split it;
- ``node_latency_median_ms``: publish time minus the image stamp (the node's own figure);
  ``received_latency_*``: receipt here minus the image stamp;
- ``published_per_second``, frames superseded (replaced by a newer one while the worker was
  busy), other drops;
- ``rss_mib``: at the end of the warm-up, at the end, the least and the largest, the
  growth in % (median of the last quarter of the samples against the first quarter's) and
  the least-squares slope in MiB per minute.

A soak is the same command with a long ``--duration`` (``--duration 600`` after a
``--warmup 120``); ``--samples`` writes one JSON line per ``--sample-every`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import statistics
import struct
import subprocess
import sys
import time

NS_PER_S = 1_000_000_000
NAMESPACE = '/bench'
CAMERA_NAMESPACE = '/bench/camera'


def rss_mib(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MiB (None once it is gone)."""
    try:
        for line in pathlib.Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def header_stamp_ns(data: bytes) -> int:
    """The header stamp of a serialized message whose first field is a std_msgs/Header."""
    sec, nanosec = struct.unpack_from('<iI', data, 4)
    return sec * NS_PER_S + nanosec


def build_parser() -> argparse.ArgumentParser:
    """Options of ``c2f-sdf bench-node``."""
    parser = argparse.ArgumentParser(prog='c2f-sdf bench-node', description=__doc__.split(
        '\n\n')[0].strip().split(': ', 1)[-1])
    parser.add_argument('--frames', default=None,
                        help='frame folder to replay (default: the bundled 640x480 sample)')
    parser.add_argument('--rate', type=float, default=30.0, help='replay rate, Hz')
    parser.add_argument('--warmup', type=float, default=60.0, help='seconds before measuring')
    parser.add_argument('--duration', type=float, default=120.0, help='seconds measured')
    parser.add_argument('--sample-every', type=float, default=10.0,
                        help='seconds between memory samples')
    parser.add_argument('--detector', default='skin_depth', choices=('skin_depth', 'mediapipe'))
    parser.add_argument('--resolution', type=int, default=128)
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')
    parser.add_argument('--lifecycle', action='store_true',
                        help='run the managed node (configured and activated by this command)')
    parser.add_argument('--samples', default=None, help='write JSON lines of samples here')
    parser.add_argument('--log-dir', default=None, help="keep the nodes' logs here")
    parser.add_argument('--node-arg', action='append', default=[],
                        help='extra node parameter NAME:=VALUE (repeatable)')
    return parser


def _start(module: str, ros_args: list[str], log_path: pathlib.Path, env: dict
           ) -> subprocess.Popen:
    log = open(log_path, 'w')  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([sys.executable, '-m', module, '--ros-args', *ros_args],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    process.log_file = log
    return process


def _stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    process.log_file.close()
    return process.returncode


def _activate(node, name: str, timeout: float = 120.0) -> None:
    """Configure and activate the managed node ``name`` through its services."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    import rclpy

    client = node.create_client(ChangeState, f'{name}/change_state')
    if not client.wait_for_service(timeout_sec=timeout):
        raise RuntimeError(f'{name}/change_state did not appear')
    for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition)))
        rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
        if not future.done() or not future.result().success:
            raise RuntimeError(f'{name}: transition {transition} failed')


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON summary; exit status 1 if nothing was published."""
    args = build_parser().parse_args(argv)
    from c2f_sdf_ros.data.bundled import BUNDLED_FRAMES

    frames = pathlib.Path(args.frames) if args.frames else pathlib.Path(BUNDLED_FRAMES)
    share = pathlib.Path(__file__).resolve().parents[1]
    profile = share.parent / 'config' / 'fastdds_localhost.xml'
    env = dict(os.environ)
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    # A domain of its own, so that tests running meanwhile cannot cross-talk.
    env.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(201, 230)))
    if profile.is_file():
        env.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(profile))
    env['PYTHONUNBUFFERED'] = '1'
    os.environ.update({k: env[k] for k in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_DOMAIN_ID')})
    if 'FASTDDS_DEFAULT_PROFILES_FILE' in env:
        os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = env['FASTDDS_DEFAULT_PROFILES_FILE']

    from diagnostic_msgs.msg import DiagnosticArray
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import PointCloud2
    from visualization_msgs.msg import MarkerArray

    from c2f_sdf_ros.msg import HandObjectReconstruction

    log_dir = pathlib.Path(args.log_dir or f'/tmp/c2f_bench_node_{os.getpid()}')
    log_dir.mkdir(parents=True, exist_ok=True)
    node_module = ('c2f_sdf_ros.ros.reconstruction_lifecycle_node' if args.lifecycle
                   else 'c2f_sdf_ros.ros.reconstruction_node')
    node_args = ['-r', f'__ns:={NAMESPACE}',
                 '-r', f'color/image_raw:={CAMERA_NAMESPACE}/color/image_raw',
                 '-r', 'aligned_depth_to_color/image_raw:='
                       f'{CAMERA_NAMESPACE}/aligned_depth_to_color/image_raw',
                 '-r', f'color/camera_info:={CAMERA_NAMESPACE}/color/camera_info',
                 '-p', f'detector:={args.detector}', '-p', f'resolution:={args.resolution}',
                 '-p', f'threads:={args.threads}', '-p', 'report_period:=2.0']
    for extra in args.node_arg:
        node_args += ['-p', extra]
    reconstruction = _start(node_module, node_args, log_dir / 'reconstruction.log', env)
    replay = _start('c2f_sdf_ros.ros.replay_camera_node', [
        '-r', f'__ns:={CAMERA_NAMESPACE}', '-p', f'frames_dir:={frames}',
        '-p', f'rate:={args.rate}', '-p', 'loop:=true'], log_dir / 'replay.log', env)
    received: list[tuple[float, float]] = []   # (receipt monotonic, latency s)
    diagnostics: dict[str, str] = {}
    samples: list[dict] = []
    sample_stream = open(args.samples, 'w') if args.samples else None  # noqa: SIM115
    try:
        with rclpy.init():
            node = Node('bench_node_listener', namespace=NAMESPACE)

            def on_result(data: bytes) -> None:
                now = node.get_clock().now().nanoseconds
                received.append((time.monotonic(), (now - header_stamp_ns(data)) / NS_PER_S))

            def on_diagnostics(msg: DiagnosticArray) -> None:
                for status in msg.status:
                    if status.name.endswith('reconstruction'):
                        diagnostics.update({kv.key: kv.value for kv in status.values})

            node.create_subscription(HandObjectReconstruction, 'reconstruction', on_result,
                                     10, raw=True)
            # Subscribed (raw, not decoded) so that the node builds markers and clouds.
            node.create_subscription(MarkerArray, 'markers', lambda data: None, 10, raw=True)
            for topic in ('hand_points', 'object_points'):
                node.create_subscription(PointCloud2, topic, lambda data: None, 10, raw=True)
            node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
            if args.lifecycle:
                _activate(node, 'hand_object_reconstruction')
            started = time.monotonic()
            measure_from = started + args.warmup
            end = measure_from + args.duration
            next_sample = measure_from
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.2)
                if reconstruction.poll() is not None:
                    raise RuntimeError(f'the node exited ({reconstruction.returncode}); see '
                                       f'{log_dir / "reconstruction.log"}')
                now = time.monotonic()
                if now >= next_sample:
                    sample = {'t_s': round(now - started, 1),
                              'rss_mib': round(rss_mib(reconstruction.pid) or 0.0, 1),
                              'published': diagnostics.get('published_frames'),
                              'compute_median_ms': diagnostics.get('compute_median_ms')}
                    samples.append(sample)
                    if sample_stream:
                        sample_stream.write(json.dumps(sample) + '\n')
                        sample_stream.flush()
                    next_sample += args.sample_every
            node.destroy_node()
    finally:
        if sample_stream:
            sample_stream.close()
        _stop(replay)
        status = _stop(reconstruction)
    window = [latency for at, latency in received if at >= measure_from]
    rss = [s['rss_mib'] for s in samples if s['rss_mib']]
    # RSS saw-tooths by tens of MiB from frame to frame: growth compares the medians of the
    # first and the last quarter of the samples, and the slope is a least-squares fit.
    quarter = max(1, len(rss) // 4)
    first, last = (statistics.median(rss[:quarter]), statistics.median(rss[-quarter:])) \
        if rss else (None, None)
    times = [s['t_s'] / 60.0 for s in samples if s['rss_mib']]
    slope = (statistics.linear_regression(times, rss).slope if len(rss) >= 2 else None)
    summary = {
        'frames_dir': str(frames), 'rate_hz': args.rate, 'detector': args.detector,
        'resolution': args.resolution, 'warmup_s': args.warmup, 'duration_s': args.duration,
        'received_in_window': len(window),
        'received_per_second': round(len(window) / args.duration, 3),
        'received_latency_median_ms': round(1000 * statistics.median(window), 1)
        if window else None,
        'received_latency_p95_ms': round(1000 * sorted(window)[int(0.95 * (len(window) - 1))],
                                         1) if window else None,
        **{key: diagnostics.get(key) for key in (
            'compute_median_ms', 'pipeline_median_ms', 'outputs_median_ms',
            'latency_median_ms', 'latency_max_ms', 'published_frames', 'received_frames')},
        'dropped': {k[len('dropped_'):]: int(v) for k, v in diagnostics.items()
                    if k.startswith('dropped_')},
        'rss_mib': {'warmup_end': rss[0] if rss else None, 'end': rss[-1] if rss else None,
                    'min': min(rss) if rss else None, 'max': max(rss) if rss else None,
                    'first_quarter_median': first, 'last_quarter_median': last,
                    # The floor between frames: a leak raises it, a frame's peak does not.
                    'first_quarter_min': min(rss[:quarter]) if rss else None,
                    'last_quarter_min': min(rss[-quarter:]) if rss else None,
                    'growth_percent': round(100 * (last - first) / first, 2) if rss else None,
                    'slope_mib_per_min': round(slope, 3) if slope is not None else None},
        'node_exit_status': status,
        'logs': str(log_dir),
    }
    summary['node_latency_median_ms'] = summary.pop('latency_median_ms')
    summary['node_latency_max_ms'] = summary.pop('latency_max_ms')
    print(json.dumps(summary, indent=1), flush=True)
    return 0 if window else 1


if __name__ == '__main__':
    raise SystemExit(main())
