"""
The demo with RViz: replay the bundled frames into the reconstruction node.

    ros2 launch c2f_sdf_ros demo.launch.py frames_dir:=<repo>/data/sample
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare('c2f_sdf_ros')
    return LaunchDescription([
        DeclareLaunchArgument('frames_dir', description='Frame folder to replay.'),
        DeclareLaunchArgument('rate', default_value='0.5',
                              description='Replay rate (Hz); keep it within what the node '
                                          'sustains (see docs/benchmarks.md).'),
        DeclareLaunchArgument('namespace', default_value='c2f_demo',
                              description='Namespace of both nodes.'),
        DeclareLaunchArgument('launch_rviz', default_value='true', choices=['true', 'false'],
                              description='Start RViz.'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([share, 'config', 'reconstruction.yaml']),
            description='YAML with the reconstruction node parameters.'),
        Node(package='c2f_sdf_ros', executable='replay_camera_node', name='replay_camera',
             namespace=LaunchConfiguration('namespace'), output='screen',
             parameters=[{'frames_dir': ParameterValue(LaunchConfiguration('frames_dir'),
                                                       value_type=str),
                          'rate': ParameterValue(LaunchConfiguration('rate'),
                                                 value_type=float)}]),
        Node(package='c2f_sdf_ros', executable='reconstruction_node',
             name='hand_object_reconstruction', namespace=LaunchConfiguration('namespace'),
             output='screen', parameters=[LaunchConfiguration('params_file')]),
        Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
             condition=IfCondition(LaunchConfiguration('launch_rviz'))),
    ])
