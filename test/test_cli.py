"""The c2f-sdf command: dispatch, errors, and the transport benchmark end to end."""

import json
import math
import subprocess
import sys

import pytest

from c2f_sdf_ros import cli


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, '-m', 'c2f_sdf_ros.cli', *args],
                          capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(['--help'])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in (*cli.NODE_COMMANDS, *cli.TOOL_COMMANDS):
        assert command in out


def test_unknown_command_fails(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(['no-such-command'])
    assert exit_info.value.code == 2
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err


@pytest.mark.ros
@pytest.mark.parametrize('args, message', [
    (['replay-camera', '--ros-args', '-p', 'rate:=30'], 'rate must be of type float'),
    (['replay-camera', '--ros-args', '-p', 'rate:=-1.0'], 'out of range'),
    (['replay-camera'], 'parameter frames_dir is required'),
    (['replay-camera', '--ros-args', '-p', 'frames_dir:=/no/such/dir'], 'does not exist'),
    (['rgbd-monitor', '--ros-args', '-p', 'qos_reliability:=sometimes'],
     'qos_reliability must be one of reliable, best_effort'),
    (['recorder', '--ros-args', '-p', 'mesh_format:=stl'], 'mesh_format must be one of'),
])
def test_bad_node_parameters_exit_2_with_one_clear_line(args, message):
    result = run_cli(*args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert 'Traceback' not in result.stderr


def test_bench_transport_rejects_unknown_size():
    result = run_cli('bench-transport', '--sizes', '320x200')
    assert result.returncode == 2
    assert 'unknown size 320x200' in result.stderr


@pytest.mark.ros
@pytest.mark.slow
def test_bench_transport_json_counts_delivered_frames():
    result = run_cli('bench-transport', '--sizes', '640x480', '--reliability', 'reliable',
                     '--profiles', 'shipped', '--frames', '15', '--json')
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    (case,) = report['cases']
    assert case['size'] == '640x480' and case['published'] == 15
    # What arrives, and how late, is what the benchmark measures: no bound on either here.
    assert 1 <= case['received_triples'] <= 15
    assert case['delivered'] == pytest.approx(case['received_triples'] / 15)
    assert math.isfinite(case['latency_median_ms']) and case['latency_median_ms'] >= 0
