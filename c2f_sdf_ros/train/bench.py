"""
``c2f-sdf bench-train``: training throughput, in frame-samples per second.

Builds the trainer ``c2f-sdf train`` would build (same options, a throw-away output
folder), runs ``--warmup`` steps that are not timed (first batches, allocator, lattice
pools of the first frames), then times ``--steps`` optimiser steps: wall time per step,
the part of it spent computing (forward, loss, backward, optimiser: ``Trainer.train_step``)
and the part spent waiting for the data loader. A frame-sample is one training image with
its ``--num-queries`` SDF queries; frame-samples/s = batch size / wall seconds per step.

The data loader's workers keep each frame's lattice pool once built, so the first epoch
over a folder is slower than the later ones: with fewer frames than ``warmup + steps``
batches hold, later steps reuse pools and measure the steady state of a long run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch

from c2f_sdf_ros.data.bundled import find_bundled_frames
from c2f_sdf_ros.model.checkpoint import describe_device
from c2f_sdf_ros.train import cli as train_cli
from c2f_sdf_ros.train.trainer import Trainer


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``c2f-sdf bench-train`` (any other is a ``c2f-sdf train`` option)."""
    p = argparse.ArgumentParser(
        prog='c2f-sdf bench-train', description=__doc__,
        epilog="Other options go to c2f-sdf train's (e.g. --variant, --size (default cpu "
               'here), --num-queries, --device, --cpu-amp, --guidance-truth); --out, '
               '--val, --steps and the checkpoint and validation cadence are set here.',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default='',
                   help='synthetic training folder (default: the bundled sample)')
    p.add_argument('--warmup', type=int, default=3, help='untimed steps first (default 3)')
    p.add_argument('--steps', type=int, default=10, help='timed steps (default 10)')
    p.add_argument('--batch-size', type=int, default=8, help='images per step (default 8)')
    p.add_argument('--workers', type=int, default=1,
                   help='data-loader worker processes (default 1; 0: in the training '
                        'process)')
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: all cores)')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    return p


# Options bench-train sets itself: passing them through would change what is measured.
_OWN_TRAIN_OPTIONS = ('--out', '--val', '--steps', '--val-every', '--val-frames',
                      '--checkpoint-every', '--resume', '--data', '--root')


def _train_argv(args: argparse.Namespace, train_options: list[str], out: str) -> list[str]:
    """The ``c2f-sdf train`` arguments of the benchmarked trainer."""
    taken = [o for o in train_options if o.split('=')[0] in _OWN_TRAIN_OPTIONS]
    if taken:
        raise ValueError(f'bench-train sets {", ".join(taken)} itself')
    data = args.data or str(find_bundled_frames())
    steps = args.warmup + args.steps
    argv = ['--data', data, '--val', data, '--out', out, '--steps', str(steps),
            '--batch-size', str(args.batch_size), '--workers', str(args.workers),
            '--val-every', str(steps + 1), '--val-frames', '1',
            '--checkpoint-every', str(steps + 1), '--warmup-steps', '1', '--quiet']
    if not any(o.split('=')[0] == '--size' for o in train_options):
        argv += ['--size', 'cpu']
    return argv + train_options


def run(args: argparse.Namespace, train_options: list[str] = ()) -> dict:
    """
    The benchmark; returns the summary dict.

    ``train_options`` are further ``c2f-sdf train`` arguments. ValueError on bad ones.
    """
    if args.warmup < 0 or args.steps < 1 or args.batch_size < 1 or args.workers < 0:
        raise ValueError('need --warmup >= 0, --steps >= 1, --batch-size >= 1, '
                         '--workers >= 0')
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix='c2f_bench_train_') as out:
        train_parser = train_cli.build_parser()
        train_args, unknown = train_parser.parse_known_args(
            _train_argv(args, list(train_options), out))
        if unknown:
            raise ValueError(f'unknown options: {" ".join(unknown)}')
        config = train_cli.config_from_args(train_args)
        trainer = Trainer(config, 'c2f-sdf bench-train', progress=False)
        walls, computes = [], []
        waited = time.perf_counter()
        for batch in trainer.batches(0, 0):
            before = trainer.train_seconds
            trainer.train_step(batch)
            now = time.perf_counter()
            if trainer.step > args.warmup:
                walls.append(now - waited)
                computes.append(trainer.train_seconds - before)
            waited = now
            if trainer.step == args.warmup + args.steps:
                break
    wall = statistics.median(walls)
    compute = statistics.median(computes)
    parameters = sum(p.numel() for p in trainer.model.parameters())
    return {
        'device': str(trainer.device), 'threads': torch.get_num_threads(),
        'machine': describe_device(trainer.device),
        'torch': torch.__version__, 'variant': config.model.variant,
        'parameters': parameters, 'batch_size': args.batch_size,
        'queries_per_frame': config.num_queries, 'workers': args.workers,
        'autocast_bf16': (config.cpu_amp if trainer.device.type == 'cpu' else config.amp),
        'frames_in_folder': len(trainer.train_set), 'warmup_steps': args.warmup,
        'timed_steps': len(walls),
        'step_seconds_median': round(wall, 4), 'compute_seconds_median': round(compute, 4),
        'data_wait_share': round(max(0.0, 1.0 - compute / wall), 3) if wall > 0 else 0.0,
        'frame_samples_per_s': round(args.batch_size / wall, 3),
        'compute_frame_samples_per_s': round(args.batch_size / compute, 3),
        'query_samples_per_s': round(args.batch_size * config.num_queries / wall, 1),
    }


def format_table(summary: dict) -> str:
    """Markdown table of the summary."""
    rows = [('device', f'{summary["device"]} ({summary["threads"]} threads; '
                       f'{summary["machine"]})'),
            ('model', f'{summary["variant"]}, {summary["parameters"] / 1e6:.2f} M '
                      f'parameters, bf16 autocast {summary["autocast_bf16"]}'),
            ('batch', f'{summary["batch_size"]} frames x {summary["queries_per_frame"]} '
                      f'queries; {summary["workers"]} loader workers; '
                      f'{summary["frames_in_folder"]} frames in the folder'),
            ('steps timed', f'{summary["timed_steps"]} after {summary["warmup_steps"]} '
                            'warm-up'),
            ('seconds per step (median)', f'{summary["step_seconds_median"]:.3f} (compute '
                                          f'{summary["compute_seconds_median"]:.3f}, data '
                                          f'wait {100 * summary["data_wait_share"]:.0f} %)'),
            ('frame-samples/s', f'{summary["frame_samples_per_s"]:.2f} (compute only '
                                f'{summary["compute_frame_samples_per_s"]:.2f})'),
            ('query-samples/s', f'{summary["query_samples_per_s"]:.0f}')]
    return '\n'.join(['| measure | value |', '|---|---|',
                      *(f'| {name} | {value} |' for name, value in rows)])


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with one error line on bad options)."""
    parser = build_parser()
    args, train_options = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    try:
        summary = run(args, train_options)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    print(json.dumps(summary) if args.json else format_table(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
