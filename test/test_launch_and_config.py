"""
Launch files and config YAMLs refer only to parameters the nodes declare.

``launch`` / ``launch_ros`` are not installable here, so each launch file is run against
stand-ins that record what it builds (with the shared ``c2f_sdf_ros.ros.launch_helpers``):
the test then reads its arguments, nodes, parameters and remappings. The nodes' parameter
tables are the reference, and one test checks that a running node declares exactly its table.
"""

import importlib.util
import pathlib
import re
import sys
import types
from unittest import mock

import pytest
import rclpy
from rclpy.context import Context
import yaml

from c2f_sdf_ros.ros import (
    reconstruction_lifecycle_node,
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
    'reconstruction_lifecycle_node': ('hand_object_reconstruction',
                                      reconstruction_lifecycle_node, rgbd_input.TOPICS),
}
NODE_BY_NAME = {name: module for name, module, _ in NODES.values()}
# Launch arguments that configure the launch itself rather than a node parameter.
LAUNCH_LEVEL_ARGUMENTS = {'namespace', 'params_file', 'rviz', 'fastdds_profile'}
LAUNCH_MODULES = ('launch', 'launch.actions', 'launch.conditions', 'launch.substitutions',
                  'launch_ros', 'launch_ros.actions', 'launch_ros.parameter_descriptions',
                  'launch_ros.substitutions')
HELPERS = 'c2f_sdf_ros.ros.launch_helpers'


def specs_of(module):
    return {spec.name: spec for spec in module.PARAMETERS}


class Recorded:
    """Stand-in for a launch / launch_ros class: keeps the arguments it was built with."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def get(self, index, name):
        return self.args[index] if len(self.args) > index else self.kwargs.get(name)


def stand_in_module(name):
    """A module whose every public attribute is a ``Recorded`` subclass of that name."""
    module = types.ModuleType(name)
    classes = {}

    def attribute(attr):
        if attr.startswith('__'):
            raise AttributeError(attr)
        return classes.setdefault(attr, type(attr, (Recorded,), {}))

    module.__getattr__ = attribute
    return module


def kind(value):
    return type(value).__name__ if isinstance(value, Recorded) else None


def walk(value):
    """Every ``Recorded`` inside ``value`` (arguments, lists, dicts), depth first."""
    if isinstance(value, Recorded):
        yield value
        for item in (*value.args, *value.kwargs.values()):
            yield from walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from walk(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(key)
            yield from walk(item)


def configurations(value):
    """Names of every LaunchConfiguration('x') inside ``value``."""
    return {item.args[0] for item in walk(value) if kind(item) == 'LaunchConfiguration'}


def load_launch(path):
    """The entities ``generate_launch_description()`` of ``path`` builds, with stand-ins."""
    stand_ins = {name: stand_in_module(name) for name in LAUNCH_MODULES}
    with mock.patch.dict(sys.modules, stand_ins):
        sys.modules.pop(HELPERS, None)
        spec = importlib.util.spec_from_file_location(f'launch_{path.stem}', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        description = module.generate_launch_description()
    sys.modules.pop(HELPERS, None)
    assert kind(description) == 'LaunchDescription'
    return description.args[0]


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_arguments_map_to_declared_parameters(path):
    entities = load_launch(path)
    items = list(walk(entities))
    declared = {d.args[0]: d for d in items if kind(d) == 'DeclareLaunchArgument'}
    nodes = [n for n in items if kind(n) == 'Node']
    assert nodes, f'{path.name} starts no node'
    for name, argument in declared.items():
        description = argument.kwargs.get('description')
        assert description and description.strip(), \
            f'{path.name}: launch argument {name} has no description'
    uses = configurations(entities)
    assert uses - set(declared) == set(), f'{path.name}: undeclared launch arguments'
    assert set(declared) - uses == set(), f'{path.name}: declared but unused arguments'

    mapped = set()
    for node in nodes:
        package, executable = node.kwargs['package'], node.kwargs['executable']
        if package != 'c2f_sdf_ros':
            mapped |= configurations(node)   # e.g. rviz2: launch-level
            continue
        assert executable in NODES, f'{path.name}: unknown executable {executable}'
        node_name, module, topics = NODES[executable]
        assert node.kwargs['name'] == node_name
        specs = specs_of(module)
        for item in node.kwargs['parameters']:
            if not isinstance(item, dict):
                continue
            for parameter, value in item.items():
                assert parameter in specs, \
                    f'{path.name}: {executable} declares no parameter {parameter}'
                arguments = configurations(value)
                assert arguments, f'{path.name}: {parameter} is not set from an argument'
                mapped |= arguments
                wanted_type = type(specs[parameter].default)
                assert kind(value) == 'ParameterValue' \
                    and value.kwargs.get('value_type') is wanted_type, \
                    f'{path.name}: {parameter} must be passed as ParameterValue(..., ' \
                    f'value_type={wanted_type.__name__})'
                for argument in arguments:
                    choices = declared[argument].kwargs.get('choices')
                    if choices is not None and specs[parameter].choices:
                        assert set(choices) <= set(specs[parameter].choices)
        for source, target in node.kwargs.get('remappings') or ():
            assert source in topics, f'{path.name}: {executable} has no topic {source}'
            mapped |= configurations(target)
        mapped |= configurations(node.kwargs.get('namespace'))
    # An argument also reaches a node through the default of one that does
    # (camera_namespace -> color_topic -> a remap).
    while True:
        reached = set().union(*(configurations(declared[name].kwargs.get('default_value'))
                                for name in mapped & set(declared)))
        if reached <= mapped:
            break
        mapped |= reached
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


def installed_share_sources():
    """share/c2f_sdf_ros entry -> its source in this checkout, from CMakeLists.txt."""
    cmake = (REPO / 'CMakeLists.txt').read_text()
    sources = {}
    for rule in re.findall(r'install\(DIRECTORY ([^)]*?) DESTINATION share/\$\{PROJECT_NAME\}\)',
                           cmake):
        for source in rule.split():
            sources[pathlib.PurePath(source).name] = REPO / source
    return sources


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_every_share_path_of_a_launch_file_is_installed(path):
    sources = installed_share_sources()
    joins = [j for j in walk(load_launch(path)) if kind(j) == 'PathJoinSubstitution']
    for parts in (j.args[0] for j in joins):
        if kind(parts[0]) != 'FindPackageShare':
            continue
        assert parts[0].args[0] == 'c2f_sdf_ros'
        top, *rest = parts[1:]
        assert top in sources, f'{path.name}: share/c2f_sdf_ros/{top} is not installed'
        assert sources[top].joinpath(*rest).exists(), \
            f'{path.name}: {"/".join(parts[1:])} missing from {sources[top]}'


def test_code_finds_the_bundled_sample_where_cmake_installs_it(tmp_path, monkeypatch):
    from c2f_sdf_ros.data import bundled

    assert bundled.BUNDLED_FRAMES == REPO / 'data' / 'sample'   # a checkout: its own
    # An install prefix as colcon makes one, found through the ament index.
    prefix = tmp_path / 'install'
    share = prefix / 'share' / 'c2f_sdf_ros'
    share.mkdir(parents=True)
    for name, source in installed_share_sources().items():
        (share / name).symlink_to(source, target_is_directory=True)
    index = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / 'c2f_sdf_ros').write_text('')
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(prefix))
    monkeypatch.setattr(bundled, 'SOURCE_SAMPLE', tmp_path / 'no_checkout' / 'data' / 'sample')
    assert bundled.find_bundled_frames() == share / 'sample'
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path / 'elsewhere'))
    assert bundled.find_bundled_frames() == bundled.SOURCE_SAMPLE   # named in the error


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
                  'reconstruction_node': reconstruction_node.ReconstructionNode,
                  'reconstruction_lifecycle_node':
                      reconstruction_lifecycle_node.ReconstructionLifecycleNode}[executable]
    context = Context()
    rclpy.init(context=context)
    try:
        node = node_class(context=context, parameter_overrides=overrides.get(executable, []))
        declared = set(node._parameters) - {'use_sim_time', 'start_type_description_service'}
        assert node.get_name() == node_name
        assert declared == set(specs_of(module))
        for name in declared:
            assert node.describe_parameter(name).description
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


# -- RViz shows what the launch publishes ----------------------------------------------------
RVIZ_DISPLAYS = {'MarkerArray': 'rviz_default_plugins/MarkerArray',
                 'PointCloud2': 'rviz_default_plugins/PointCloud2',
                 'Image': 'rviz_default_plugins/Image'}
RECONSTRUCTION_EXECUTABLES = ('reconstruction_node', 'reconstruction_lifecycle_node')


def evaluate(value, declared):
    """A launch value with every argument at its default, as a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ''.join(evaluate(item, declared) for item in value)
    if kind(value) == 'LaunchConfiguration':
        return evaluate(declared[value.args[0]].kwargs['default_value'], declared)
    raise AssertionError(f'cannot evaluate {value!r}')


def resolved(namespace, topic):
    """The full name of ``topic`` for a node in ``namespace`` (no remapping)."""
    if topic.startswith('/'):
        return topic
    return '/' + '/'.join(part for part in (namespace.strip('/'), topic) if part)


def rviz_topics(path):
    """{(display class, topic)} of an RViz config, groups included."""
    data = yaml.safe_load(path.read_text())
    found = set()

    def visit(displays):
        for display in displays or ():
            visit(display.get('Displays'))
            topic = display.get('Topic', {}).get('Value') if isinstance(
                display.get('Topic'), dict) else None
            if topic and display.get('Enabled', True):
                found.add((display['Class'], topic))
    visit(data['Visualization Manager']['Displays'])
    return found


def launch_rviz_cases():
    cases = []
    for path in LAUNCH_FILES:
        items = list(walk(load_launch(path)))
        if any(kind(n) == 'Node' and n.kwargs['executable'] == 'rviz2' for n in items) and any(
                kind(n) == 'Node' and n.kwargs['executable'] in RECONSTRUCTION_EXECUTABLES
                for n in items):
            cases.append(path)
    return cases


def test_reconstruction_launch_has_rviz():
    assert {p.name for p in launch_rviz_cases()} >= {'reconstruction.launch.py',
                                                     'demo.launch.py'}


@pytest.mark.parametrize('path', launch_rviz_cases(), ids=lambda p: p.name)
def test_rviz_config_shows_what_the_launch_publishes(path):
    """Every RViz display's topic is one the node publishes (or the camera image it reads)."""
    items = list(walk(load_launch(path)))
    declared = {d.args[0]: d for d in items if kind(d) == 'DeclareLaunchArgument'}
    expected = set()
    for node in (n for n in items if kind(n) == 'Node'):
        if node.kwargs['executable'] not in RECONSTRUCTION_EXECUTABLES:
            continue
        namespace = evaluate(node.kwargs['namespace'], declared)
        for topic, msg_type in reconstruction_node.PUBLISHED_TOPICS.items():
            if msg_type.__name__ in RVIZ_DISPLAYS:
                expected.add((RVIZ_DISPLAYS[msg_type.__name__], resolved(namespace, topic)))
        remaps = dict(node.kwargs['remappings'])
        color = remaps.get(rgbd_input.COLOR_TOPIC, rgbd_input.COLOR_TOPIC)
        expected.add((RVIZ_DISPLAYS['Image'], resolved(namespace, evaluate(color, declared))))
    [rviz_node] = [n for n in items if kind(n) == 'Node' and n.kwargs['executable'] == 'rviz2']
    arguments = rviz_node.kwargs['arguments']
    config = arguments[arguments.index('-d') + 1]
    assert kind(config) == 'PathJoinSubstitution'
    relative = config.args[0][1:]
    assert rviz_topics(REPO.joinpath(*relative)) == expected
    assert (RVIZ_DISPLAYS['MarkerArray'], '/c2f_sdf/markers') in expected
    assert (RVIZ_DISPLAYS['Image'], '/camera/camera/color/image_raw') in expected
