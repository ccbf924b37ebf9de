"""
``colcon build`` of this package from the ROS 2 wheels, as a user's workspace would do it.

Checks that interfaces and Python code install into one c2f_sdf_ros package (our
__init__.py, not rosidl's empty one), that they import from the install alone, that the
code finds the bundled sample in the install's share/, and that the installed replay camera
and reconstruction node executables reconstruct a bundled frame and stop cleanly on Ctrl-C.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

from c2f_sdf_ros.msg import HandObjectReconstruction
from c2f_sdf_ros.ros.conversions import mesh_from_msg
from helpers.processes import node_env, process_log, start_process, stop_process

REPO = pathlib.Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow]
# Namespace of the test_node fixture (conftest.py) and of the nodes the tests start.
TEST_NAMESPACE = '/colcon_test'


@pytest.fixture(scope='module')
def colcon_install(tmp_path_factory):
    colcon = shutil.which('colcon', path=str(pathlib.Path(sys.executable).parent))
    if colcon is None:
        pytest.fail('colcon is not installed: run scripts/setup.sh')
    workspace = tmp_path_factory.mktemp('ws')
    (workspace / 'src').mkdir()
    # A copy without build outputs, as a user's workspace would have it.
    shutil.copytree(REPO, workspace / 'src' / 'c2f_sdf_ros', ignore=shutil.ignore_patterns(
        '.git', '.venv', 'build', 'install', 'log', '__pycache__', '*.egg-info'))
    env = dict(os.environ, CMAKE_PREFIX_PATH=sys.prefix, AMENT_PREFIX_PATH=sys.prefix)
    result = subprocess.run(
        [colcon, 'build', '--event-handlers', 'console_direct-', '--cmake-args',
         f'-DPython3_EXECUTABLE={sys.executable}', '-DBUILD_TESTING=OFF'],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workspace / 'install' / 'c2f_sdf_ros'


def install_env(prefix: pathlib.Path) -> dict:
    site = prefix / pathlib.Path(sysconfig.get_path('purelib')).relative_to(sys.prefix)
    env = node_env()
    env['PYTHONPATH'] = str(site)
    env['AMENT_PREFIX_PATH'] = f'{prefix}{os.pathsep}{sys.prefix}'
    # The bootstrapper already re-exec'ed this process: set the library path ourselves.
    env['LD_LIBRARY_PATH'] = f'{prefix / "lib"}{os.pathsep}{env.get("LD_LIBRARY_PATH", "")}'
    return env


def test_colcon_install_layout(colcon_install):
    site = colcon_install / pathlib.Path(sysconfig.get_path('purelib')).relative_to(sys.prefix)
    init = (site / 'c2f_sdf_ros' / '__init__.py').read_text()
    assert 'extend_path' in init, "rosidl's empty __init__.py replaced ours"
    assert (site / 'c2f_sdf_ros' / 'msg' / '_hand_object_reconstruction.py').is_file()
    assert (site / 'c2f_sdf_ros' / 'ros' / 'replay_camera_node.py').is_file()
    for executable in ('replay_camera_node', 'rgbd_monitor_node', 'recorder_node',
                       'reconstruction_node'):
        assert os.access(colcon_install / 'lib' / 'c2f_sdf_ros' / executable, os.X_OK)
    assert (site / 'c2f_sdf_ros' / 'ros' / 'launch_helpers.py').is_file()
    assert (site / 'c2f_sdf_ros' / 'weights' / 'synth_full.safetensors').is_file()
    share = colcon_install / 'share' / 'c2f_sdf_ros'
    for name in ('package.xml', 'launch/replay_camera.launch.py', 'config/replay_camera.yaml',
                 'config/fastdds_localhost.xml', 'rviz/c2f_sdf_ros.rviz',
                 'msg/HandObjectReconstruction.msg', 'sample/camera.yaml',
                 'sample/color/000000.png', 'sample/mesh/000000_hand.ply'):
        assert (share / name).is_file(), name


def run_from_install(prefix: pathlib.Path, code: str) -> str:
    """Run ``code`` with the install only (no source tree on sys.path); its stdout."""
    code = (f'import sys; sys.path[:] = [p for p in sys.path if p not in ("", {str(REPO)!r})]\n'
            + code)
    result = subprocess.run([sys.executable, '-c', code], cwd='/', capture_output=True,
                            text=True, env=install_env(prefix), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_installed_package_imports_without_the_source_tree(colcon_install):
    package_path, code_file, generated_file = json.loads(run_from_install(colcon_install, (
        'import c2f_sdf_ros, c2f_sdf_ros.ros.conversions\n'
        'from c2f_sdf_ros.msg import HandObjectReconstruction\n'
        'from rclpy.serialization import serialize_message\n'
        'serialize_message(HandObjectReconstruction())\n'
        'import json, c2f_sdf_ros.msg._hand_object_reconstruction as generated\n'
        'print(json.dumps([list(c2f_sdf_ros.__path__), c2f_sdf_ros.ros.conversions.__file__,'
        ' generated.__file__]))\n')))
    assert str(REPO / 'c2f_sdf_ros') not in package_path, 'source tree imported'
    assert package_path[0].startswith(str(colcon_install))
    assert code_file.startswith(str(colcon_install))
    assert generated_file.startswith(str(colcon_install))


def test_installed_code_finds_the_bundled_sample_in_share(colcon_install):
    found = run_from_install(colcon_install, (
        'import c2f_sdf_ros.data.bundled as bundled\n'
        'print(bundled.__file__); print(bundled.BUNDLED_FRAMES)\n')).split('\n')
    assert found[0].startswith(str(colcon_install)), found
    assert found[1] == str(colcon_install / 'share' / 'c2f_sdf_ros' / 'sample')


@pytest.mark.ros
def test_installed_nodes_reconstruct_a_bundled_frame(colcon_install, test_node, tmp_path):
    """replay_camera_node -> reconstruction_node, both the installed executables."""
    sample = colcon_install / 'share' / 'c2f_sdf_ros' / 'sample'
    executables = colcon_install / 'lib' / 'c2f_sdf_ros'
    env = install_env(colcon_install)
    results = []
    test_node.node.create_subscription(HandObjectReconstruction, 'reconstruction',
                                       results.append, 10)
    node = start_process(
        [str(executables / 'reconstruction_node'), '--ros-args', '-r', f'__ns:={TEST_NAMESPACE}',
         '-p', 'resolution:=32', '-p', 'threads:=1', '-p', 'detector:=skin_depth'],
        tmp_path / 'node.log', env, cwd='/')
    replay = start_process(
        [str(executables / 'replay_camera_node'), '--ros-args', '-r', f'__ns:={TEST_NAMESPACE}',
         '-p', f'frames_dir:={sample}', '-p', 'loop:=false', '-p', 'rate:=0.5',
         '-p', 'wait_for_subscribers:=1', '-p', 'start_delay:=1.0'],
        tmp_path / 'replay.log', env, cwd='/')
    try:
        assert test_node.spin_until(lambda: any(r.hands for r in results), timeout=120.0), \
            process_log(node) + process_log(replay)
        assert test_node.spin_until(lambda: replay.poll() is not None, timeout=30.0)
    finally:
        assert stop_process(replay) == 0, process_log(replay)
        assert stop_process(node) == 0, process_log(node)   # Ctrl-C: a clean stop
    assert 'replay finished: 3 frames published' in process_log(replay)
    vertices, faces = mesh_from_msg(next(r for r in results if r.hands).hands[0].mesh)
    assert len(faces) > 0 and np.all(np.isfinite(vertices))
    log = process_log(node)
    assert str(colcon_install) in log, 'the weights did not come from the install'
    assert 'totals:' in log
    for bad in ('Traceback', '[ERROR]', 'Failed to publish', 'dropped_error'):
        assert bad not in log, log
