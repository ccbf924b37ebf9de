"""
Check an RGB-D camera as the reconstruction node will read it: rate, latency, drops.

Defaults are the RealSense driver's topics (start it with align_depth.enable:=true):

    ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true
    ros2 launch c2f_sdf_ros rgbd_monitor.launch.py launch_rviz:=true

Results go to the log and /diagnostics (rqt_runtime_monitor shows them).
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
        DeclareLaunchArgument('color_topic', default_value='/camera/camera/color/image_raw',
                              description='Color image topic.'),
        DeclareLaunchArgument(
            'depth_topic', default_value='/camera/camera/aligned_depth_to_color/image_raw',
            description='Depth image aligned to color (16UC1 mm or 32FC1 m).'),
        DeclareLaunchArgument('camera_info_topic',
                              default_value='/camera/camera/color/camera_info',
                              description='camera_info of the color camera.'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the monitor node.'),
        DeclareLaunchArgument('qos_reliability', default_value='reliable',
                              choices=['reliable', 'best_effort'],
                              description='Reliability of the subscriptions; best_effort '
                              'for a best_effort driver.'),
        DeclareLaunchArgument('sync_slop', default_value='0.05',
                              description='Largest stamp difference within a triple (s).'),
        DeclareLaunchArgument('exact_sync', default_value='false', choices=['true', 'false'],
                              description='Match only identical stamps.'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([share, 'config', 'rgbd_monitor.yaml']),
            description='YAML with the remaining rgbd_monitor parameters.'),
        DeclareLaunchArgument('launch_rviz', default_value='false', choices=['true', 'false'],
                              description='Also start RViz with the package config.'),
        Node(
            package='c2f_sdf_ros', executable='rgbd_monitor_node', name='rgbd_monitor',
            namespace=LaunchConfiguration('namespace'), output='screen',
            parameters=[LaunchConfiguration('params_file'), {
                'qos_reliability': ParameterValue(LaunchConfiguration('qos_reliability'),
                                                  value_type=str),
                'sync_slop': ParameterValue(LaunchConfiguration('sync_slop'), value_type=float),
                'exact_sync': ParameterValue(LaunchConfiguration('exact_sync'), value_type=bool),
            }],
            remappings=[
                ('color/image_raw', LaunchConfiguration('color_topic')),
                ('aligned_depth_to_color/image_raw', LaunchConfiguration('depth_topic')),
                ('color/camera_info', LaunchConfiguration('camera_info_topic')),
            ]),
        Node(
            package='rviz2', executable='rviz2', name='rviz2', output='log',
            arguments=['-d', PathJoinSubstitution([share, 'rviz', 'c2f_sdf_ros.rviz'])],
            condition=IfCondition(LaunchConfiguration('launch_rviz'))),
    ])
