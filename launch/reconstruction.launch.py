"""
The reconstruction node on an RGB-D camera (RealSense topic names by default), with RViz.

    ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true
    ros2 launch c2f_sdf_ros reconstruction.launch.py rviz:=true

Outputs go to /c2f_sdf/{reconstruction, markers, hand_points, object_points} (change with
``namespace:=``); other cameras: ``camera_namespace:=`` or the ``*_topic`` arguments.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from c2f_sdf_ros.ros.launch_helpers import (
    RECONSTRUCTION_NAMESPACE,
    argument,
    camera_arguments,
    camera_remappings,
    fastdds_profile,
    namespace_argument,
    package_node,
    params_file_argument,
    rviz,
)


def generate_launch_description():
    return LaunchDescription([
        *camera_arguments('Namespace of the camera driver (RealSense: /camera/camera).'),
        namespace_argument(RECONSTRUCTION_NAMESPACE, 'Namespace of the reconstruction node '
                           'and its outputs.'),
        params_file_argument('reconstruction.yaml',
                             'YAML with the reconstruction node parameters.'),
        DeclareLaunchArgument('detector', default_value='mediapipe',
                              choices=['mediapipe', 'skin_depth'],
                              description='Hand detector (skin_depth: no model, skin-coloured '
                                          'blobs).'),
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
        *fastdds_profile(),
        package_node(
            'reconstruction_node', 'hand_object_reconstruction',
            [LaunchConfiguration('params_file'), {
                'detector': argument('detector', str),
                'qos_reliability': argument('qos_reliability', str),
                'color_transport': argument('color_transport', str),
                'depth_transport': argument('depth_transport', str),
            }],
            remappings=camera_remappings()),
        *rviz('false'),
    ])
