"""
Replay a folder of RGB-D frames as a camera.

The default namespace camera/camera gives the RealSense driver's topic names
(/camera/camera/color/image_raw, /camera/camera/aligned_depth_to_color/image_raw, ...), so
anything launched for a live RealSense runs unchanged on a replay.

    ros2 launch c2f_sdf_ros replay_camera.launch.py frames_dir:=/path/to/frames
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from c2f_sdf_ros.ros import launch_helpers as helpers


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument(
            'frames_dir', description='Folder of frames (camera.yaml, color/, depth/).'),
        DeclareLaunchArgument('rate', default_value='30.0', description='Frames per second.'),
        DeclareLaunchArgument('loop', default_value='true', choices=helpers.BOOLEAN,
                              description='Start again after the last frame.'),
        helpers.namespace_argument('camera/camera', 'Namespace of the published topics.'),
        DeclareLaunchArgument('frame_id', default_value='camera_color_optical_frame',
                              description='frame_id of the published headers.'),
        DeclareLaunchArgument('qos_reliability', default_value='reliable',
                              choices=['reliable', 'best_effort'],
                              description='Reliability of the published topics.'),
        helpers.params_file_argument('replay_camera.yaml',
                             'YAML with the remaining replay_camera parameters.'),
        *helpers.fastdds_profile(),
        helpers.package_node('replay_camera_node', 'replay_camera', [
            LaunchConfiguration('params_file'), {
                'frames_dir': helpers.argument('frames_dir', str),
                'rate': helpers.argument('rate', float),
                'loop': helpers.argument('loop', bool),
                'frame_id': helpers.argument('frame_id', str),
                'qos_reliability': helpers.argument('qos_reliability', str),
            }]),
    ])
