"""
The training loop: AdamW, cosine learning rate, periodic validation, resumable checkpoints.

One process trains on one device; under ``torchrun`` each process takes one shard of every
epoch and gradients are averaged by DistributedDataParallel (NCCL on GPUs, gloo on CPUs).
Checkpoints are safetensors: the model as ``<name>.safetensors`` + ``<name>.json`` (see
``c2f_sdf_ros.model.checkpoint``) and the optimizer as ``<name>.optim.safetensors`` +
``<name>.optim.json``; nothing is pickled.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
import json
import math
import os
import pathlib
import time

import numpy as np
from safetensors.torch import load_file, save_file
import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from c2f_sdf_ros.data.sources import DATASETS, SourceOptions, open_source
from c2f_sdf_ros.geometry.mirror import SIDES
from c2f_sdf_ros.model.c2f_sdf import C2FSDF, ModelInput
from c2f_sdf_ros.model.checkpoint import load_model, resolve_device, save_model
from c2f_sdf_ros.model.config import ModelConfig
from c2f_sdf_ros.model.inputs import CropConfig, input_config
from c2f_sdf_ros.train.dataset import Augmentation, FrameDataset
from c2f_sdf_ros.train.guidance import GuidanceConfig, perturbed_guidance
from c2f_sdf_ros.train.losses import LossWeights, c2f_sdf_loss

INPUT_KEYS = ('rgb', 'depth', 'crop_K', 'root', 'points', 'points_valid')


@dataclass
class TrainConfig:
    """
    Everything a training run depends on (recorded next to its weights).

    Attributes
    ----------
    train_dir, val_dir : str
        Synthetic folders (``c2f-sdf synth``) to train and validate on; for DexYCB and
        ObMan both are the dataset root and ``train_split`` / ``val_split`` choose.
    out_dir : str
        Where checkpoints (``last``, ``best``) and ``log.jsonl`` go.
    model : ModelConfig
        Architecture and variant.
    steps : int
        Optimizer steps (each ``batch_size`` frames per process).
    batch_size : int
        Frames per step and process.
    lr, weight_decay : float
        AdamW; the rate warms up linearly over ``warmup_steps`` then follows a cosine to
        ``lr * final_lr_fraction``.
    num_queries : int
        SDF samples per frame and step: a ``lattice_fraction`` of them uniform over the
        whole normalised cube, the rest half near the hand, half near the object.
    lattice_fraction : float
        That fraction, with targets from the ground-truth meshes (the stored samples stop
        15 cm from the wrist; reconstruction queries up to 32 cm from it).
    crop_half_extent, depth_half_range : float
        See ``CropConfig``.
    canonical_side : str or None
        'right' (the default): every left-hand frame is mirrored into a right-hand one
        before augmentation, so the network only sees right hands (as the reference
        trains); recorded in the checkpoint's inputs block so that inference mirrors
        left hands too. None: both sides as they come (runs before mirroring existed).
    guidance : GuidanceConfig
        How often perturbed ground-truth joints, instead of the joint head's, guide the
        decoders (``train.guidance``), so that a detector's joints can guide them later.
    val_every, val_frames : int
        Validate every that many steps on the first ``val_frames`` validation frames.
    checkpoint_every : int
        Save ``last`` every that many steps (and at the end).
    max_minutes : float
        Stop after the step during which that many minutes of wall time (from the start of
        ``run``) have passed, validating and saving ``last`` as at the last step; 0: no
        limit, ``steps`` alone decides.
    checkpoint_minutes : float
        Also save ``last`` whenever that many minutes of wall time have passed since the
        last save; 0: by ``checkpoint_every`` alone.
    workers : int
        Data loader processes per training process.
    seed : int
        Initialisation and data order.
    device : str
        'auto' (CUDA when there is one), 'cpu' or 'cuda[:N]'.
    amp : bool
        bfloat16 autocast on CUDA.
    cpu_amp : bool
        bfloat16 autocast on CPU too (about 1.4x faster per step on CPUs with AMX; about
        9x slower on CPUs with avx512_bf16 but no AMX, hence off: CPUs train in float32).
    init_weights : str
        Start from these weights (fine-tuning) instead of a random initialisation; their
        model config must equal ``model`` but for ``decoder_dropout`` (a training setting
        that changes no weight).
    augmentation, loss : Augmentation, LossWeights
        Training-time augmentation and loss weights.
    dataset : str
        'synth', 'dexycb' or 'obman' (``c2f_sdf_ros.data.sources``).
    train_split, val_split : str
        Splits of a real dataset.
    sources : SourceOptions
        MANO / ShapeNet / cache folders the real-dataset readers need.

    """

    train_dir: str
    val_dir: str
    out_dir: str
    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 1000
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    final_lr_fraction: float = 0.02
    num_queries: int = 1024
    lattice_fraction: float = 0.125
    crop_half_extent: float = 0.16
    depth_half_range: float = 0.25
    canonical_side: str | None = 'right'
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    val_every: int = 250
    val_frames: int = 40
    checkpoint_every: int = 250
    max_minutes: float = 0.0
    checkpoint_minutes: float = 0.0
    workers: int = 1
    seed: int = 0
    device: str = 'auto'
    amp: bool = True
    cpu_amp: bool = False
    init_weights: str = ''
    augmentation: Augmentation = field(default_factory=Augmentation)
    loss: LossWeights = field(default_factory=LossWeights)
    dataset: str = 'synth'
    train_split: str = 'train'
    val_split: str = 'val'
    sources: SourceOptions = field(default_factory=SourceOptions)

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f'dataset must be one of {DATASETS}, got {self.dataset!r}')
        for name in ('steps', 'batch_size', 'num_queries', 'val_every', 'checkpoint_every'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}')
        if self.lr <= 0 or self.weight_decay < 0 or self.workers < 0 or self.val_frames < 0:
            raise ValueError('lr must be > 0; weight_decay, workers, val_frames >= 0')
        for name in ('max_minutes', 'checkpoint_minutes'):
            if not 0.0 <= getattr(self, name) < math.inf:
                raise ValueError(f'{name} must be >= 0 (0: no limit), got '
                                 f'{getattr(self, name)}')
        if not 0.0 <= self.lattice_fraction <= 0.5:
            raise ValueError(f'lattice_fraction must be in [0, 0.5], got '
                             f'{self.lattice_fraction}')
        if self.crop_half_extent <= 0 or self.depth_half_range <= 0:
            raise ValueError(f'crop_half_extent and depth_half_range must be > 0, got '
                             f'{self.crop_half_extent}, {self.depth_half_range}')
        if self.canonical_side is not None and self.canonical_side not in SIDES:
            raise ValueError(f'canonical_side must be one of {SIDES} or None, got '
                             f'{self.canonical_side!r}')

    @property
    def lattice_queries(self) -> int:
        """Lattice queries per frame (``lattice_fraction`` of ``num_queries``)."""
        return round(self.lattice_fraction * self.num_queries)

    @property
    def crop(self) -> CropConfig:
        """The crop settings implied by the model and this config."""
        m = self.model
        return CropConfig(m.image_size, self.crop_half_extent, self.depth_half_range,
                          m.num_points, m.norm_scale, self.canonical_side)


    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Inverse of ``dataclasses.asdict``; a record without canonical_side had none."""
        data = dict(data)
        data.setdefault('canonical_side', None)
        data['model'] = ModelConfig.from_dict(data.get('model', {}))
        data['augmentation'] = Augmentation(**data.get('augmentation', {}))
        data['loss'] = LossWeights(**data.get('loss', {}))
        data['sources'] = SourceOptions(**data.get('sources', {}))
        data['guidance'] = GuidanceConfig(**data.get('guidance', {}))
        return cls(**data)


def same_weights(a: ModelConfig, b: ModelConfig) -> bool:
    """Whether weights of config ``a`` are weights of ``b``: equal but for the dropout."""
    return replace(a, decoder_dropout=b.decoder_dropout) == b


def can_start_from(a: ModelConfig, b: ModelConfig) -> bool:
    """
    Whether a run of config ``b`` can start from weights of config ``a``.

    As ``same_weights``, and the input crop's side may differ too: no weight's shape
    depends on it (the convolutions slide, the pixel-aligned features are sampled), so
    weights trained on small crops are a start for a finer crop.
    """
    return same_weights(replace(a, image_size=b.image_size), b)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up then cosine decay."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    low = config.lr * config.final_lr_fraction
    return low + 0.5 * (config.lr - low) * (1 + math.cos(math.pi * min(progress, 1.0)))


class ShardedShuffle(Sampler):
    """
    A fresh permutation per epoch from (seed, epoch), split between ``world`` processes.

    ``skip`` drops the first indices of this process's shard (resuming mid-epoch).
    """

    def __init__(self, size: int, seed: int, epoch: int, rank: int = 0, world: int = 1,
                 skip: int = 0):
        order = np.random.default_rng([seed, epoch]).permutation(size)
        padded = np.resize(order, math.ceil(size / world) * world)  # equal shards
        self.indices = padded[rank::world][skip:].tolist()

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class EpochStream(Sampler):
    """
    ``ShardedShuffle`` epochs one after another, from ``first_epoch`` on, without end.

    Each epoch contributes the first ``per_epoch`` indices of its shard (whole batches),
    as ``epoch * size + index`` so that the dataset knows the epoch of every item
    (``FrameDataset.__getitem__``). One data loader then serves the whole run and its
    worker processes live as long: they keep what they computed once per frame (the
    lattice pools, ~0.5 s a frame), which a loader per epoch recomputed every epoch.
    """

    def __init__(self, size: int, seed: int, first_epoch: int, rank: int, world: int,
                 skip: int, per_epoch: int):
        if size < 1 or per_epoch < 1 or not 0 <= skip <= per_epoch:
            raise ValueError(f'need size >= 1, per_epoch >= 1 and 0 <= skip <= per_epoch, '
                             f'got {size}, {per_epoch}, {skip}')
        self.size, self.seed, self.first_epoch = size, seed, first_epoch
        self.rank, self.world, self.skip, self.per_epoch = rank, world, skip, per_epoch

    def __iter__(self):
        epoch = self.first_epoch
        while True:
            shard = ShardedShuffle(self.size, self.seed, epoch, self.rank,
                                   self.world).indices[:self.per_epoch]
            start = self.skip if epoch == self.first_epoch else 0
            yield from (epoch * self.size + index for index in shard[start:])
            epoch += 1


def split_batch(batch: dict, device: torch.device) -> tuple[ModelInput, torch.Tensor, dict]:
    """Collated dataset items -> (ModelInput, queries, targets) on ``device``."""
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    inputs = ModelInput(*(batch[k] for k in INPUT_KEYS))
    targets = {k: v for k, v in batch.items() if k not in INPUT_KEYS and k != 'queries'}
    return inputs, batch['queries'], targets


def _save_optimizer(path: pathlib.Path, optimizer: torch.optim.Optimizer, extra: dict) -> None:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state['state'].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f'{index}.{name}'] = value.detach().contiguous().cpu()
            else:
                scalars[f'{index}.{name}'] = value
    save_file(tensors, str(path.with_suffix('.optim.safetensors')))
    path.with_suffix('.optim.json').write_text(json.dumps(
        {'param_groups': state['param_groups'], 'scalars': scalars, **extra}, indent=1))


def _load_optimizer(path: pathlib.Path, optimizer: torch.optim.Optimizer) -> dict:
    meta = json.loads(path.with_suffix('.optim.json').read_text())
    tensors = load_file(str(path.with_suffix('.optim.safetensors')))
    state: dict[int, dict] = {}
    for key, value in [*tensors.items(), *meta['scalars'].items()]:
        index, name = key.split('.', 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({'state': state, 'param_groups': meta['param_groups']})
    return meta


class Trainer:
    """Runs ``TrainConfig``; ``run()`` returns the final metrics dict."""

    def __init__(self, config: TrainConfig, command: str = '', resume: bool = False,
                 progress: bool = True):
        self.config = config
        self.command = command
        self.progress = progress
        self.world = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        self.device = resolve_device(config.device, local_rank)
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group('nccl' if self.device.type == 'cuda' else 'gloo')
        self.out = pathlib.Path(config.out_dir)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed)
        self.model = C2FSDF(config.model).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.step = 0
        self.stopped_by_time = False
        self.train_losses: dict[str, float] = {}
        self.best_val = math.inf
        self.train_seconds = 0.0
        self.init_info: dict = {}
        if resume:
            self._resume()
        elif config.init_weights:
            self._initialise(config.init_weights)
        self.ddp = (DistributedDataParallel(self.model) if self.world > 1 else None)
        crop = config.crop
        train_source = open_source(config.dataset, config.train_dir, config.train_split,
                                   config.sources, config.seed)
        self.train_set = FrameDataset(train_source, crop, config.num_queries,
                                      config.model.heatmap_size, config.augmentation,
                                      seed=config.seed, lattice_queries=config.lattice_queries)
        self.val_set = None
        if config.val_frames:
            # A frame id list names training frames; validation uses its whole split.
            val_source = open_source(config.dataset, config.val_dir, config.val_split,
                                     replace(config.sources, frame_ids=''), config.seed)
            self.val_set = FrameDataset(val_source, crop, config.num_queries,
                                        config.model.heatmap_size, None, seed=config.seed,
                                        limit=config.val_frames,
                                        lattice_queries=config.lattice_queries)
        self.steps_per_epoch = max(1, len(self.train_set) // (config.batch_size * self.world))

    # -- checkpoints ------------------------------------------------------------------------
    def _resume(self) -> None:
        last = self.out / 'last'
        if not last.with_suffix('.safetensors').is_file():
            raise FileNotFoundError(f'cannot resume: {last}.safetensors does not exist')
        model, info = load_model(last, str(self.device))
        if not same_weights(model.config, self.config.model):
            raise ValueError(f'cannot resume: {last}.json has a different model config')
        side = input_config(model.config, info).canonical_side
        if side != self.config.canonical_side:
            raise ValueError(f'cannot resume: {last} was trained with canonical_side {side}, '
                             f'this run asks for {self.config.canonical_side} '
                             f'(--canonical-side)')
        self.model.load_state_dict(model.state_dict())
        meta = _load_optimizer(last, self.optimizer)
        self.step = meta['step']
        self.best_val = meta.get('best_val', math.inf)
        self.train_seconds = meta.get('train_seconds', 0.0)
        self.init_info = info.get('init', {})

    def _initialise(self, path: str) -> None:
        model, info = load_model(path, str(self.device))
        if not can_start_from(model.config, self.config.model):
            raise ValueError(f'cannot start from {path}: its model config differs '
                             f'({model.config} vs {self.config.model})')
        self.model.load_state_dict(model.state_dict())
        # What the starting weights were trained with, so the chain of runs stays on record.
        self.init_info = {key: info[key] for key in ('command', 'step', 'train_seconds')
                          if key in info}

    def _info(self, **extra) -> dict:
        if self.init_info:
            extra = {'init': self.init_info, **extra}
        return {'command': self.command, 'train': asdict(self.config), 'step': self.step,
                'train_seconds': round(self.train_seconds, 1), 'world_size': self.world,
                'device': str(self.device), 'torch': torch.__version__, **extra}

    def save(self, name: str, **extra) -> None:
        """Write checkpoint ``name`` (rank 0 only)."""
        if self.rank != 0:
            return
        path = self.out / name
        save_model(path, self.model, self._info(**extra), self.config.crop)
        if name == 'last':
            _save_optimizer(path, self.optimizer, {'step': self.step,
                                                   'best_val': self.best_val,
                                                   'train_seconds': self.train_seconds})

    def log(self, record: dict) -> None:
        """Append one JSON line to log.jsonl (rank 0 only)."""
        if self.rank == 0:
            with open(self.out / 'log.jsonl', 'a') as stream:
                stream.write(json.dumps(record) + '\n')

    # -- loop -------------------------------------------------------------------------------
    def _autocast(self):
        if self.config.amp and self.device.type == 'cuda':
            return torch.autocast('cuda', dtype=torch.bfloat16)
        if self.config.cpu_amp and self.device.type == 'cpu':
            return torch.autocast('cpu', dtype=torch.bfloat16)
        return nullcontext()

    def batches(self, epoch: int, skip: int) -> DataLoader:
        """Batches from step ``epoch * steps_per_epoch + skip`` on, without end."""
        batch = self.config.batch_size
        sampler = EpochStream(len(self.train_set), self.config.seed, epoch, self.rank,
                              self.world, skip * batch, self.steps_per_epoch * batch)
        return DataLoader(self.train_set, batch, sampler=sampler,
                          num_workers=self.config.workers, drop_last=True,
                          pin_memory=self.device.type == 'cuda')

    def learning_rate(self, step: int) -> float:
        """The rate of ``step`` (``learning_rate``; a subclass may schedule otherwise)."""
        return learning_rate(self.config, step)

    def _out_of_time(self, began: float) -> bool:
        """Whether ``max_minutes`` have passed since ``began``; every process agrees."""
        if self.config.max_minutes <= 0:
            return False
        over = time.monotonic() - began >= 60.0 * self.config.max_minutes
        if self.world > 1:
            # All processes stop after the same step, or the others wait in DDP for ever.
            flag = torch.tensor([float(over)], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            over = bool(flag.item())
        return over

    @torch.no_grad()
    def validate(self, dataset: FrameDataset | None = None) -> dict[str, float]:
        """Mean loss terms on ``dataset`` (default the validation set; no augmentation)."""
        self.model.eval()
        loader = DataLoader(self.val_set if dataset is None else dataset,
                            self.config.batch_size,
                            num_workers=self.config.workers)
        sums: dict[str, float] = {}
        count = 0
        for batch in loader:
            inputs, queries, targets = split_batch(batch, self.device)
            with self._autocast():
                outputs = self.model(inputs, queries)
            total, terms = c2f_sdf_loss({k: v.float() for k, v in outputs.items()}, targets,
                                        self.config.loss)
            n = len(queries)
            for name, value in {'loss': float(total), **terms}.items():
                sums[name] = sums.get(name, 0.0) + value * n
            count += n
        self.model.train()
        return {name: value / count for name, value in sums.items()}

    def train_step(self, batch, net: torch.nn.Module | None = None) -> dict[str, float]:
        """
        One optimiser step on one collated batch; returns its loss terms (and 'loss').

        Advances ``step`` and adds the step's compute time (not the wait for the batch) to
        ``train_seconds``. ``net`` is the module to run (the DDP wrapper in a multi-process
        run; default the model).
        """
        config = self.config
        net = net or self.model
        started = time.perf_counter()
        for group in self.optimizer.param_groups:
            group['lr'] = self.learning_rate(self.step)
        inputs, queries, targets = split_batch(batch, self.device)
        guidance = use_guidance = None
        if config.guidance.probability > 0:
            # Seeded by the step: a resumed run draws the noise it would have.
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + self.step)
            guidance, use_guidance = perturbed_guidance(
                targets['joints'], config.guidance, config.model.norm_scale, generator)
        with self._autocast():
            outputs = net(inputs, queries, guidance, use_guidance)
        total, terms = c2f_sdf_loss({k: v.float() for k, v in outputs.items()}, targets,
                                    config.loss)
        if not torch.isfinite(total):
            raise FloatingPointError(f'loss is {float(total)} at step {self.step}')
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        # Reading the loss waits for the device's queued work, the optimiser step included,
        # so the time taken after it is the step's own.
        terms['loss'] = float(total.detach())
        self.step += 1
        self.train_seconds += time.perf_counter() - started
        return terms

    def run(self) -> dict:
        """
        Train until ``config.steps`` or ``config.max_minutes``.

        Returns the last validation (or training) losses.
        """
        config = self.config
        net = self.ddp or self.model
        self.model.train()
        bar = tqdm(total=config.steps, initial=self.step, unit='step', dynamic_ncols=True,
                   disable=not self.progress or self.rank != 0)
        last_val: dict[str, float] = {}
        smoothed = self.train_losses = {}
        began = saved = time.monotonic()
        self.stopped_by_time = False
        while self.step < config.steps and not self.stopped_by_time:
            epoch, offset = divmod(self.step, self.steps_per_epoch)
            for batch in self.batches(epoch, offset):
                terms = self.train_step(batch, net)
                for name, value in terms.items():
                    smoothed[name] = value if name not in smoothed else \
                        0.9 * smoothed[name] + 0.1 * value
                bar.update(1)
                bar.set_postfix(loss=f'{smoothed["loss"]:.4f}',
                                hand=f'{smoothed["fine_hand"]:.4f}',
                                obj=f'{smoothed["fine_object"]:.4f}',
                                joints=f'{smoothed["joints"]:.4f}', refresh=False)
                self.stopped_by_time = self._out_of_time(began)
                finished = self.step == config.steps or self.stopped_by_time
                if self.step % 20 == 0 or finished:
                    self.log({'step': self.step, 'epoch': (self.step - 1) // self.steps_per_epoch,
                              'lr': self.learning_rate(self.step - 1),
                              'train_seconds': round(self.train_seconds, 1),
                              **{f'train_{k}': round(v, 6) for k, v in smoothed.items()}})
                if self.val_set is not None and (self.step % config.val_every == 0
                                                 or finished) and self.rank == 0:
                    last_val = self.validate()
                    self.log({'step': self.step, **{f'val_{k}': round(v, 6)
                                                    for k, v in last_val.items()}})
                    bar.write(f'step {self.step}: val loss {last_val["loss"]:.4f} (hand '
                              f'{last_val["fine_hand"]:.4f}, object '
                              f'{last_val["fine_object"]:.4f})')
                    if last_val['loss'] < self.best_val:
                        self.best_val = last_val['loss']
                        self.save('best', val=last_val)
                due = (config.checkpoint_minutes > 0 and
                       time.monotonic() - saved >= 60.0 * config.checkpoint_minutes)
                if self.step % config.checkpoint_every == 0 or finished or due:
                    self.save('last', val=last_val)
                    saved = time.monotonic()
                if finished:
                    break
        bar.close()
        if self.world > 1:
            dist.barrier()
        return last_val or {k: v for k, v in smoothed.items()}
