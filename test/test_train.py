"""Training data, augmentation, the training loop (incl. resume and torchrun/gloo), eval CLI."""

import contextlib
import dataclasses
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from c2f_sdf_ros.data.synth_folder import SynthFolder
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.mirror import mirror_sdf_samples
from c2f_sdf_ros.model.checkpoint import load_model
from c2f_sdf_ros.model.config import ModelConfig
from c2f_sdf_ros.model.inputs import CropConfig, input_config
from c2f_sdf_ros.train.cli import build_parser, config_from_args
from c2f_sdf_ros.train.dataset import (
    Augmentation,
    FrameDataset,
    canonical_frame,
    frame_item,
    rotate_frame,
)
from c2f_sdf_ros.train.trainer import ShardedShuffle, TrainConfig, Trainer, learning_rate
from helpers.cli import TINY, run_cli

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'sample'


def tiny_dataset(augmentation=None, seed=0):
    crop = CropConfig(image_size=64, num_points=64)
    return FrameDataset(SAMPLE, crop, 32, 8, augmentation, seed=seed)


def test_items_have_the_model_shapes_and_are_deterministic_per_epoch():
    data = tiny_dataset(Augmentation(), seed=3)
    item = data[1]
    shapes = {k: tuple(v.shape) for k, v in item.items()}
    assert shapes == {'rgb': (3, 64, 64), 'depth': (1, 64, 64), 'crop_K': (3, 3),
                      'root': (3,), 'points': (64, 3), 'points_valid': (64,),
                      'queries': (32, 3), 'sdf_hand': (32,), 'sdf_object': (32,),
                      'joints': (21, 3), 'object_center': (3,), 'heatmap': (2, 8, 8, 8)}
    again = data[1]
    assert all(torch.equal(item[k], again[k]) for k in item)
    data.set_epoch(1)
    assert not torch.equal(item['rgb'], data[1]['rgb'])
    # The trainer's stream addresses epoch e's item i as e * len + i.
    assert all(torch.equal(data[1][k], data[len(data) + 1][k]) for k in item)
    assert all(torch.isfinite(v.float()).all() for v in item.values())


def test_without_augmentation_the_wrist_is_the_origin():
    item = tiny_dataset()[0]
    assert item['joints'][0].abs().max() < 1e-6
    meta = SynthFolder(SAMPLE).meta(0)
    np.testing.assert_allclose(item['root'].numpy(), meta['hand_root'], atol=1e-6)


def test_root_jitter_moves_the_wrist_target_by_the_jitter():
    aug = Augmentation(root_jitter=0.02, scale_jitter=0, rotation_deg=0, brightness=0,
                       contrast=0, saturation=0, depth_noise=0, depth_dropout=0)
    item = tiny_dataset(aug)[0]
    meta = SynthFolder(SAMPLE).meta(0)
    offset = np.array(meta['hand_root']) - item['root'].numpy()       # wrist - jittered root
    np.testing.assert_allclose(item['joints'][0].numpy(), offset * 6.2 / 2, atol=1e-5)
    assert 0 < np.linalg.norm(offset) <= 0.05 * math.sqrt(3) + 1e-9


def test_rotate_frame_is_a_camera_roll_even_with_unequal_focal_lengths():
    camera = CameraIntrinsics(160, 120, 150.0, 110.0, 81.3, 58.2)
    point = np.array([0.05, -0.03, 0.6])
    color = np.zeros((120, 160, 3), np.uint8)
    u, v = np.round(camera.project(point[None])[0]).astype(int)
    color[v - 1:v + 2, u - 1:u + 2] = 255
    depth = np.full((120, 160), 0.6, np.float32)
    new_color, new_depth, rotation = rotate_frame(color, depth, camera, math.radians(35))
    expected = camera.project((rotation @ point)[None])[0]
    found = np.argwhere(new_color[..., 0] == new_color[..., 0].max()).mean(0)[::-1]
    np.testing.assert_allclose(found, expected, atol=1.0)
    assert np.allclose(rotation @ rotation.T, np.eye(3))
    assert new_depth.dtype == np.float32


def test_learning_rate_warms_up_then_decays_and_shards_cover_the_epoch():
    config = TrainConfig('a', 'b', 'c', steps=100, warmup_steps=10, lr=1e-3,
                         final_lr_fraction=0.1)
    rates = [learning_rate(config, s) for s in range(100)]
    assert rates[0] == pytest.approx(1e-4) and max(rates) == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(1e-4, rel=0.01)
    assert all(a >= b for a, b in zip(rates[10:-1], rates[11:], strict=True))
    shards = [ShardedShuffle(10, seed=1, epoch=2, rank=r, world=2).indices for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == list(range(10))
    assert ShardedShuffle(10, 1, 2, 0, 2, skip=2).indices == shards[0][2:]
    with pytest.raises(ValueError):
        TrainConfig('a', 'b', 'c', steps=0)


def train_args(out, steps, variant='full', *extra):
    return ['train', '--data', str(SAMPLE), '--val', str(SAMPLE), '--out', str(out),
            '--variant', variant, '--model-json', json.dumps(TINY), '--steps', str(steps),
            '--batch-size', '2', '--num-queries', '64', '--val-every', '2', '--val-frames',
            '2', '--checkpoint-every', '2', '--warmup-steps', '1', '--workers', '0',
            '--threads', '1', '--quiet', *extra]


def test_train_cli_writes_safetensors_checkpoints_and_resumes(tmp_path):
    done = run_cli(*train_args(tmp_path, 2))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary['step'] == 2 and math.isfinite(summary['loss'])
    model, info = load_model(tmp_path / 'last')
    assert info['step'] == 2 and info['command'].startswith('c2f-sdf train')
    assert info['train']['model']['variant'] == 'full'
    assert (tmp_path / 'best.safetensors').is_file()
    assert (tmp_path / 'last.optim.safetensors').is_file()
    first = {k: v.clone() for k, v in model.state_dict().items()}

    resumed = run_cli(*train_args(tmp_path, 4), '--resume')
    assert resumed.returncode == 0, resumed.stderr
    model, info = load_model(tmp_path / 'last')
    assert info['step'] == 4
    assert any(not torch.equal(first[k], v) for k, v in model.state_dict().items())
    log = (tmp_path / 'log.jsonl').read_text().splitlines()
    steps = [json.loads(line)['step'] for line in log]
    assert max(steps) == 4

    wrong = run_cli(*train_args(tmp_path, 6, 'pixel_rgb'), '--resume')
    assert wrong.returncode == 2 and 'different model config' in wrong.stderr


def test_train_cli_rejects_bad_arguments_clearly(tmp_path):
    bad = run_cli(*train_args(tmp_path, 2), '--model-json', '{"image_size": 50}')
    assert bad.returncode == 2 and 'image_size' in bad.stderr
    missing = run_cli('train', '--data', str(tmp_path), '--val', str(SAMPLE), '--out',
                      str(tmp_path / 'o'))
    assert missing.returncode == 2 and 'not a synthetic data folder' in missing.stderr
    resume = run_cli(*train_args(tmp_path / 'new', 2), '--resume')
    assert resume.returncode == 2 and 'cannot resume' in resume.stderr


@pytest.mark.slow
def test_torchrun_trains_with_two_gloo_processes(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    done = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--master_port', str(29500 + os.getpid() % 1000), '-m', 'c2f_sdf_ros.cli',
         *train_args(tmp_path, 2)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    _, info = load_model(tmp_path / 'last')
    assert info['world_size'] == 2 and info['step'] == 2
    # Only rank 0 prints the summary and writes the log.
    assert done.stdout.count('"step": 2') == 1


def test_eval_cli_prints_json_per_protocol_and_writes_reports(tmp_path):
    assert run_cli(*train_args(tmp_path / 'w', 1)).returncode == 0
    done = run_cli('eval', '--weights', str(tmp_path / 'w' / 'last'), '--data', str(SAMPLE),
                   '--frames', '1', '--resolution', '16', '--json', '--out',
                   str(tmp_path / 'e'), '--gallery', '1', '--quiet', '--threads', '1')
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {'paper', 'deployable', 'ceiling'}
    for protocol in result.values():
        assert protocol['frames'] == 1
        assert {'cd_h', 'f_h@1', 'f_h@5', 'cd_o', 'f_o@5', 'f_o@10'} <= set(protocol)
    # The ground-truth fields meshed like the model's: the protocol's ceiling, high even at
    # 16^3 thanks to the tight second pass (0.88 / 0.99 here; near 1 at 128^3).
    assert result['ceiling']['f_h@5'] > 0.8 and result['ceiling']['f_o@10'] > 0.9
    for name in ('metrics.md', 'metrics.json', 'per_frame.jsonl', 'distributions.png',
                 'gallery.png'):
        assert (tmp_path / 'e' / name).is_file()
    table = (tmp_path / 'e' / 'metrics.md').read_text()
    assert '| full | paper | 1 |' in table
    assert '| ground-truth field (ceiling) | paper | 1 |' in table
    bad = run_cli('eval', '--weights', str(tmp_path / 'nothing'), '--data', str(SAMPLE))
    assert bad.returncode == 2 and 'does not exist' in bad.stderr


def test_canonical_frames_are_right_hands_mirrored_exactly():
    folder = SynthFolder(SAMPLE)
    frame = folder.read(0)
    assert frame.side == 'left'
    right = canonical_frame(frame, 'right')
    assert right.side == 'right' and canonical_frame(frame, None) is frame
    assert canonical_frame(right, 'right') is right
    np.testing.assert_array_equal(right.color, frame.color[:, ::-1])
    np.testing.assert_array_equal(right.joints[:, 0], -frame.joints[:, 0])
    np.testing.assert_array_equal(right.sdf[:, 3:], frame.sdf[:, 3:])
    # Mirroring back gives the frame exactly.
    back = canonical_frame(right, 'left')
    for name in ('color', 'depth', 'root', 'joints', 'object_center', 'sdf'):
        np.testing.assert_array_equal(getattr(back, name), getattr(frame, name))
    assert back.camera == frame.camera and back.side == 'left'
    # A joint projects onto the mirrored pixel with the mirrored intrinsics.
    uv, uv_right = frame.camera.project(frame.joints), right.camera.project(right.joints)
    np.testing.assert_allclose(uv_right[:, 0], frame.camera.width - 1 - uv[:, 0], atol=1e-9)
    np.testing.assert_allclose(uv_right[:, 1], uv[:, 1], atol=1e-12)
    unknown = dataclasses.replace(frame, side='unknown')
    assert canonical_frame(unknown, None) is unknown
    with pytest.raises(ValueError, match='unknown'):
        canonical_frame(unknown, 'right')


def test_items_of_left_hands_are_those_of_the_mirrored_frame():
    # frame_item mirrors before any augmentation, lattice pool included: the item of a
    # left hand under canonical 'right' is the item of its mirrored frame without it.
    data = FrameDataset(SAMPLE, CropConfig(image_size=64, num_points=64), 32, 8,
                        lattice_queries=4)
    frame, pool = data.folder.read(1), data.lattice_pool(1)
    right, plain = (CropConfig(image_size=64, num_points=64, canonical_side=side)
                    for side in ('right', None))
    item = frame_item(frame, right, 32, 8, np.random.default_rng(5), Augmentation(), 4, pool)
    expected = frame_item(canonical_frame(frame, 'right'), plain, 32, 8,
                          np.random.default_rng(5), Augmentation(), 4,
                          mirror_sdf_samples(pool))
    assert set(item) == set(expected)
    for key in item:
        np.testing.assert_array_equal(item[key], expected[key], err_msg=key)
    unmirrored = frame_item(frame, plain, 32, 8, np.random.default_rng(5), Augmentation(), 4,
                            pool)
    assert not np.array_equal(unmirrored['rgb'], item['rgb'])


def test_train_defaults_fp32_on_cpu_no_dropout_and_right_hands(tmp_path):
    args = build_parser().parse_args(['--data', str(SAMPLE), '--val', str(SAMPLE), '--out',
                                      str(tmp_path)])
    config = config_from_args(args)
    assert config.canonical_side == 'right' and config.crop.canonical_side == 'right'
    assert config.model.decoder_dropout == 0.0 and config.model.joint_head == 'mlp'
    assert config.crop_half_extent == 0.16 and not config.cpu_amp
    # --model-json sets dropout unless the flag does; the flags win.
    args = build_parser().parse_args([
        '--data', str(SAMPLE), '--val', str(SAMPLE), '--out', str(tmp_path), '--model-json',
        '{"decoder_dropout": 0.3, "joint_head": "dense"}', '--canonical-side', 'none',
        '--crop-half-extent', '0.22'])
    config = config_from_args(args)
    assert config.model.decoder_dropout == 0.3 and config.model.joint_head == 'dense'
    assert config.canonical_side is None and config.crop.crop_half_extent == 0.22
    args.decoder_dropout, args.joint_head = 0.1, 'mlp'
    config = config_from_args(args)
    assert config.model.decoder_dropout == 0.1 and config.model.joint_head == 'mlp'
    # Records from before canonical sides read as none.
    old = dataclasses.asdict(TrainConfig('a', 'b', 'c'))
    del old['canonical_side']
    assert TrainConfig.from_dict(old).canonical_side is None
    with pytest.raises(ValueError, match='canonical_side'):
        TrainConfig('a', 'b', 'c', canonical_side='both')
    with pytest.raises(ValueError, match='crop_half_extent'):
        TrainConfig('a', 'b', 'c', crop_half_extent=0.0)
    # On a CPU without --cpu-amp the model runs in float32 (bf16 is ~9x slower there).
    tiny = TrainConfig(str(SAMPLE), str(SAMPLE), str(tmp_path), ModelConfig(**TINY),
                       device='cpu', val_frames=0, workers=0)
    assert isinstance(Trainer(tiny, progress=False)._autocast(), contextlib.nullcontext)


def test_train_cli_with_mirroring_dense_joints_and_a_larger_crop(tmp_path):
    done = run_cli(*train_args(tmp_path, 3, 'full', '--canonical-side', 'right',
                               '--decoder-dropout', '0.0', '--joint-head', 'dense',
                               '--crop-half-extent', '0.22'))
    assert done.returncode == 0, done.stderr
    assert math.isfinite(json.loads(done.stdout.strip().splitlines()[-1])['loss'])
    model, info = load_model(tmp_path / 'last')
    assert info['step'] == 3
    assert model.config.joint_head == 'dense' and model.config.decoder_dropout == 0.0
    assert info['inputs']['canonical_side'] == 'right'
    assert info['inputs']['crop_half_extent'] == 0.22
    crop = input_config(model.config, info)
    assert crop.canonical_side == 'right' and crop.crop_half_extent == 0.22
    # Resuming must keep the side; fine-tuning may change the dropout (no weight changes).
    config = TrainConfig.from_dict(info['train'])
    with pytest.raises(ValueError, match='canonical_side'):
        Trainer(dataclasses.replace(config, canonical_side=None), resume=True, progress=False)
    tuned = dataclasses.replace(config, out_dir=str(tmp_path / 'tuned'),
                                init_weights=str(tmp_path / 'last'), model=dataclasses.replace(
                                    config.model, decoder_dropout=0.2))
    trainer = Trainer(tuned, progress=False)
    assert all(torch.equal(value, model.state_dict()[key])
               for key, value in trainer.model.state_dict().items())
    with pytest.raises(ValueError, match='model config differs'):
        Trainer(dataclasses.replace(tuned, model=dataclasses.replace(
            config.model, joint_head='mlp')), progress=False)
    # ...or the crop's side (no weight depends on it), but resuming may not.
    finer = dataclasses.replace(tuned, model=dataclasses.replace(
        config.model, image_size=2 * config.model.image_size))
    trainer = Trainer(finer, progress=False)
    assert all(torch.equal(value, model.state_dict()[key])
               for key, value in trainer.model.state_dict().items())
    with pytest.raises(ValueError, match='different model config'):
        Trainer(dataclasses.replace(finer, out_dir=str(tmp_path), init_weights=''),
                resume=True, progress=False)


def test_epoch_stream_is_the_per_epoch_shuffles_back_to_back():
    from c2f_sdf_ros.train.trainer import EpochStream
    stream = iter(EpochStream(10, seed=1, first_epoch=2, rank=1, world=2, skip=1, per_epoch=4))
    keys = [next(stream) for _ in range(3 + 4 + 4)]
    for epoch, part in ((2, keys[:3]), (3, keys[3:7]), (4, keys[7:])):
        shard = ShardedShuffle(10, 1, epoch, 1, 2).indices[:4]
        assert part == [epoch * 10 + i for i in (shard[1:] if epoch == 2 else shard)]
    with pytest.raises(ValueError, match='per_epoch'):
        EpochStream(10, 1, 0, 0, 1, skip=5, per_epoch=4)
