"""GPU sessions: sharded checkpoints, time-budgeted training, `c2f-sdf gpu-session` on CPU."""

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest
import torch

from c2f_sdf_ros.model.c2f_sdf import C2FSDF
from c2f_sdf_ros.model.checkpoint import load_model, plan_shards, save_model
from c2f_sdf_ros.model.config import ModelConfig
from c2f_sdf_ros.model.inputs import CropConfig
from c2f_sdf_ros.train import session
from c2f_sdf_ros.train.dataset import FrameDataset
from c2f_sdf_ros.train.trainer import TrainConfig, Trainer
from helpers.cli import TINY, run_cli

REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = REPO / 'data' / 'sample'
# A few steps of the tiny model on the 3 sample frames, fp32 on the CPU.
SMALL = ['--batch-size', '2', '--num-queries', '64',
         '--val-frames', '2', '--warmup-steps', '1', '--workers', '0', '--threads', '1',
         '--device', 'cpu', '--quiet', '--max-shard-mib', '0.5']
SCRATCH = ['--init', 'none', '--model-json', json.dumps(TINY)]


def session_args(out, *extra):
    return ['gpu-session', '--data', str(SAMPLE), '--out', str(out), *SMALL, *extra]


@pytest.fixture(scope='module')
def packed(tmp_path_factory):
    out = tmp_path_factory.mktemp('carry') / 'train'
    summary = session.pack(SAMPLE, out)
    assert summary['frames'] == 3 and summary['bytes'] < 3 * 2**20
    return out


def test_sharded_checkpoints_round_trip_bit_exactly_and_refuse_missing_shards(tmp_path):
    torch.manual_seed(1)
    model = C2FSDF(ModelConfig(**TINY))
    limit = 2**19
    files = save_model(tmp_path / 'last', model, {'step': 7}, CropConfig(image_size=64),
                       max_shard_bytes=limit)
    assert len(files) >= 3 and all(f.stat().st_size <= limit for f in files)
    assert [f.name for f in files] == [f'last-{i:05d}-of-{len(files):05d}.safetensors'
                                       for i in range(1, len(files) + 1)]
    # Any of the checkpoint's names loads it, bit for bit.
    for name in ('last', 'last.json', files[1].name):
        loaded, info = load_model(tmp_path / name)
        assert info['step'] == 7 and info['inputs']['image_size'] == 64
        assert all(torch.equal(value, loaded.state_dict()[key])
                   for key, value in model.state_dict().items())
    # bfloat16 shards load into the float32 model, rounded.
    save_model(tmp_path / 'half', model, max_shard_bytes=limit, dtype=torch.bfloat16)
    half, _ = load_model(tmp_path / 'half')
    for key, value in model.state_dict().items():
        assert torch.equal(half.state_dict()[key], value.to(torch.bfloat16).to(value.dtype))
    # A shard from another save, a corrupt one and a missing one are refused by name.
    other = C2FSDF(ModelConfig(**TINY))
    save_model(tmp_path / 'other', other, max_shard_bytes=limit)
    second = files[1].read_bytes()
    files[1].write_bytes((tmp_path / files[1].name.replace('last', 'other')).read_bytes())
    with pytest.raises(ValueError, match='last-00002-of.*from another save'):
        load_model(tmp_path / 'last')
    files[1].write_bytes(second[:-10] + b'0' * 10)
    with pytest.raises(ValueError, match='corrupt'):
        load_model(tmp_path / 'last')
    files[1].write_bytes(second)
    files[-1].unlink()
    with pytest.raises(FileNotFoundError, match=f'shard {len(files)} of {len(files)}'):
        load_model(tmp_path / 'last')
    # A new save with other shards replaces the old ones whole.
    save_model(tmp_path / 'last', model, max_shard_bytes=2**22)
    assert sorted(p.name for p in tmp_path.glob('last*')) == [
        'last-00001-of-00001.safetensors', 'last.json']
    with pytest.raises(ValueError, match='does not fit in a shard'):
        plan_shards({'big': torch.zeros(2**16)}, 2**16)


def test_max_minutes_stops_a_run_and_checkpoint_minutes_saves_more_often(tmp_path):
    saves = []

    class Counting(Trainer):
        def save(self, name, **extra):
            saves.append((name, self.step))
            super().save(name, **extra)

    def tiny(out, **budget):
        return TrainConfig(str(SAMPLE), str(SAMPLE), str(tmp_path / out), ModelConfig(**TINY),
                           batch_size=1, num_queries=64, lattice_fraction=0.0, val_frames=0,
                           checkpoint_every=1000, workers=0, device='cpu', **budget)

    config = tiny('a', steps=1000, max_minutes=1e-6)
    trainer = Counting(config, progress=False)
    trainer.run()
    assert trainer.stopped_by_time and 1 <= trainer.step < 1000
    assert saves == [('last', trainer.step)]
    assert load_model(tmp_path / 'a' / 'last')[1]['step'] == trainer.step
    saves.clear()
    config = tiny('b', steps=3, checkpoint_minutes=1e-6)
    trainer = Counting(config, progress=False)
    trainer.run()
    assert not trainer.stopped_by_time and saves == [('last', 1), ('last', 2), ('last', 3)]
    with pytest.raises(ValueError, match='max_minutes'):
        TrainConfig('a', 'b', 'c', max_minutes=-1.0)


def test_gpu_session_runs_three_steps_on_cpu_and_the_next_one_resumes(tmp_path):
    first = run_cli(*session_args(tmp_path / 's1', *SCRATCH, '--max-steps', '3',
                                  '--test', str(SAMPLE), '--eval-frames', '1',
                                  '--eval-resolution', '16'))
    assert first.returncode == 0, first.stderr
    record = json.loads((tmp_path / 's1' / 'session.json').read_text())
    assert record['status'] == 'done' and record['stopped_by'] == 'steps'
    assert (record['first_step'], record['step'], record['steps_done']) == (0, 3, 3)
    assert record['device'].startswith('cpu') and record['frames_per_second'] > 0
    assert record['autocast'] == 'none (float32)'
    for block in ('train_losses', 'val', 'test'):
        assert math.isfinite(record[block]['loss']), block
    # The papers' protocol ran through c2f-sdf eval on one test frame.
    assert record['eval']['protocol'] == 'paper' and 'cd_h' in record['eval'], record['eval']
    shards = sorted((tmp_path / 's1').glob('last-*-of-*.safetensors'))
    assert len(shards) >= 2 and all(f.stat().st_size <= 2**19 for f in shards)
    assert record['weights']['files'] == sorted([*(f.name for f in shards), 'last.json'])
    model, info = load_model(tmp_path / 's1' / 'last')
    assert info['step'] == 3 and info['train']['max_minutes'] == 7.0
    before = {k: v.clone() for k, v in model.state_dict().items()}

    second = run_cli(*session_args(tmp_path / 's2', '--checkpoint-in', str(tmp_path / 's1'),
                                   '--max-steps', '3'))
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.strip().splitlines()[-1])['step'] == 6
    record = json.loads((tmp_path / 's2' / 'session.json').read_text())
    assert (record['first_step'], record['step'], record['steps_done']) == (3, 6, 3)
    assert record['resumed'] and 'test' not in record
    model, info = load_model(tmp_path / 's2' / 'last')
    assert info['step'] == 6 and info['init']['step'] == 3
    assert [s['step'] for s in info['sessions']] == [3, 6]
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    steps = [json.loads(line)['step'] for line in
             (tmp_path / 's2' / 'log.jsonl').read_text().splitlines()]
    assert min(steps) > 3 and max(steps) == 6


def test_gpu_session_trains_without_open3d_and_trimesh_on_packed_frames(tmp_path, packed):
    # The GPU machine has neither: the packed folder carries the lattice pools.
    code = ('import sys; sys.modules.update(open3d=None, trimesh=None); '
            'from c2f_sdf_ros.cli import main; sys.exit(main(sys.argv[1:]))')
    args = session_args(tmp_path / 'out', *SCRATCH, '--max-steps', '2', '--test',
                        str(packed), '--eval-frames', '1')
    args[args.index('--data') + 1] = str(packed)
    args[args.index('--workers') + 1] = '1'
    done = subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / 'out' / 'session.json').read_text())
    assert record['absent_modules'] == ['open3d', 'trimesh'] and record['step'] == 2
    assert record['lattice_pools'] == {'data': 3, 'val': 2, 'test': 1}
    assert 'not installed' in record['eval']['skipped']
    # Frames without pools where nothing can compute them are refused before training.
    dataset = FrameDataset(SAMPLE, CropConfig(image_size=64, num_points=64), 64, 8,
                           lattice_queries=8)
    with pytest.raises(ValueError, match='3 of 3 frames have no lattice pool'):
        session.attach_pools(dataset, SAMPLE, can_compute=False)
    assert session.attach_pools(dataset, packed, can_compute=False) == 3
    with pytest.raises(ValueError, match='norm_scale'):
        session.attach_pools(FrameDataset(SAMPLE, CropConfig(norm_scale=7.0), 64, 8,
                                          lattice_queries=8), packed, can_compute=False)


def test_the_wrapper_script_runs_a_session_from_the_carried_folder(tmp_path, packed):
    carry = tmp_path / 'carry'
    carry.mkdir()
    (carry / 'train').symlink_to(packed)
    env = dict(os.environ, CARRY=str(carry), OUT=str(tmp_path / 'out'),
               PYTHON=sys.executable, OMP_NUM_THREADS='1')
    done = subprocess.run(['bash', str(REPO / 'scripts' / 'gpu_session.sh'), *SCRATCH,
                           '--max-steps', '1', *SMALL], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:]
    returned = sorted(p.name for p in (tmp_path / 'out').iterdir())
    assert {'last.json', 'log.jsonl', 'session.json', 'session.log'} <= set(returned)
    assert len(returned) <= 8
    assert '"step": 1' in (tmp_path / 'out' / 'session.log').read_text()
    script = (REPO / 'scripts' / 'gpu_session.sh').read_text()
    call = next(line for line in script.splitlines() if 'run(command=' in line)
    assert len(call) < 2000 and 'carry=[".gpu"]' in call


def test_gpu_session_rejects_bad_arguments_before_training(tmp_path, capsys, monkeypatch):
    def error(*args):
        assert session.main(list(args)) == 2
        return capsys.readouterr().err

    base = ['--data', str(SAMPLE), '--out', str(tmp_path)]
    assert 'exclude each other' in error(*base, '--init', 'none', '--checkpoint-in', 'x')
    assert 'holds no last.json' in error(*base, '--checkpoint-in', str(tmp_path))
    assert 'choose a new model' in error(*base, '--size', 'cpu')  # shipped weights
    assert 'would not come back' in error(*base, '--init', 'none', '--size', 'paper',
                                          '--save-dtype', 'float32', '--device', 'cpu')
    assert 'minutes must be > 0' in error(*base, '--minutes', '0')
    assert 'not a synthetic data folder' in error('--data', str(tmp_path), '--out', 'o')
    monkeypatch.delenv('OUT', raising=False)
    assert '--out is required' in error('--data', str(SAMPLE))
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_max_minutes_stops_every_torchrun_process_after_the_same_step(tmp_path):
    # A process that stopped alone would leave the other waiting in DDP until the timeout.
    env = dict(os.environ, OMP_NUM_THREADS='1')
    done = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--master_port', str(30500 + os.getpid() % 1000), '-m', 'c2f_sdf_ros.cli', 'train',
         '--data', str(SAMPLE), '--val', str(SAMPLE), '--out', str(tmp_path),
         '--model-json', json.dumps(TINY), '--steps', '1000', '--batch-size', '1',
         '--num-queries', '64', '--lattice-fraction', '0', '--val-frames', '0',
         '--workers', '0', '--threads', '1', '--quiet', '--max-minutes', '0.0001'],
        capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    step = json.loads(done.stdout.strip().splitlines()[-1])['step']
    assert 1 <= step < 1000
    assert load_model(tmp_path / 'last')[1]['step'] == step
