"""
Check an RGB-D camera as the reconstruction node will read it: rate, latency, drops.

Defaults are the RealSense driver's topics (start it with align_depth.enable:=true):

    ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true
    ros2 launch c2f_sdf_ros rgbd_monitor.launch.py rviz:=true

Results go to the log and /diagnostics (rqt_runtime_monitor shows them).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from c2f_sdf_ros.ros import launch_helpers as helpers


def generate_launch_description():
    return LaunchDescription([
        *helpers.camera_arguments('Namespace of the camera driver (RealSense: /camera/camera).'),
        helpers.namespace_argument('', 'Namespace of the monitor node.'),
        DeclareLaunchArgument('qos_reliability', default_value='reliable',
                              choices=['reliable', 'best_effort'],
                              description='Reliability of the subscriptions; best_effort '
                              'for a best_effort driver.'),
        DeclareLaunchArgument('sync_slop', default_value='0.05',
                              description='Largest stamp difference within a triple (s).'),
        DeclareLaunchArgument('exact_sync', default_value='false', choices=helpers.BOOLEAN,
                              description='Match only identical stamps.'),
        helpers.params_file_argument('rgbd_monitor.yaml',
                             'YAML with the remaining rgbd_monitor parameters.'),
        helpers.package_node(
            'rgbd_monitor_node', 'rgbd_monitor',
            [LaunchConfiguration('params_file'), {
                'qos_reliability': helpers.argument('qos_reliability', str),
                'sync_slop': helpers.argument('sync_slop', float),
                'exact_sync': helpers.argument('exact_sync', bool),
            }],
            remappings=helpers.camera_remappings()),
        *helpers.rviz('false'),
    ])
