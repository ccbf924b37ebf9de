"""The ``c2f-sdf`` command."""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand -> (module with main(args), help). Nodes take ROS arguments after the name,
# e.g. `c2f-sdf replay-camera --ros-args -p frames_dir:=DIR -r __ns:=/camera`.
NODE_COMMANDS = {
    'replay-camera': ('c2f_sdf_ros.ros.replay_camera_node',
                      'publish a folder of RGB-D frames as a camera'),
    'rgbd-monitor': ('c2f_sdf_ros.ros.rgbd_monitor_node',
                     'check synchronized color/depth/camera_info input: rate, latency, drops'),
    'reconstruction': ('c2f_sdf_ros.ros.reconstruction_node',
                       'RGB-D frames in, hand and object meshes out (the main node)'),
    'reconstruction-lifecycle': ('c2f_sdf_ros.ros.reconstruction_lifecycle_node',
                                 'the reconstruction node as a managed (lifecycle) node'),
    'recorder': ('c2f_sdf_ros.ros.recorder_node',
                 'write reconstruction messages to meshes and a JSON line per frame'),
}
# Subcommand -> (module with main(argv), help) for commands with their own options.
TOOL_COMMANDS = {
    'synth': ('c2f_sdf_ros.data.synth.cli',
              'render synthetic hand-object RGB-D frames with exact ground truth'),
    'train': ('c2f_sdf_ros.train.cli', 'train the C2F-SDF model (one process or torchrun)'),
    'gpu-session': ('c2f_sdf_ros.train.session',
                    'one time-boxed training session on a GPU machine: resume, train, '
                    'export sharded weights, evaluate'),
    'eval': ('c2f_sdf_ros.eval.cli',
             'score trained weights: Chamfer, F-scores, penetration (both protocols)'),
    'eval-real': ('c2f_sdf_ros.eval.real',
                  'run the pipeline on real RGB-D frame folders and score it with their labels'),
    'demo': ('c2f_sdf_ros.ros.demo',
             'replay the bundled frames through the reconstruction node; meshes + overlays'),
    'bench': ('c2f_sdf_ros.eval.bench',
              'dense vs SER reconstruction: queries, stage times, accuracy'),
    'bench-contacts': ('c2f_sdf_ros.eval.contacts',
                       'per-part contact precision and recall on synthetic frames'),
    'bench-detector': ('c2f_sdf_ros.eval.bench_detector',
                       'hand detection + lifting on real frame folders: found rates, ms/frame'),
    'bench-transport': ('c2f_sdf_ros.ros.transport_bench',
                        'measure synchronized RGB-D frames delivered between processes'),
    'bench-node': ('c2f_sdf_ros.ros.node_bench',
                   'the reconstruction node at a camera rate: compute, latency, memory (soak)'),
    'bench-train': ('c2f_sdf_ros.train.bench',
                    'training throughput: frame-samples/s, compute vs data-loader wait'),
    'bench-markers': ('c2f_sdf_ros.ros.marker_bench',
                      "time to build and serialize one frame's mesh markers and message"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``c2f-sdf``."""
    parser = argparse.ArgumentParser(
        prog='c2f-sdf', description='Hand-object reconstruction from RGB-D (C2F-SDF) tools.')
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for name, (_, help_text) in NODE_COMMANDS.items():
        commands.add_parser(name, help=f'ROS 2 node: {help_text}; ROS arguments follow, '
                            'e.g. --ros-args -p name:=value', description=help_text)
    for name, (_, help_text) in TOOL_COMMANDS.items():
        commands.add_parser(name, help=f'{help_text} (see c2f-sdf {name} --help)',
                            add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``c2f-sdf``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in NODE_COMMANDS and '-h' not in argv[1:2] and '--help' not in argv[1:2]:
        # Everything after a node command belongs to rclpy (--ros-args ...), not argparse.
        module = importlib.import_module(NODE_COMMANDS[argv[0]][0])
        return module.main(['c2f-sdf', *argv[1:]])
    if argv and argv[0] in TOOL_COMMANDS:
        module = importlib.import_module(TOOL_COMMANDS[argv[0]][0])
        return module.main(argv[1:])
    build_parser().parse_args(argv)
    return 0


if __name__ == '__main__':
    sys.exit(main())
