"""
Check an RGB-D camera as the reconstruction node will read it: rate, latency, drops.

Defaults are the RealSense driver's topics (start it with align_depth.enable:=true):

    ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true
    ros2 launch c2f_sdf_ros rgbd_monitor.launch.py launch_rviz:=true

Results go to the log and /diagnostics (rqt_runtime_monitor shows them).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from c2f_sdf_ros.ros.launch_helpers import (
    BOOLEAN,
    argument,
    namespace_argument,
    package_node,
    params_file_argument,
    rviz,
)


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('color_topic', default_value='/camera/camera/color/image_raw',
                              description='Color image topic.'),
        DeclareLaunchArgument(
            'depth_topic', default_value='/camera/camera/aligned_depth_to_color/image_raw',
            description='Depth image aligned to color (16UC1 mm or 32FC1 m).'),
        DeclareLaunchArgument('camera_info_topic',
                              default_value='/camera/camera/color/camera_info',
                              description='camera_info of the color camera.'),
        namespace_argument('', 'Namespace of the monitor node.'),
        DeclareLaunchArgument('qos_reliability', default_value='reliable',
                              choices=['reliable', 'best_effort'],
                              description='Reliability of the subscriptions; best_effort '
                              'for a best_effort driver.'),
        DeclareLaunchArgument('sync_slop', default_value='0.05',
                              description='Largest stamp difference within a triple (s).'),
        DeclareLaunchArgument('exact_sync', default_value='false', choices=BOOLEAN,
                              description='Match only identical stamps.'),
        params_file_argument('rgbd_monitor.yaml',
                             'YAML with the remaining rgbd_monitor parameters.'),
        package_node(
            'rgbd_monitor_node', 'rgbd_monitor',
            [LaunchConfiguration('params_file'), {
                'qos_reliability': argument('qos_reliability', str),
                'sync_slop': argument('sync_slop', float),
                'exact_sync': argument('exact_sync', bool),
            }],
            remappings=[
                ('color/image_raw', LaunchConfiguration('color_topic')),
                ('aligned_depth_to_color/image_raw', LaunchConfiguration('depth_topic')),
                ('color/camera_info', LaunchConfiguration('camera_info_topic')),
            ]),
        *rviz('false'),
    ])
