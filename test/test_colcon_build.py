"""
``colcon build`` of this package from the ROS 2 wheels, as a user's workspace would do it.

Checks that interfaces and Python code install into one c2f_sdf_ros package (our
__init__.py, not rosidl's empty one), that they import from the install alone, and that
the installed node executable runs.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import pytest

from helpers.frames import make_frame_folder

REPO = pathlib.Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow]


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
    env = dict(os.environ)
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
    for executable in ('replay_camera_node', 'rgbd_monitor_node', 'recorder_node'):
        assert os.access(colcon_install / 'lib' / 'c2f_sdf_ros' / executable, os.X_OK)
    share = colcon_install / 'share' / 'c2f_sdf_ros'
    for name in ('package.xml', 'launch/replay_camera.launch.py', 'config/replay_camera.yaml',
                 'config/fastdds_localhost.xml', 'rviz/c2f_sdf_ros.rviz',
                 'msg/HandObjectReconstruction.msg', 'sample/camera.yaml',
                 'sample/color/000000.png', 'sample/mesh/000000_hand.ply'):
        assert (share / name).is_file(), name


def test_installed_package_imports_without_the_source_tree(colcon_install):
    code = (
        f'import sys; sys.path[:] = [p for p in sys.path if p not in ("", {str(REPO)!r})]\n'
        'import c2f_sdf_ros, c2f_sdf_ros.ros.conversions\n'
        'from c2f_sdf_ros.msg import HandObjectReconstruction\n'
        'from rclpy.serialization import serialize_message\n'
        'serialize_message(HandObjectReconstruction())\n'
        'import json, c2f_sdf_ros.msg._hand_object_reconstruction as generated\n'
        'print(json.dumps([list(c2f_sdf_ros.__path__), c2f_sdf_ros.ros.conversions.__file__,'
        ' generated.__file__]))\n'
    )
    result = subprocess.run([sys.executable, '-c', code], cwd='/', capture_output=True,
                            text=True, env=install_env(colcon_install), timeout=60)
    assert result.returncode == 0, result.stderr
    package_path, code_file, generated_file = json.loads(result.stdout)
    assert str(REPO / 'c2f_sdf_ros') not in package_path, 'source tree imported'
    assert package_path[0].startswith(str(colcon_install))
    assert code_file.startswith(str(colcon_install))
    assert generated_file.startswith(str(colcon_install))


@pytest.mark.ros
def test_installed_executable_runs(colcon_install, tmp_path):
    frames = make_frame_folder(tmp_path / 'frames', 3)
    result = subprocess.run(
        [sys.executable, str(colcon_install / 'lib' / 'c2f_sdf_ros' / 'replay_camera_node'),
         '--ros-args', '-p', f'frames_dir:={frames}', '-p', 'loop:=false',
         '-p', 'rate:=50.0', '-r', '__ns:=/colcon_test'],
        cwd='/', capture_output=True, text=True, env=install_env(colcon_install), timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'replay finished: 3 frames published' in result.stderr + result.stdout
