"""
The reconstruction node on an RGB-D camera (RealSense topic names by default), with RViz.

    ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true
    ros2 launch c2f_sdf_ros reconstruction.launch.py rviz:=true

Outputs go to /c2f_sdf/{reconstruction, markers, hand_points, object_points} (change with
``namespace:=``); other cameras: ``camera_namespace:=`` or the ``*_topic`` arguments.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument

from c2f_sdf_ros.ros import launch_helpers as helpers


def generate_launch_description():
    return LaunchDescription([
        *helpers.camera_arguments('Namespace of the camera driver (RealSense: /camera/camera).'),
        *helpers.reconstruction_arguments(
            'Namespace of the reconstruction node and its outputs.', detector='mediapipe',
            detector_description='Hand detector (skin_depth: no model, skin-coloured blobs).'),
        DeclareLaunchArgument('qos_reliability', default_value='reliable',
                              choices=['reliable', 'best_effort'],
                              description='Reliability of the input subscriptions; '
                                          'best_effort for a best_effort driver.'),
        DeclareLaunchArgument('color_transport', default_value='raw',
                              choices=['raw', 'compressed'],
                              description='raw, or compressed (<color_topic>/compressed).'),
        DeclareLaunchArgument('depth_transport', default_value='raw',
                              choices=['raw', 'compressedDepth'],
                              description='raw, or compressedDepth '
                                          '(<depth_topic>/compressedDepth).'),
        *helpers.fastdds_profile(),
        helpers.reconstruction_node(
            ['detector', 'qos_reliability', 'color_transport', 'depth_transport']),
        *helpers.rviz('false'),
    ])
