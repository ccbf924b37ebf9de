"""
Launch files and config YAMLs refer only to parameters the nodes declare.

``launch`` / ``launch_ros`` are not installable here, so launch files are read as Python
syntax trees instead of being imported; the nodes' parameter tables are the reference,
and one test checks that a running node declares exactly its table.
"""

import ast
import pathlib
import re

import pytest
import rclpy
from rclpy.context import Context
import yaml

from c2f_sdf_ros.ros import (
    reconstruction_node,
    recorder_node,
    replay_camera_node,
    rgbd_input,
    rgbd_monitor_node,
)

REPO = pathlib.Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO / 'launch').glob('*.launch.py'))
CONFIG_FILES = sorted((REPO / 'config').glob('*.yaml'))

# executable -> (node name, module with PARAMETERS, topics it subscribes or publishes)
NODES = {
    'replay_camera_node': ('replay_camera', replay_camera_node, (
        'color/image_raw', 'color/camera_info', 'aligned_depth_to_color/image_raw',
        'aligned_depth_to_color/camera_info')),
    'rgbd_monitor_node': ('rgbd_monitor', rgbd_monitor_node, rgbd_input.TOPICS),
    'recorder_node': ('reconstruction_recorder', recorder_node, ('reconstruction',)),
    'reconstruction_node': ('hand_object_reconstruction', reconstruction_node,
                            rgbd_input.TOPICS),
}
NODE_BY_NAME = {name: module for name, module, _ in NODES.values()}
# Launch arguments that configure the launch itself rather than a node parameter.
LAUNCH_LEVEL_ARGUMENTS = {'namespace', 'params_file', 'launch_rviz', 'fastdds_profile'}


def specs_of(module):
    return {spec.name: spec for spec in module.PARAMETERS}


def call_name(node):
    return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, 'attr', '')


def keyword(call, name):
    return next((k.value for k in call.keywords if k.arg == name), None)


def launch_configuration_names(node):
    """Names of every LaunchConfiguration('x') inside ``node``."""
    return {sub.args[0].value for sub in ast.walk(node)
            if isinstance(sub, ast.Call) and call_name(sub) == 'LaunchConfiguration'}


def parse_launch(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    declared, nodes, uses = {}, [], set()
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = call_name(call)
        if name == 'DeclareLaunchArgument':
            declared[call.args[0].value] = call
        elif name == 'Node':
            nodes.append(call)
        elif name != 'LaunchConfiguration':
            continue
        if name != 'DeclareLaunchArgument':
            uses |= launch_configuration_names(call) if name == 'Node' else set()
    uses |= {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
             and call_name(c) == 'LaunchConfiguration'}
    return declared, nodes, uses


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_arguments_map_to_declared_parameters(path):
    declared, nodes, uses = parse_launch(path)
    assert nodes, f'{path.name} starts no node'
    for name, call in declared.items():
        description = keyword(call, 'description')
        assert description is not None and ast.literal_eval(description).strip(), \
            f'{path.name}: launch argument {name} has no description'
    assert uses - set(declared) == set(), f'{path.name}: undeclared launch arguments'
    assert set(declared) - uses == set(), f'{path.name}: declared but unused arguments'

    mapped = set()
    for call in nodes:
        package = ast.literal_eval(keyword(call, 'package'))
        executable = ast.literal_eval(keyword(call, 'executable'))
        if package != 'c2f_sdf_ros':
            mapped |= launch_configuration_names(call)  # e.g. rviz2: launch-level
            continue
        assert executable in NODES, f'{path.name}: unknown executable {executable}'
        node_name, module, topics = NODES[executable]
        assert ast.literal_eval(keyword(call, 'name')) == node_name
        specs = specs_of(module)
        for item in keyword(call, 'parameters').elts:
            if not isinstance(item, ast.Dict):
                continue
            for key, value in zip(item.keys, item.values, strict=True):
                parameter = ast.literal_eval(key)
                assert parameter in specs, \
                    f'{path.name}: {executable} declares no parameter {parameter}'
                arguments = launch_configuration_names(value)
                assert arguments, f'{path.name}: {parameter} is not set from an argument'
                mapped |= arguments
                wanted_type = type(specs[parameter].default).__name__
                value_type = keyword(value, 'value_type') if isinstance(value, ast.Call) \
                    else None
                assert value_type is not None and value_type.id == wanted_type, \
                    f'{path.name}: {parameter} must be passed as ParameterValue(..., ' \
                    f'value_type={wanted_type})'
                for argument in arguments:
                    choices = keyword(declared[argument], 'choices')
                    if choices is not None and specs[parameter].choices:
                        assert set(ast.literal_eval(choices)) <= set(specs[parameter].choices)
        remappings = keyword(call, 'remappings')
        for pair in remappings.elts if remappings is not None else ():
            source = ast.literal_eval(pair.elts[0])
            assert source in topics, f'{path.name}: {executable} has no topic {source}'
            mapped |= launch_configuration_names(pair)
        mapped |= launch_configuration_names(keyword(call, 'namespace') or ast.Constant(''))
    unmapped = set(declared) - mapped - LAUNCH_LEVEL_ARGUMENTS
    assert unmapped == set(), f'{path.name}: arguments that reach no node: {unmapped}'


@pytest.mark.parametrize('path', CONFIG_FILES, ids=lambda p: p.name)
def test_config_parameters_are_declared_with_valid_values(path):
    data = yaml.safe_load(path.read_text())
    assert data, f'{path.name} is empty'
    for key, body in data.items():
        match = re.fullmatch(r'/\*\*/(\w+)', key)
        assert match, f'{path.name}: use /**/<node name> keys, got {key}'
        assert match.group(1) in NODE_BY_NAME, f'{path.name}: no node named {match.group(1)}'
        specs = specs_of(NODE_BY_NAME[match.group(1)])
        parameters = body['ros__parameters']
        assert set(parameters) == set(specs), \
            f'{path.name}: differs from the declared parameters ' \
            f'{set(parameters) ^ set(specs)}'
        for name, value in parameters.items():
            default = specs[name].default
            assert type(value) is type(default), \
                f'{path.name}: {name} is {type(value).__name__}, declared {type(default).__name__}'
            assert specs[name].check(value) is None, specs[name].check(value)


def test_every_launch_default_params_file_exists():
    for path in LAUNCH_FILES:
        for match in re.finditer(r"'config', '([\w.]+)'|\[config, '([\w.]+)'\]",
                                 path.read_text()):
            name = match.group(1) or match.group(2)
            assert (REPO / 'config' / name).is_file(), f'{path.name}: config/{name} missing'


def test_cmake_installs_every_node_executable():
    cmake = (REPO / 'CMakeLists.txt').read_text()
    for executable in NODES:
        assert f'scripts/{executable}' in cmake
        script = REPO / 'scripts' / executable
        assert script.is_file() and script.stat().st_mode & 0o111, f'{script} not executable'


@pytest.mark.ros
@pytest.mark.parametrize('executable', sorted(NODES))
def test_running_node_declares_exactly_its_table(executable, tmp_path):
    from rclpy.parameter import Parameter

    from helpers.frames import make_frame_folder

    node_name, module, _ = NODES[executable]
    overrides = {'replay_camera_node': [Parameter('frames_dir', value=str(
        make_frame_folder(tmp_path / 'frames', 1)))],
        'recorder_node': [Parameter('output_dir', value=str(tmp_path / 'out'))]}
    node_class = {'replay_camera_node': replay_camera_node.ReplayCameraNode,
                  'rgbd_monitor_node': rgbd_monitor_node.RgbdMonitorNode,
                  'recorder_node': recorder_node.RecorderNode,
                  'reconstruction_node': reconstruction_node.ReconstructionNode}[executable]
    context = Context()
    rclpy.init(context=context)
    try:
        node = node_class(context=context, parameter_overrides=overrides.get(executable, []))
        declared = set(node._parameters) - {'use_sim_time', 'start_type_description_service'}
        assert node.get_name() == node_name
        assert declared == set(specs_of(module))
        for name in declared:
            assert node.describe_parameter(name).description
        if hasattr(node, 'close'):
            node.close()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
