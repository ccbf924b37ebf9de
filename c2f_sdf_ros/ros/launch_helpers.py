"""
The pieces the package's launch files (launch/*.launch.py) share.

Every launch file starts this package's nodes in the namespace of its ``namespace``
argument, reads parameters from a ``params_file`` (default: one of the package's config/
files) and typed launch arguments; those that read a camera take its namespace and topic
remaps (RealSense defaults), the Fast DDS profile for images, and can start RViz with the
package's config (``rviz:=true``).
Needs ``launch`` and ``launch_ros`` (a full ROS 2 install); only launch files import it.
"""

from __future__ import annotations

from collections.abc import Iterable

from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'c2f_sdf_ros'
BOOLEAN = ['true', 'false']
# The RealSense driver's namespace (ros2 launch realsense2_camera rs_launch.py).
REALSENSE_NAMESPACE = '/camera/camera'
# The reconstruction node's namespace in the launch files (and in rviz/c2f_sdf_ros.rviz).
RECONSTRUCTION_NAMESPACE = 'c2f_sdf'
# The hand detectors of the reconstruction node's ``detector`` parameter.
DETECTORS = ['mediapipe', 'skin_depth']
# Input topic of the nodes -> (launch argument, suffix after the camera namespace, help).
CAMERA_TOPICS = (
    ('color/image_raw', 'color_topic', '/color/image_raw', 'Color image topic.'),
    ('aligned_depth_to_color/image_raw', 'depth_topic', '/aligned_depth_to_color/image_raw',
     'Depth image aligned to color (16UC1 mm or 32FC1 m).'),
    ('color/camera_info', 'camera_info_topic', '/color/camera_info',
     'camera_info of the color camera.'),
)


def share_path(*parts: str) -> PathJoinSubstitution:
    """A path in the installed package's share/ folder (config/, rviz/, sample/...)."""
    return PathJoinSubstitution([FindPackageShare(PACKAGE), *parts])


def namespace_argument(default: str, description: str) -> DeclareLaunchArgument:
    """The ``namespace`` argument: where ``package_node`` puts the nodes."""
    return DeclareLaunchArgument('namespace', default_value=default, description=description)


def params_file_argument(config_name: str, description: str) -> DeclareLaunchArgument:
    """The ``params_file`` argument, defaulting to config/``config_name`` of the package."""
    return DeclareLaunchArgument('params_file', default_value=share_path('config', config_name),
                                 description=description)


def argument(name: str, value_type: type) -> ParameterValue:
    """The value of launch argument ``name`` as a parameter of type ``value_type``."""
    return ParameterValue(LaunchConfiguration(name), value_type=value_type)


def package_node(executable: str, name: str, parameters: list,
                 remappings: Iterable[tuple[str, LaunchConfiguration]] = (),
                 namespace: str = 'namespace') -> Node:
    """A node of this package in the namespace of launch argument ``namespace``, on screen."""
    return Node(package=PACKAGE, executable=executable, name=name,
                namespace=LaunchConfiguration(namespace), output='screen',
                parameters=parameters, remappings=list(remappings))


def reconstruction_arguments(namespace_description: str, detector: str,
                             detector_description: str) -> list[DeclareLaunchArgument]:
    """
    The arguments of a launch file that starts the reconstruction node (``reconstruction_node``).

    ``namespace`` (default ``RECONSTRUCTION_NAMESPACE``, where the RViz config looks),
    ``params_file`` (default config/reconstruction.yaml) and ``detector`` (default
    ``detector``: what suits the launch file's camera).
    """
    return [
        namespace_argument(RECONSTRUCTION_NAMESPACE, namespace_description),
        params_file_argument('reconstruction.yaml',
                             'YAML with the reconstruction node parameters.'),
        DeclareLaunchArgument('detector', default_value=detector, choices=DETECTORS,
                              description=detector_description),
    ]


def reconstruction_node(string_arguments: Iterable[str]) -> Node:
    """
    The reconstruction node on the ``camera_arguments`` topics.

    Its parameters: the ``params_file``, then each of ``string_arguments`` (launch
    arguments named as the node's string parameters, ``detector`` among them) over it.
    """
    return package_node(
        'reconstruction_node', 'hand_object_reconstruction',
        [LaunchConfiguration('params_file'),
         {name: argument(name, str) for name in string_arguments}],
        remappings=camera_remappings())


def camera_arguments(description: str) -> list[DeclareLaunchArgument]:
    """
    ``camera_namespace`` (RealSense default) and one argument per input topic.

    The topic arguments default to the driver's names under ``camera_namespace``; set them
    to read another camera (Azure Kinect: ``color_topic:=/rgb/image_raw`` ...).
    """
    camera = LaunchConfiguration('camera_namespace')
    return [DeclareLaunchArgument('camera_namespace', default_value=REALSENSE_NAMESPACE,
                                  description=description)] + [
        DeclareLaunchArgument(name, default_value=[camera, suffix], description=help_text)
        for _, name, suffix, help_text in CAMERA_TOPICS]


def camera_remappings() -> list[tuple[str, LaunchConfiguration]]:
    """Remaps of the nodes' input topics to the ``camera_arguments`` topics."""
    return [(topic, LaunchConfiguration(name)) for topic, name, _, _ in CAMERA_TOPICS]


def fastdds_profile() -> list:
    """The ``fastdds_profile`` argument and the environment variable that applies it."""
    return [
        DeclareLaunchArgument(
            'fastdds_profile', default_value=share_path('config', 'fastdds_localhost.xml'),
            description='Fast DDS profile of the nodes (16 MiB shared memory for images; '
                        'give the camera driver the same).'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE',
                               LaunchConfiguration('fastdds_profile')),
    ]


def rviz(default: str) -> list:
    """The ``rviz`` argument and RViz with the package config when it is true."""
    return [
        DeclareLaunchArgument('rviz', default_value=default, choices=BOOLEAN,
                              description='Start RViz with the package config '
                                          '(rviz/c2f_sdf_ros.rviz).'),
        Node(package='rviz2', executable='rviz2', name='rviz2', output='log',
             arguments=['-d', share_path('rviz', 'c2f_sdf_ros.rviz')],
             condition=IfCondition(LaunchConfiguration('rviz'))),
    ]
