"""
Record reconstruction messages to meshes and frames.jsonl.

    ros2 launch c2f_sdf_ros recorder.launch.py output_dir:=/tmp/recording
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from c2f_sdf_ros.ros import launch_helpers as helpers


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('output_dir', description='Folder to write into.'),
        DeclareLaunchArgument('mesh_format', default_value='ply', choices=['ply', 'glb', 'obj'],
                              description='File format of the meshes.'),
        DeclareLaunchArgument('reconstruction_topic', default_value='/c2f_sdf/reconstruction',
                              description='HandObjectReconstruction topic to record.'),
        helpers.namespace_argument('', 'Namespace of the recorder node.'),
        helpers.params_file_argument('recorder.yaml',
                                     'YAML with the remaining recorder parameters.'),
        helpers.package_node(
            'recorder_node', 'reconstruction_recorder',
            [LaunchConfiguration('params_file'), {
                'output_dir': helpers.argument('output_dir', str),
                'mesh_format': helpers.argument('mesh_format', str),
            }],
            remappings=[('reconstruction', LaunchConfiguration('reconstruction_topic'))]),
    ])
