"""
The demo with RViz: replay the bundled frames into the reconstruction node.

    ros2 launch c2f_sdf_ros demo.launch.py [frames_dir:=/path/to/frames]
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from c2f_sdf_ros.ros.launch_helpers import (
    argument,
    namespace_argument,
    package_node,
    params_file_argument,
    rviz,
    share_path,
)


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('frames_dir', default_value=share_path('sample'),
                              description='Frame folder to replay (default: the bundled '
                                          'sample).'),
        DeclareLaunchArgument('rate', default_value='0.5',
                              description='Replay rate (Hz); keep it within what the node '
                                          'sustains (see docs/benchmarks.md).'),
        namespace_argument('c2f_demo', 'Namespace of both nodes.'),
        params_file_argument('reconstruction.yaml',
                             'YAML with the reconstruction node parameters.'),
        package_node('replay_camera_node', 'replay_camera', [{
            'frames_dir': argument('frames_dir', str),
            'rate': argument('rate', float),
        }]),
        package_node('reconstruction_node', 'hand_object_reconstruction',
                     [LaunchConfiguration('params_file')]),
        *rviz('true'),
    ])
