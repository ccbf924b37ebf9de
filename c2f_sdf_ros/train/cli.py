"""``c2f-sdf train``: train C2F-SDF on synthetic frame folders (one process or torchrun)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys

import torch

from c2f_sdf_ros.data.sources import DATASETS, NORM_SCALES, SourceOptions
from c2f_sdf_ros.model.config import JOINT_HEADS, VARIANTS, ModelConfig
from c2f_sdf_ros.train.guidance import GuidanceConfig
from c2f_sdf_ros.train.trainer import TrainConfig, Trainer

# Model sizes selectable by name; 'paper' is the published one, 'cpu' the shipped weights'
# (a quarter of the compute: 128 px crops, half-width encoder and decoders).
MODEL_PRESETS = {
    'paper': {},
    'cpu': dict(image_size=128, base_channels=32, feature_channels=64, decoder_width=256),
}
# Decoder dropout of new runs: the reference's 0.2 slows an underfit model (findings of
# 2026-11-28); it changes no weight, so checkpoints trained with it load all the same.
DEFAULT_DECODER_DROPOUT = 0.0


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``c2f-sdf train``."""
    p = argparse.ArgumentParser(
        prog='c2f-sdf train', description=__doc__,
        epilog='Multi-GPU (or multi-process CPU): torchrun --nproc_per_node N '
               '-m c2f_sdf_ros.cli train ...')
    p.add_argument('--dataset', choices=DATASETS, default='synth',
                   help='synth (folders written by c2f-sdf synth), dexycb or obman')
    p.add_argument('--data', '--root', dest='data', required=True,
                   help='training folder (synth) or the dataset root (dexycb, obman)')
    p.add_argument('--val', help="validation folder (synth; default: the --data root's "
                                 'val split for dexycb and obman)')
    p.add_argument('--mano-dir', default='',
                   help='folder with MANO_RIGHT.pkl (dexycb, obman ground-truth hands)')
    p.add_argument('--shapenet-root', default='', help='ShapeNetCore.v2 folder (obman)')
    p.add_argument('--cache-dir', default='',
                   help='cache of per-frame SDF samples (dexycb, obman; default: none)')
    p.add_argument('--frame-ids', default='',
                   help="obman: JSON list of the training frame ids (e.g. gSDF's lists)")
    p.add_argument('--out', required=True, help='output folder for checkpoints and log')
    p.add_argument('--variant', choices=VARIANTS, default='full',
                   help="paper Table 1 variant (default 'full')")
    p.add_argument('--size', choices=sorted(MODEL_PRESETS), default='paper',
                   help='model size preset (default paper)')
    p.add_argument('--model-json', help='JSON object of ModelConfig fields to override')
    p.add_argument('--decoder-dropout', type=float, default=None,
                   help=f'dropout in the SDF decoders (default {DEFAULT_DECODER_DROPOUT}, '
                        'or what --model-json says; the reference used 0.2)')
    p.add_argument('--joint-head', choices=JOINT_HEADS, default=None,
                   help="'mlp' (joints from the global feature, default) or 'dense' "
                        '(per-joint heatmaps and depths on the feature map, soft-argmax)')
    p.add_argument('--canonical-side', choices=('right', 'none'), default='right',
                   help="'right' (default): mirror left-hand frames into right-hand ones, "
                        "so the model only sees right hands; 'none': keep both sides")
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)
                if f.default is not dataclasses.MISSING}
    for name, kind in (('steps', int), ('batch_size', int), ('lr', float),
                       ('weight_decay', float), ('warmup_steps', int), ('num_queries', int),
                       ('lattice_fraction', float), ('val_every', int), ('val_frames', int),
                       ('checkpoint_every', int), ('workers', int), ('seed', int)):
        p.add_argument('--' + name.replace('_', '-'), type=kind, default=defaults[name],
                       help=f'(default {defaults[name]})')
    p.add_argument('--crop-half-extent', type=float, default=defaults['crop_half_extent'],
                   help='half side (m) of the crop around the wrist (default '
                        f"{defaults['crop_half_extent']}, the shipped weights'; 0.20-0.24 "
                        'holds more of the held object)')
    p.add_argument('--max-minutes', type=float, default=0.0,
                   help='stop cleanly (validate, save OUT/last) after this many minutes of '
                        'wall time, even before --steps (default 0: no limit)')
    p.add_argument('--checkpoint-minutes', type=float, default=0.0,
                   help='also save OUT/last every this many minutes of wall time, besides '
                        'every --checkpoint-every steps (default 0: steps only)')
    p.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda[:N]'")
    p.add_argument('--no-amp', action='store_true', help='no bfloat16 autocast on CUDA')
    p.add_argument('--cpu-amp', action='store_true',
                   help='bfloat16 autocast on CPU too (faster on CPUs with AMX, ~9x '
                        'slower without; off: CPUs train in float32)')
    p.add_argument('--init', default='',
                   help='start from these weights (fine-tune; same model config but for '
                        'the dropout)')
    p.add_argument('--root-jitter', type=float, default=None,
                   help='std (m) of the crop-root offset the joint head learns to undo '
                        '(default 0.01; the reconstruction node starts from a rough root)')
    p.add_argument('--guidance-truth', type=float, default=0.5,
                   help='share of images whose decoders are guided by ground-truth joints '
                        "perturbed like a detector's instead of the joint head's (default "
                        '0.5; 0: the head only, as the shipped weights)')
    p.add_argument('--no-augment', action='store_true', help='train without augmentation')
    p.add_argument('--threads', type=int, default=0,
                   help='CPU threads per process (0: cores / processes)')
    p.add_argument('--resume', action='store_true', help='continue from OUT/last')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig from parsed arguments; ValueError on bad values."""
    model = dict(MODEL_PRESETS[args.size], variant=args.variant,
                 norm_scale=NORM_SCALES[args.dataset], decoder_dropout=DEFAULT_DECODER_DROPOUT)
    if args.model_json:
        try:
            model.update(json.loads(args.model_json))
        except json.JSONDecodeError as error:
            raise ValueError(f'--model-json is not JSON: {error}') from error
    # The explicit flags win over --model-json.
    if args.decoder_dropout is not None:
        model['decoder_dropout'] = args.decoder_dropout
    if args.joint_head is not None:
        model['joint_head'] = args.joint_head
    kwargs = {name: getattr(args, name) for name in (
        'steps', 'batch_size', 'lr', 'weight_decay', 'warmup_steps', 'num_queries',
        'lattice_fraction', 'crop_half_extent', 'val_every', 'val_frames', 'checkpoint_every',
        'workers', 'seed', 'device', 'max_minutes', 'checkpoint_minutes')}
    kwargs['canonical_side'] = None if args.canonical_side == 'none' else args.canonical_side
    kwargs['guidance'] = GuidanceConfig(probability=args.guidance_truth)
    val = args.val
    if val is None:
        if args.dataset == 'synth':
            raise ValueError('--val (a synthetic validation folder) is required with '
                             '--dataset synth')
        val = args.data
    sources = SourceOptions(mano_dir=args.mano_dir, shapenet_root=args.shapenet_root,
                            cache_dir=args.cache_dir, frame_ids=args.frame_ids)
    config = TrainConfig(args.data, val, args.out, ModelConfig.from_dict(model),
                         amp=not args.no_amp, cpu_amp=args.cpu_amp,
                         init_weights=args.init, dataset=args.dataset, sources=sources,
                         **kwargs)
    if args.root_jitter is not None:
        if not 0.0 <= args.root_jitter <= 0.1:
            raise ValueError(f'--root-jitter must be in [0, 0.1] m, got {args.root_jitter}')
        config = dataclasses.replace(config, augmentation=dataclasses.replace(
            config.augmentation, root_jitter=args.root_jitter))
    if args.no_augment:
        config = dataclasses.replace(config, augmentation=dataclasses.replace(
            config.augmentation, root_jitter=0.0, scale_jitter=0.0, rotation_deg=0.0,
            brightness=0.0, contrast=0.0, saturation=0.0, depth_noise=0.0,
            depth_dropout=0.0))
    return config


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except (ValueError, TypeError) as error:
        print(f'c2f-sdf train: error: {error}', file=sys.stderr)
        return 2
    world = int(os.environ.get('WORLD_SIZE', '1'))
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world))
    command = shlex.join(['c2f-sdf', 'train', *argv])
    try:
        trainer = Trainer(config, command, resume=args.resume, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as error:
        print(f'c2f-sdf train: error: {error}', file=sys.stderr)
        return 2
    result = trainer.run()
    if trainer.rank == 0:
        print(json.dumps({'step': trainer.step, 'train_seconds': round(trainer.train_seconds, 1),
                          **{k: round(v, 6) for k, v in result.items()}}))
    return 0
