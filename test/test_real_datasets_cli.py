"""``c2f-sdf train`` and ``c2f-sdf eval`` on the DexYCB and ObMan fixture trees."""

import json
import math

import pytest

from c2f_sdf_ros.model.checkpoint import load_model
from helpers.cli import TINY, run_cli
from helpers.dexycb_fixture import write_dexycb_fixture
from helpers.mano_fixture import write_mano_fixture
from helpers.obman_fixture import write_obman_fixture

pytestmark = pytest.mark.slow


def train_and_eval(tmp_path, dataset, *source_args):
    out = tmp_path / 'run'
    done = run_cli('train', '--dataset', dataset, *source_args, '--out', str(out),
                   '--model-json', json.dumps(TINY), '--steps', '2', '--batch-size', '1',
                   '--num-queries', '64', '--val-frames', '0', '--checkpoint-every', '2',
                   '--warmup-steps', '1', '--workers', '0', '--threads', '1', '--quiet',
                   '--cache-dir', str(tmp_path / 'cache'))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])['step'] == 2
    model, info = load_model(out / 'last')
    assert info['train']['dataset'] == dataset
    # SDF samples were cached for reuse by later epochs and runs.
    assert list((tmp_path / 'cache').glob('*.npy'))
    scored = run_cli('eval', '--dataset', dataset, *source_args, '--split', 'test',
                     '--weights', str(out / 'last'), '--frames', '1', '--resolution', '16',
                     '--threads', '1', '--quiet', '--json')
    assert scored.returncode == 0, scored.stderr
    metrics = json.loads(scored.stdout)
    assert set(metrics) == {'paper', 'deployable', 'ceiling'}
    assert metrics['paper']['frames'] == 1
    assert all(key in metrics['paper'] for key in ('cd_h', 'f_h@1', 'f_h@5', 'cd_o', 'f_o@5',
                                                   'f_o@10'))
    return model, info, metrics


def test_dexycb_trains_and_evaluates_through_the_cli(tmp_path):
    fixture = write_dexycb_fixture(tmp_path / 'dexycb')
    _, info, metrics = train_and_eval(tmp_path, 'dexycb', '--root', str(fixture.root),
                                      '--mano-dir', str(fixture.mano_dir))
    assert info['train']['model']['norm_scale'] == pytest.approx(6.2)
    value = metrics['paper']['cd_h']
    assert value is None or math.isfinite(value)


def test_obman_trains_and_evaluates_through_the_cli(tmp_path):
    mano = tmp_path / 'mano'
    mano.mkdir()
    write_mano_fixture(mano / 'MANO_RIGHT.pkl')
    write_obman_fixture(tmp_path / 'obman', tmp_path / 'shapenet')
    _, info, _ = train_and_eval(tmp_path, 'obman', '--root', str(tmp_path / 'obman'),
                                '--mano-dir', str(mano), '--shapenet-root',
                                str(tmp_path / 'shapenet'))
    assert info['train']['model']['norm_scale'] == pytest.approx(7.0)


def test_missing_dataset_files_are_clear_cli_errors(tmp_path):
    done = run_cli('train', '--dataset', 'dexycb', '--root', str(tmp_path), '--out',
                   str(tmp_path / 'o'), '--mano-dir', str(tmp_path))
    assert done.returncode == 2 and 'c2f-sdf train: error:' in done.stderr
    done = run_cli('eval', '--dataset', 'obman', '--root', str(tmp_path / 'none'), '--weights',
                   str(tmp_path / 'w'))
    assert done.returncode == 2 and 'c2f-sdf eval: error:' in done.stderr
    done = run_cli('train', '--dataset', 'synth', '--data', str(tmp_path), '--out',
                   str(tmp_path / 'o'))
    assert done.returncode == 2 and '--val' in done.stderr
