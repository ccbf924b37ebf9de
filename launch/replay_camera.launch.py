"""
Replay a folder of RGB-D frames as a camera.

The default namespace camera/camera gives the RealSense driver's topic names
(/camera/camera/color/image_raw, /camera/camera/aligned_depth_to_color/image_raw, ...), so
anything launched for a live RealSense runs unchanged on a replay.

    ros2 launch c2f_sdf_ros replay_camera.launch.py frames_dir:=/path/to/frames
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    config = PathJoinSubstitution([FindPackageShare('c2f_sdf_ros'), 'config'])
    return LaunchDescription([
        DeclareLaunchArgument(
            'frames_dir', description='Folder of frames (camera.yaml, color/, depth/).'),
        DeclareLaunchArgument('rate', default_value='30.0', description='Frames per second.'),
        DeclareLaunchArgument('loop', default_value='true', choices=['true', 'false'],
                              description='Start again after the last frame.'),
        DeclareLaunchArgument('namespace', default_value='camera/camera',
                              description='Namespace of the published topics.'),
        DeclareLaunchArgument('frame_id', default_value='camera_color_optical_frame',
                              description='frame_id of the published headers.'),
        DeclareLaunchArgument('qos_reliability', default_value='reliable',
                              choices=['reliable', 'best_effort'],
                              description='Reliability of the published topics.'),
        DeclareLaunchArgument(
            'params_file', default_value=PathJoinSubstitution([config, 'replay_camera.yaml']),
            description='YAML with the remaining replay_camera parameters.'),
        DeclareLaunchArgument(
            'fastdds_profile',
            default_value=PathJoinSubstitution([config, 'fastdds_localhost.xml']),
            description='Fast DDS profile for the node (16 MiB shared memory for images).'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE',
                               LaunchConfiguration('fastdds_profile')),
        Node(
            package='c2f_sdf_ros', executable='replay_camera_node', name='replay_camera',
            namespace=LaunchConfiguration('namespace'), output='screen',
            parameters=[LaunchConfiguration('params_file'), {
                'frames_dir': ParameterValue(LaunchConfiguration('frames_dir'), value_type=str),
                'rate': ParameterValue(LaunchConfiguration('rate'), value_type=float),
                'loop': ParameterValue(LaunchConfiguration('loop'), value_type=bool),
                'frame_id': ParameterValue(LaunchConfiguration('frame_id'), value_type=str),
                'qos_reliability': ParameterValue(LaunchConfiguration('qos_reliability'),
                                                  value_type=str),
            }]),
    ])
