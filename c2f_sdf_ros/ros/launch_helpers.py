"""
The pieces the package's launch files (launch/*.launch.py) share.

Every launch file starts this package's nodes in the namespace of its ``namespace``
argument, reads parameters from a ``params_file`` (default: one of the package's config/
files) and typed launch arguments; two of them can start RViz.
Needs ``launch`` and ``launch_ros`` (a full ROS 2 install); only launch files import it.
"""

from __future__ import annotations

from collections.abc import Iterable

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'c2f_sdf_ros'
BOOLEAN = ['true', 'false']


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
                 remappings: Iterable[tuple[str, LaunchConfiguration]] = ()) -> Node:
    """A node of this package, in the ``namespace`` argument's namespace, output on screen."""
    return Node(package=PACKAGE, executable=executable, name=name,
                namespace=LaunchConfiguration('namespace'), output='screen',
                parameters=parameters, remappings=list(remappings))

def rviz(default: str) -> list:
    """The ``launch_rviz`` argument and RViz with the package's config when it is true."""
    return [
        DeclareLaunchArgument('launch_rviz', default_value=default, choices=BOOLEAN,
                              description='Start RViz with the package config.'),
        Node(package='rviz2', executable='rviz2', name='rviz2', output='log',
             arguments=['-d', share_path('rviz', 'c2f_sdf_ros.rviz')],
             condition=IfCondition(LaunchConfiguration('launch_rviz'))),
    ]
