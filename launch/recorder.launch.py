"""
Record reconstruction messages to meshes and frames.jsonl.

    ros2 launch c2f_sdf_ros recorder.launch.py output_dir:=/tmp/recording
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare('c2f_sdf_ros')
    return LaunchDescription([
        DeclareLaunchArgument('output_dir', description='Folder to write into.'),
        DeclareLaunchArgument('mesh_format', default_value='ply', choices=['ply', 'glb', 'obj'],
                              description='File format of the meshes.'),
        DeclareLaunchArgument('reconstruction_topic', default_value='/c2f_sdf/reconstruction',
                              description='HandObjectReconstruction topic to record.'),
        DeclareLaunchArgument(
            'params_file', default_value=PathJoinSubstitution([share, 'config', 'recorder.yaml']),
            description='YAML with the remaining recorder parameters.'),
        Node(
            package='c2f_sdf_ros', executable='recorder_node', name='reconstruction_recorder',
            output='screen',
            parameters=[LaunchConfiguration('params_file'), {
                'output_dir': ParameterValue(LaunchConfiguration('output_dir'), value_type=str),
                'mesh_format': ParameterValue(LaunchConfiguration('mesh_format'),
                                              value_type=str),
            }],
            remappings=[('reconstruction', LaunchConfiguration('reconstruction_topic'))]),
    ])
