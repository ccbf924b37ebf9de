"""
The demo with RViz: replay the bundled frames into the reconstruction node.

    ros2 launch c2f_sdf_ros demo.launch.py [frames_dir:=/path/to/frames]

The replay camera publishes under /camera/camera as a RealSense does and the node's outputs
go to /c2f_sdf, as with reconstruction.launch.py, so RViz shows them with the same config.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

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
        helpers.namespace_argument(helpers.RECONSTRUCTION_NAMESPACE,
                                   'Namespace of the reconstruction node.'),
        helpers.params_file_argument('reconstruction.yaml',
                             'YAML with the reconstruction node parameters.'),
        DeclareLaunchArgument('detector', default_value='skin_depth',
                              choices=['mediapipe', 'skin_depth'],
                              description='Hand detector; the bundled frames are renders '
                                          'MediaPipe does not detect: skin_depth.'),
        *helpers.fastdds_profile(),
        helpers.package_node('replay_camera_node', 'replay_camera', [{
            'frames_dir': helpers.argument('frames_dir', str),
            'rate': helpers.argument('rate', float),
        }], namespace='camera_namespace'),
        helpers.package_node('reconstruction_node', 'hand_object_reconstruction',
                     [LaunchConfiguration('params_file'),
                      {'detector': helpers.argument('detector', str)}],
                     remappings=helpers.camera_remappings()),
        *helpers.rviz('true'),
    ])
