"""``c2f-sdf bench-train``: training throughput on the bundled frames."""

import json

import pytest

from c2f_sdf_ros.train import bench


def test_bench_train_times_the_steps_it_was_asked_for(capsys):
    status = bench.main(['--warmup', '1', '--steps', '2', '--batch-size', '2',
                         '--workers', '0', '--threads', '1', '--json'])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['timed_steps'] == 2 and summary['batch_size'] == 2
    assert summary['device'] == 'cpu' and summary['parameters'] > 1_000_000
    assert 0 < summary['compute_seconds_median'] <= summary['step_seconds_median']
    assert summary['frame_samples_per_s'] == pytest.approx(2 / summary['step_seconds_median'],
                                                           rel=1e-3)
    assert 0.0 <= summary['data_wait_share'] < 1.0
    assert summary['frames_in_folder'] == 3


def test_bench_train_passes_train_options_through(capsys):
    status = bench.main(['--warmup', '0', '--steps', '1', '--batch-size', '1', '--workers',
                         '0', '--threads', '1', '--json', '--variant', 'pixel_rgb'])
    assert status == 0
    assert json.loads(capsys.readouterr().out)['variant'] == 'pixel_rgb'


@pytest.mark.parametrize('argv, message', [
    (['--steps', '0'], '--steps >= 1'),
    (['--out', '/tmp/x'], 'sets --out itself'),
    (['--no-such-option'], 'unknown options'),
])
def test_bench_train_refuses_bad_options_with_one_error_line(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        bench.main(['--workers', '0', *argv])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
