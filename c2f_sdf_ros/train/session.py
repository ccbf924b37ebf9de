"""
``c2f-sdf gpu-session``: one time-boxed training session on the project's GPU machine.

A session starts from the previous session's checkpoint (``--checkpoint-in``; else
``--init``, by default the shipped weights), trains for ``--minutes`` of wall time
(bfloat16 autocast on CUDA, float32 on CPU), exports the weights to ``--out`` every
``--checkpoint-minutes`` as safetensors shards of at most 16 MiB (the largest file the
machine hands back), scores the test folder at the end and writes ``--out/session.json``.
What one session returns, the next one carries in: its step count continues.

The optimizer state is not exported: AdamW's two moments are twice the size of the
weights, and would neither come back nor travel to the next session within the
machine's limits. Each session starts a fresh AdamW and warms its learning rate up over
``--warmup-steps`` from its own first step (AdamW's bias correction makes the first
steps well scaled; the warm-up covers the noisy second-moment estimate of the first few).

``c2f-sdf gpu-session pack SRC --out DST`` prepares a folder to carry there: SRC's
frames without their meshes, and the lattice pools ``--lattice-fraction`` draws from,
which are computed from the meshes with open3d, absent on the GPU machine.

The papers' evaluation (``c2f-sdf eval``, the eval layer, which this layer must not
import) runs as a subprocess, and only where open3d and trimesh are installed and the
test folder has its meshes; otherwise session.json says why it was skipped, and
``c2f-sdf eval --weights OUT/last`` scores the returned weights here.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
import importlib.util
import json
import math
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import time

import torch

from c2f_sdf_ros.model.checkpoint import (
    MAX_SHARD_BYTES,
    SHIPPED_WEIGHTS,
    describe_device,
    load_model,
    plan_shards,
    save_model,
)
from c2f_sdf_ros.model.config import ModelConfig

# What a call of the project's GPU machine hands back (docs/model.md, "GPU sessions").
RETURN_FILES, RETURN_BYTES = 8, 64 * 2**20
# Files of ours in --out besides the shards: last.json, session.json, log.jsonl, and the
# log the wrapper (scripts/gpu_session.sh) tees there.
OTHER_FILES = 4
POOLS_FILE = 'lattice_pools.safetensors'
POOLS_FORMAT = 'c2f_sdf_ros/lattice-pools/v1'
# The modules that the data and geometry layers import at the top for mesh work only.
MESH_MODULES = ('open3d', 'trimesh')
UNLIMITED_STEPS = 10**9


def missing_modules(names: tuple[str, ...] = MESH_MODULES) -> list[str]:
    """
    Which of ``names`` cannot be imported here (the GPU machine has neither).

    The data and geometry layers import them only where meshes are read or distances
    computed, so training on packed frames (pools precomputed by ``pack``) runs without
    them; the session records their absence and skips what needs them (the protocol).
    """
    missing = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):   # ValueError: blocked as sys.modules[name] = None
            missing.append(name)
    return missing


# -- pack ----------------------------------------------------------------------------------
def build_pack_parser() -> argparse.ArgumentParser:
    """Arguments of ``c2f-sdf gpu-session pack``."""
    p = argparse.ArgumentParser(
        prog='c2f-sdf gpu-session pack',
        description='Copy a synthetic folder for a GPU session: the frames without meshes, '
                    f'plus {POOLS_FILE} (the lattice pools, which need open3d).')
    p.add_argument('source', help='a c2f-sdf synth folder')
    p.add_argument('--out', required=True, help='new folder to write (must not exist)')
    p.add_argument('--frames', type=int, default=0, help='the first N frames (0: all)')
    p.add_argument('--norm-scale', type=float, default=None,
                   help="the model's normalisation scale (default: the synth dataset's)")
    p.add_argument('--seed', type=int, default=0, help='seed of the pools (default 0)')
    return p


def pack(source: str | os.PathLike, out: str | os.PathLike, frames: int = 0,
         norm_scale: float | None = None, seed: int = 0) -> dict:
    """Write the packed copy of ``source`` to ``out``; returns a summary (frames, bytes)."""
    from safetensors.torch import save_file

    from c2f_sdf_ros.data.sources import NORM_SCALES
    from c2f_sdf_ros.data.synth_folder import SynthFolder
    from c2f_sdf_ros.model.inputs import CropConfig
    from c2f_sdf_ros.train.dataset import LATTICE_POOL_SIZE, FrameDataset

    folder = SynthFolder(source)
    out = pathlib.Path(out)
    if frames < 0:
        raise ValueError(f'--frames must be >= 0, got {frames}')
    if out.exists() and any(out.iterdir()):
        raise ValueError(f'{out} exists and is not empty')
    norm_scale = NORM_SCALES['synth'] if norm_scale is None else norm_scale
    if not 0 < norm_scale < math.inf:
        raise ValueError(f'--norm-scale must be > 0, got {norm_scale}')
    count = len(folder) if frames == 0 else min(frames, len(folder))
    dataset = FrameDataset(folder, CropConfig(norm_scale=norm_scale), 2, 8, seed=seed)
    pools = {}
    for index, frame_id in enumerate(folder.ids[:count]):
        for part, name in (('meta', f'{frame_id}.json'), ('color', f'{frame_id}.png'),
                           ('depth', f'{frame_id}.png'), ('sdf', f'{frame_id}.npy')):
            (out / part).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder.root / part / name, out / part / name)
        pools[frame_id] = torch.from_numpy(dataset.lattice_pool(index))
    info = dict(folder.info, frames=folder.ids[:count], packed_from=str(folder.root))
    (out / 'info.json').write_text(json.dumps(info, indent=1))
    if (folder.root / 'camera.yaml').is_file():
        shutil.copyfile(folder.root / 'camera.yaml', out / 'camera.yaml')
    save_file(pools, str(out / POOLS_FILE), metadata={
        'format': POOLS_FORMAT, 'norm_scale': repr(norm_scale), 'seed': str(seed),
        'pool_size': str(LATTICE_POOL_SIZE)})
    size = sum(f.stat().st_size for f in out.rglob('*') if f.is_file())
    return {'frames': count, 'bytes': size, 'mib': round(size / 2**20, 2),
            'bytes_per_frame': round(size / count)}


def attach_pools(dataset, root: str | os.PathLike, can_compute: bool) -> int:
    """
    Give ``dataset`` (a ``FrameDataset``) the lattice pools packed in ``root``.

    Returns how many frames got one. Raises ValueError if the pools were made for another
    normalisation scale, or if some frame has none and ``can_compute`` is False (no
    open3d here to compute it).
    """
    from safetensors import SafetensorError, safe_open

    path = pathlib.Path(root) / POOLS_FILE
    found = 0
    if path.is_file():
        try:
            with safe_open(str(path), 'pt') as stream:
                meta = stream.metadata() or {}
                if meta.get('format') != POOLS_FORMAT:
                    raise ValueError(f'{path}: format {meta.get("format")!r}, expected '
                                     f'{POOLS_FORMAT}')
                if not math.isclose(float(meta.get('norm_scale', 'nan')),
                                    dataset.crop.norm_scale):
                    raise ValueError(f'{path}: pools for norm_scale {meta.get("norm_scale")},'
                                     f' the model uses {dataset.crop.norm_scale}')
                keys = set(stream.keys())
                for index, frame_id in enumerate(dataset.folder.ids[:len(dataset)]):
                    if frame_id in keys:
                        try:
                            dataset.set_lattice_pool(index, stream.get_tensor(frame_id).numpy())
                        except ValueError as error:
                            raise ValueError(f'{path}: pool {frame_id}: {error}') from error
                        found += 1
        except (SafetensorError, OSError) as error:
            raise ValueError(f'{path}: corrupt or not a safetensors file: {error}') from error
    if found < len(dataset) and not can_compute:
        raise ValueError(
            f'{root}: {len(dataset) - found} of {len(dataset)} frames have no lattice pool '
            f'({POOLS_FILE}) and open3d is not installed here to compute them: prepare the '
            f'folder with `c2f-sdf gpu-session pack`, or train with --lattice-fraction 0')
    return found


# -- the session ---------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``c2f-sdf gpu-session``."""
    from c2f_sdf_ros.model.config import VARIANTS
    from c2f_sdf_ros.train.cli import MODEL_PRESETS

    p = argparse.ArgumentParser(
        prog='c2f-sdf gpu-session',
        description='One time-boxed training session on a GPU machine: resume from the '
                    'carried checkpoint, train, export the weights as shards of <= 16 MiB, '
                    'score the test folder, write session.json.',
        epilog='Prepare the folders to carry with `c2f-sdf gpu-session pack SRC --out DST` '
               '(see its --help). docs/model.md, "GPU sessions".')
    p.add_argument('--data', required=True,
                   help='training folder (c2f-sdf synth; carried, packed by `pack`)')
    p.add_argument('--val', help='validation folder (default: --data)')
    p.add_argument('--test', help="test folder scored at the end (its loss; the papers' "
                                  'protocol too where open3d is installed and it has meshes)')
    p.add_argument('--checkpoint-in',
                   help="a previous session's --out (last.json + its shards): resume from "
                        'it, continuing its step count')
    p.add_argument('--init', default=None,
                   help="without --checkpoint-in: start from these weights ('shipped', the "
                        "default; 'none': a random initialisation; else a checkpoint path)")
    p.add_argument('--out', default=os.environ.get('OUT') or None,
                   help='where the weights, log.jsonl and session.json go (default $OUT)')
    p.add_argument('--minutes', type=float, default=7.0,
                   help='minutes of training (wall time; default 7)')
    p.add_argument('--checkpoint-minutes', type=float, default=2.0,
                   help='export the weights every this many minutes (default 2)')
    p.add_argument('--max-steps', type=int, default=0,
                   help='at most this many steps in this session (default 0: time decides)')
    p.add_argument('--batch-size', type=int, default=32, help='frames per step (default 32)')
    p.add_argument('--lr', type=float, default=3e-4, help='peak learning rate (default 3e-4)')
    p.add_argument('--warmup-steps', type=int, default=100,
                   help="warm-up of each session's fresh optimizer (default 100)")
    p.add_argument('--schedule-steps', type=int, default=0,
                   help='cosine decay over this many steps of the whole chain (global steps; '
                        'default 0: constant after the warm-up)')
    p.add_argument('--num-queries', type=int, default=1024, help='SDF samples per frame')
    p.add_argument('--lattice-fraction', type=float, default=0.125,
                   help='share of queries from the lattice pools (default 0.125; 0: none, '
                        'no pools needed)')
    p.add_argument('--guidance-truth', type=float, default=0.5,
                   help='share of images guided by perturbed true joints (default 0.5)')
    p.add_argument('--canonical-side', choices=('right', 'none'), default=None,
                   help="default 'right', or the checkpoint's when resuming")
    p.add_argument('--crop-half-extent', type=float, default=None,
                   help="crop half side in m (default 0.16, or the checkpoint's when resuming)")
    p.add_argument('--size', choices=sorted(MODEL_PRESETS), default=None,
                   help="with --init none: the model size preset (default 'cpu', ~8M "
                        "parameters); otherwise the model is the checkpoint's")
    p.add_argument('--variant', choices=VARIANTS, default=None, help='with --init none')
    p.add_argument('--model-json', help='with --init none: ModelConfig fields to override')
    p.add_argument('--decoder-dropout', type=float, default=None,
                   help="default 0.0, or the checkpoint's when resuming")
    p.add_argument('--workers', type=int, default=None,
                   help='data loader processes (default: cores - 2 on CUDA, 1 on CPU)')
    p.add_argument('--threads', type=int, default=0,
                   help='CPU threads of the training process (0: 4 on CUDA, all cores on CPU)')
    p.add_argument('--val-frames', type=int, default=16, help='validation frames (default 16)')
    p.add_argument('--val-every', type=int, default=1000, help='validate every N steps')
    p.add_argument('--save-dtype', choices=('bfloat16', 'float32'), default='bfloat16',
                   help='type of the exported weights (default bfloat16: half the bytes, so '
                        'that the next session can carry them; see docs/model.md)')
    p.add_argument('--max-shard-mib', type=float, default=MAX_SHARD_BYTES / 2**20,
                   help='largest exported file in MiB (default 16, what the machine returns)')
    # The closing evaluation: short, so that it fits the machine's time with the training.
    for name, kind, default, text in (
            ('--eval-frames', int, 8, 'test frames scored at the end (default 8; 0: none)'),
            ('--eval-resolution', int, 64, "lattice side of the papers' protocol (default 64)"),
            ('--eval-timeout', float, 180.0,
             "seconds allowed to the papers' protocol (default 180)")):
        p.add_argument(name, type=kind, default=default, help=text)
    p.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda[:N]'")
    p.add_argument('--seed', type=int, default=0, help='data order and noise (default 0)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p


def _checkpoint_prefix(path: str) -> pathlib.Path:
    """A checkpoint folder's ``last``, or the checkpoint ``path`` names itself."""
    folder = pathlib.Path(path)
    if folder.is_dir():
        if not (folder / 'last.json').is_file():
            raise ValueError(f'--checkpoint-in {folder} holds no last.json (expected the '
                             f'--out of an earlier session)')
        return folder / 'last'
    return folder


def _train_argv(args: argparse.Namespace, start, start_info: dict, start_path, resume: bool,
                first_step: int) -> list[str]:
    """
    The ``c2f-sdf train`` arguments of this session's TrainConfig.

    ``start`` is the model loaded from ``start_path`` (None: a random initialisation).
    """
    from c2f_sdf_ros.model.inputs import input_config

    argv = ['--data', args.data, '--val', args.val or args.data, '--out', args.out,
            '--steps', str(first_step + (args.max_steps or UNLIMITED_STEPS)),
            '--batch-size', str(args.batch_size), '--lr', str(args.lr),
            '--warmup-steps', str(args.warmup_steps), '--num-queries', str(args.num_queries),
            '--lattice-fraction', str(args.lattice_fraction),
            '--val-every', str(args.val_every), '--val-frames', str(args.val_frames),
            '--checkpoint-every', str(UNLIMITED_STEPS), '--workers', str(args.workers),
            '--seed', str(args.seed), '--device', args.device,
            '--guidance-truth', str(args.guidance_truth),
            '--max-minutes', str(args.minutes),
            '--checkpoint-minutes', str(args.checkpoint_minutes)]
    side, half = args.canonical_side, args.crop_half_extent
    if start is None:
        argv += ['--size', args.size or 'cpu', '--variant', args.variant or 'full']
        if args.model_json:
            argv += ['--model-json', args.model_json]
    else:
        chosen = [flag for flag, value in (('--size', args.size), ('--variant', args.variant),
                                           ('--model-json', args.model_json)) if value]
        if chosen:
            raise ValueError(f'{", ".join(chosen)} choose a new model (--init none); the '
                             f'model here is that of {start_path}')
        model = asdict(start.config)
        if not resume:
            # Fine-tuning takes train's default dropout; resuming keeps the checkpoint's.
            del model['decoder_dropout']
        argv += ['--variant', start.config.variant, '--model-json', json.dumps(model)]
        if resume:
            crop = input_config(start.config, start_info)
            had = 'none' if crop.canonical_side is None else crop.canonical_side
            if side is not None and side != had:
                raise ValueError(f'--canonical-side {side}: the checkpoint was trained with '
                                 f'{had}; resuming keeps it')
            if half is not None and not math.isclose(half, crop.crop_half_extent):
                raise ValueError(f'--crop-half-extent {half}: the checkpoint was trained '
                                 f'with {crop.crop_half_extent}; resuming keeps it')
            side, half = had, crop.crop_half_extent
    argv += ['--canonical-side', side or 'right']
    if half is not None:
        argv += ['--crop-half-extent', str(half)]
    if args.decoder_dropout is not None:
        argv += ['--decoder-dropout', str(args.decoder_dropout)]
    return argv


def _check_arguments(args: argparse.Namespace) -> None:
    if not args.out:
        raise ValueError('--out is required where $OUT is not set')
    for name in ('minutes', 'checkpoint_minutes', 'max_shard_mib', 'eval_timeout'):
        if not 0 < getattr(args, name) < math.inf:
            raise ValueError(f'--{name.replace("_", "-")} must be > 0, got '
                             f'{getattr(args, name)}')
    for name in ('max_steps', 'warmup_steps', 'schedule_steps', 'eval_frames', 'threads'):
        if getattr(args, name) < 0:
            raise ValueError(f'--{name.replace("_", "-")} must be >= 0, got '
                             f'{getattr(args, name)}')
    if args.eval_resolution < 8:
        raise ValueError(f'--eval-resolution must be >= 8, got {args.eval_resolution}')
    if args.checkpoint_in and args.init:
        raise ValueError('--checkpoint-in and --init exclude each other (a session resumes '
                         'from the one or starts from the other)')
    for name in ('data', 'val', 'test'):
        folder = getattr(args, name)
        if folder and not (pathlib.Path(folder) / 'info.json').is_file():
            raise ValueError(f'--{name} {folder} is not a synthetic data folder (no info.json)')


def check_return_budget(model: ModelConfig, dtype: torch.dtype, shard_bytes: int) -> int:
    """
    Raise ValueError unless ``model``'s weights in ``dtype`` come back from the machine.

    At most 8 files of 16 MiB, 64 MiB in all, ``OTHER_FILES`` of them not weights.
    Returns the number of shards.
    """
    from c2f_sdf_ros.model.c2f_sdf import C2FSDF

    with torch.device('meta'):  # shapes only, nothing allocated
        state = {k: v.to(dtype) if v.is_floating_point() else v
                 for k, v in C2FSDF(model).state_dict().items()}
    shards = plan_shards(state, shard_bytes)
    size = sum(v.numel() * v.element_size() for v in state.values())
    if len(shards) + OTHER_FILES > RETURN_FILES or size > RETURN_BYTES - 2**20:
        raise ValueError(
            f'the weights ({size / 2**20:.1f} MiB in {str(dtype).split(".")[-1]}, '
            f'{len(shards)} shards) would not come back from the GPU machine (at most '
            f'{RETURN_FILES} files of 16 MiB, 64 MiB in all, {OTHER_FILES} of them not '
            f'weights): use ' + ('a smaller model' if dtype == torch.bfloat16 else
                                 '--save-dtype bfloat16 or a smaller model'))
    return len(shards)


def _protocol_eval(args: argparse.Namespace, weights: pathlib.Path, device: str,
                   threads: int, absent: list[str]) -> dict:
    """The papers' protocol on the test folder through ``c2f-sdf eval`` (a subprocess)."""
    if absent:
        return {'skipped': f'{" and ".join(absent)} not installed here; score the returned '
                           f'weights with c2f-sdf eval'}
    if not (pathlib.Path(args.test) / 'mesh').is_dir():
        return {'skipped': f'{args.test} has no meshes (a packed folder); score the returned '
                           f'weights with c2f-sdf eval on the full test folder'}
    command = [sys.executable, '-m', 'c2f_sdf_ros.cli', 'eval', '--weights', str(weights),
               '--data', args.test, '--frames', str(args.eval_frames), '--resolution',
               str(args.eval_resolution), '--protocol', 'paper', '--no-ceiling', '--json',
               '--quiet', '--device', device, '--threads', str(threads)]
    root = str(pathlib.Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [root, os.environ.get('PYTHONPATH')])))
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=args.eval_timeout)
    except subprocess.TimeoutExpired:
        return {'error': f'c2f-sdf eval ran past --eval-timeout {args.eval_timeout} s'}
    seconds = round(time.monotonic() - started, 1)
    if done.returncode != 0:
        return {'error': done.stderr.strip()[-2000:], 'seconds': seconds}
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {'error': f'c2f-sdf eval printed no JSON: {done.stdout[-500:]}'}
    return {'protocol': 'paper', 'frames': args.eval_frames,
            'resolution': args.eval_resolution, 'seconds': seconds, **result.get('paper', {})}


def _rounded(values: dict) -> dict:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in values.items()}


def run_session(argv: list[str]) -> dict:
    """Run one session from ``c2f-sdf gpu-session`` arguments; returns session.json."""
    absent = missing_modules()
    args = build_parser().parse_args(argv)
    _check_arguments(args)

    from c2f_sdf_ros.train.cli import build_parser as train_parser
    from c2f_sdf_ros.train.cli import config_from_args
    from c2f_sdf_ros.train.dataset import FrameDataset
    from c2f_sdf_ros.train.trainer import Trainer

    class SessionTrainer(Trainer):
        """The trainer with the session's schedule and exports in place of checkpoints."""

        def learning_rate(self, step: int) -> float:
            config, rate = self.config, self.config.lr
            if args.schedule_steps:
                low = rate * config.final_lr_fraction
                progress = min(step / args.schedule_steps, 1.0)
                rate = low + 0.5 * (rate - low) * (1 + math.cos(math.pi * progress))
            if config.warmup_steps:
                rate *= min(1.0, (step - first_step + 1) / config.warmup_steps)
            return rate

        def save(self, name: str, **extra) -> None:
            # Only 'last' travels back: exported, without the optimizer (module docstring).
            if self.rank != 0 or name != 'last':
                return
            began = time.monotonic()
            files = save_model(self.out / 'last', self.model,
                               self._info(sessions=[*history, progress()], **extra),
                               self.config.crop, max_shard_bytes=shard_bytes, dtype=dtype)
            exports.append({'step': self.step, 'files': len(files),
                            'bytes': sum(f.stat().st_size for f in files),
                            'seconds': round(time.monotonic() - began, 2)})
            write_record('running')
            print(f'step {self.step}: exported {len(files)} file(s), '
                  f'{exports[-1]["bytes"] / 2**20:.1f} MiB, '
                  f'{progress()["frames_per_second"]} frames/s', flush=True)

    resume = bool(args.checkpoint_in)
    start_path = (_checkpoint_prefix(args.checkpoint_in) if resume else
                  None if args.init == 'none' else
                  SHIPPED_WEIGHTS if args.init in (None, 'shipped') else pathlib.Path(args.init))
    start, start_info = (load_model(start_path) if start_path is not None else (None, {}))
    first_step = int(start_info.get('step', 0)) if resume else 0
    if first_step < 0:
        raise ValueError(f'{start_path}.json: step {first_step} is not a step count')
    history = list(start_info.get('sessions', [])) if resume else []
    cuda = torch.cuda.is_available() and args.device != 'cpu'
    if args.workers is None:
        args.workers = max(1, (os.cpu_count() or 2) - 2) if cuda else 1
    threads = args.threads or (4 if cuda else os.cpu_count() or 1)
    torch.set_num_threads(threads)
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed input sizes: pick the fastest kernels
        torch.set_float32_matmul_precision('high')  # TF32 where autocast leaves float32
    train_argv = _train_argv(args, start, start_info, start_path, resume, first_step)
    if start_path is not None:
        train_argv += ['--init', str(start_path)]
    config = config_from_args(train_parser().parse_args(train_argv))
    dtype = torch.bfloat16 if args.save_dtype == 'bfloat16' else torch.float32
    shard_bytes = int(args.max_shard_mib * 2**20)
    command = shlex.join(['c2f-sdf', 'gpu-session', *argv])
    out = pathlib.Path(args.out)
    check_return_budget(config.model, dtype, shard_bytes)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'log.jsonl').unlink(missing_ok=True)
    trainer = SessionTrainer(config, command, progress=not args.quiet)
    if resume:
        trainer.step = first_step
        trainer.train_seconds = float(start_info.get('train_seconds', 0.0))
    pools = {}
    if config.lattice_queries:
        pools['data'] = attach_pools(trainer.train_set, config.train_dir, not absent)
        if trainer.val_set is not None:
            pools['val'] = attach_pools(trainer.val_set, config.val_dir, not absent)
    device = describe_device(trainer.device)
    exports: list[dict] = []
    began = time.monotonic()
    seconds_before = trainer.train_seconds
    record: dict = {}

    def progress() -> dict:
        wall = time.monotonic() - began
        frames = (trainer.step - first_step) * config.batch_size * trainer.world
        compute = trainer.train_seconds - seconds_before
        return {'first_step': first_step, 'step': trainer.step,
                'steps_done': trainer.step - first_step, 'device': device,
                'wall_seconds': round(wall, 1), 'compute_seconds': round(compute, 1),
                'frames_per_second': round(frames / wall, 1) if wall > 0 else 0.0,
                'compute_frames_per_second': round(frames / compute, 1) if compute else 0.0}

    def write_record(status: str) -> None:
        record.update(status=status, command=command, **progress(),
                      torch=torch.__version__, batch_size=config.batch_size,
                      optimizer=f'AdamW, fresh this session, warm-up {config.warmup_steps} '
                                f'steps', autocast='bfloat16' if cuda and config.amp
                      else 'none (float32)', start=str(start_path) if start_path else 'random',
                      resumed=resume, absent_modules=absent, lattice_pools=pools,
                      weights={'dtype': args.save_dtype, 'exports': exports,
                               'files': sorted(p.name for p in out.glob('last*'))},
                      train_losses=_rounded(trainer.train_losses))
        partial = out / '.session.json.partial'
        partial.write_text(json.dumps(record, indent=1, allow_nan=True))
        os.replace(partial, out / 'session.json')

    write_record('starting')
    val = trainer.run()
    record['val'] = _rounded(val) if trainer.val_set is not None else {}
    record['stopped_by'] = 'time' if trainer.stopped_by_time else 'steps'
    if args.test and args.eval_frames:
        test_set = FrameDataset(args.test, config.crop, config.num_queries,
                                config.model.heatmap_size, None, seed=config.seed,
                                limit=args.eval_frames, lattice_queries=config.lattice_queries)
        if config.lattice_queries:
            pools['test'] = attach_pools(test_set, args.test, not absent)
        began_eval = time.monotonic()
        record['test'] = _rounded(trainer.validate(test_set))
        record['test']['frames'] = len(test_set)
        record['test']['seconds'] = round(time.monotonic() - began_eval, 1)
        record['eval'] = _protocol_eval(args, out / 'last', str(trainer.device), threads,
                                        absent)
    write_record('done')
    return record


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['pack']:
        args = build_pack_parser().parse_args(argv[1:])
        try:
            summary = pack(args.source, args.out, args.frames, args.norm_scale, args.seed)
        except (ValueError, FileNotFoundError, ImportError) as error:
            print(f'c2f-sdf gpu-session pack: error: {error}', file=sys.stderr)
            return 2
        print(json.dumps(summary))
        return 0
    try:
        record = run_session(argv)
    except (ValueError, FileNotFoundError) as error:
        print(f'c2f-sdf gpu-session: error: {error}', file=sys.stderr)
        return 2
    print(json.dumps({k: record[k] for k in ('step', 'steps_done', 'stopped_by',
                                              'frames_per_second', 'device')
                      if k in record}))
    return 0
