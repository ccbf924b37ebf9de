"""
The demo with RViz: replay the bundled frames into the reconstruction node.

    ros2 launch c2f_sdf_ros demo.launch.py [frames_dir:=/path/to/frames]

The replay camera publishes under /camera/camera as a RealSense does and the node's outputs
go to /c2f_sdf, as with reconstruction.launch.py, so RViz shows them with the same config.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument

from c2f_sdf_ros.ros import launch_helpers as helpers


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('frames_dir', default_value=helpers.share_path('sample'),
                              description='Frame folder to replay (default: the bundled '
                                          'sample).'),
        DeclareLaunchArgument('rate', default_value='0.5',
                              description='Replay rate (Hz); keep it within what the node '
                                          'sustains (see docs/benchmarks.md).'),
        *helpers.camera_arguments('Namespace of the replayed camera topics (as a RealSense).'),
        *helpers.reconstruction_arguments(
            'Namespace of the reconstruction node.', detector='skin_depth',
            detector_description='Hand detector; the bundled frames are renders MediaPipe '
                                 'does not detect: skin_depth.'),
        *helpers.fastdds_profile(),
        helpers.package_node('replay_camera_node', 'replay_camera', [{
            'frames_dir': helpers.argument('frames_dir', str),
            'rate': helpers.argument('rate', float),
        }], namespace='camera_namespace'),
        helpers.reconstruction_node(['detector']),
        *helpers.rviz('true'),
    ])
