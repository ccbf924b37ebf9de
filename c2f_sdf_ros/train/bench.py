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
import platform
import statistics
import sys
import tempfile
import time

import torch

from c2f_sdf_ros.data.bundled import find_bundled_frames
from c2f_sdf_ros.train import cli as train_cli
from c2f_sdf_ros.train.trainer import Trainer


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``c2f-sdf bench-train``."""
    p = argparse.ArgumentParser(prog='c2f-sdf bench-train', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default='',
                   help='synthetic training folder (default: the bundled sample)')
    p.add_argument('--size', choices=sorted(train_cli.MODEL_PRESETS), default='cpu',
                   help="model size preset (default 'cpu', the shipped weights')")
    p.add_argument('--variant', default='full', help='paper Table 1 variant (default full)')
    p.add_argument('--batch-size', type=int, default=8, help='images per step (default 8)')
    p.add_argument('--num-queries', type=int, default=None,
                   help="SDF queries per image (default: c2f-sdf train's)")
    p.add_argument('--warmup', type=int, default=3, help='untimed steps first (default 3)')
    p.add_argument('--steps', type=int, default=10, help='timed steps (default 10)')
    p.add_argument('--workers', type=int, default=1,
                   help='data-loader worker processes (default 1; 0: in the training '
                        'process)')
    p.add_argument('--threads', type=int, default=0,
                   help='torch CPU threads (0: all cores)')
    p.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda[:N]'")
    p.add_argument('--cpu-amp', action='store_true',
                   help='bfloat16 autocast on the CPU (CUDA uses it unless --no-amp)')
    p.add_argument('--no-amp', action='store_true', help='no bfloat16 autocast on CUDA')
    p.add_argument('--guidance-truth', type=float, default=0.5,
                   help="as c2f-sdf train's (default 0.5)")
    p.add_argument('--seed', type=int, default=0, help='data order seed (default 0)')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    return p


def _train_argv(args: argparse.Namespace, out: str) -> list[str]:
    """The ``c2f-sdf train`` arguments of the benchmarked trainer."""
    data = args.data or str(find_bundled_frames())
    steps = args.warmup + args.steps
    argv = ['--data', data, '--val', data, '--out', out, '--size', args.size,
            '--variant', args.variant, '--batch-size', str(args.batch_size),
            '--steps', str(steps), '--warmup-steps', '1', '--workers', str(args.workers),
            '--device', args.device, '--guidance-truth', str(args.guidance_truth),
            '--seed', str(args.seed), '--val-every', str(steps + 1), '--val-frames', '1',
            '--checkpoint-every', str(steps + 1), '--quiet']
    if args.num_queries is not None:
        argv += ['--num-queries', str(args.num_queries)]
    if args.cpu_amp:
        argv.append('--cpu-amp')
    if args.no_amp:
        argv.append('--no-amp')
    return argv


def run(args: argparse.Namespace) -> dict:
    """The benchmark; returns the summary dict. ValueError on bad arguments."""
    if args.warmup < 0 or args.steps < 1 or args.batch_size < 1 or args.workers < 0:
        raise ValueError('need --warmup >= 0, --steps >= 1, --batch-size >= 1, '
                         '--workers >= 0')
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix='c2f_bench_train_') as out:
        config = train_cli.config_from_args(
            train_cli.build_parser().parse_args(_train_argv(args, out)))
        trainer = Trainer(config, 'c2f-sdf bench-train', progress=False)
        walls, computes = [], []
        total = args.warmup + args.steps
        epoch = 0
        while trainer.step < total:
            waited = time.perf_counter()
            for batch in trainer._loader(epoch, 0):
                before = trainer.train_seconds
                trainer.train_step(batch)
                now = time.perf_counter()
                if trainer.step > args.warmup:
                    walls.append(now - waited)
                    computes.append(trainer.train_seconds - before)
                waited = now
                if trainer.step >= total:
                    break
            epoch += 1
    wall = statistics.median(walls)
    compute = statistics.median(computes)
    parameters = sum(p.numel() for p in trainer.model.parameters())
    return {
        'device': str(trainer.device), 'threads': torch.get_num_threads(),
        'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores',
        'torch': torch.__version__, 'size': args.size, 'variant': args.variant,
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
            ('model', f'{summary["variant"]}, size {summary["size"]}, '
                      f'{summary["parameters"] / 1e6:.2f} M parameters, bf16 autocast '
                      f'{summary["autocast_bf16"]}'),
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
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        summary = run(args)
    except (OSError, ValueError) as error:
        print(f'c2f-sdf bench-train: error: {error}', file=sys.stderr)
        return 2
    print(json.dumps(summary) if args.json else format_table(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
