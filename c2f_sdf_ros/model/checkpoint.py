"""
Model weights as safetensors plus a JSON config; never a pickle.

A checkpoint ``PATH`` is ``PATH.json`` (format, model config, info) and either one
``PATH.safetensors`` or, when written with ``max_shard_bytes``, the shards
``PATH-00001-of-0000N.safetensors`` ... listed in the JSON with their sizes and SHA-256
(what a GPU session returns: its machine hands back files of at most 16 MiB).
"""

from __future__ import annotations

from dataclasses import asdict
import hashlib
import json
import os
import pathlib
import platform
import re

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
import torch

from c2f_sdf_ros.model.c2f_sdf import C2FSDF
from c2f_sdf_ros.model.config import ModelConfig
from c2f_sdf_ros.model.inputs import CropConfig

FORMAT = 'c2f_sdf_ros/weights/v1'
# The weights shipped with the package (trained on synthetic data, see docs/model.md).
SHIPPED_WEIGHTS = pathlib.Path(__file__).resolve().parents[1] / 'weights' / 'synth_full'
# The largest file the project's GPU machine hands back (docs/model.md, "GPU sessions").
MAX_SHARD_BYTES = 16 * 2**20
SHARD_NAME = re.compile(r'^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})$')
# Header room per tensor in a shard (name, dtype, shape, offsets as JSON) and per shard.
_HEADER_PER_TENSOR, _HEADER_FIXED = 160, 1024


def _paths(path: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
    """(PATH.safetensors, PATH.json) of a checkpoint named by PATH, either file or a shard."""
    path = pathlib.Path(path)
    stem = path.with_suffix('') if path.suffix in ('.safetensors', '.json') else path
    shard = SHARD_NAME.match(stem.name)
    if shard:
        stem = stem.with_name(shard['stem'])
    return stem.with_suffix('.safetensors'), stem.with_suffix('.json')


def shard_path(weights: pathlib.Path, index: int, count: int) -> pathlib.Path:
    """Shard ``index`` (1-based) of ``count`` of the weights file ``weights``."""
    return weights.with_name(f'{weights.stem}-{index:05d}-of-{count:05d}.safetensors')


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' | 'cpu' | 'cuda[:N]' -> a device; ValueError if CUDA is asked for but absent."""
    if name == 'auto':
        name = f'cuda:{local_rank}' if torch.cuda.is_available() else 'cpu'
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device {name!r} requested but CUDA is not available')
    if name != 'cpu' and not name.startswith('cuda'):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """The GPU's name, or the CPU's architecture and core count (for reports)."""
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'cpu ({platform.machine()}, {os.cpu_count()} cores)'


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for block in iter(lambda: stream.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def plan_shards(state: dict[str, torch.Tensor], max_shard_bytes: int) -> list[list[str]]:
    """
    Tensor names per shard, each shard's file <= ``max_shard_bytes`` (first fit, in order).

    Raises ValueError if one tensor alone does not fit in a shard.
    """
    if max_shard_bytes < 4 * _HEADER_FIXED:
        raise ValueError(f'max_shard_bytes must be >= {4 * _HEADER_FIXED}, got '
                         f'{max_shard_bytes}')
    shards: list[list[str]] = []
    used: list[int] = []
    for name, tensor in state.items():
        size = tensor.numel() * tensor.element_size() + _HEADER_PER_TENSOR + len(name)
        if size + _HEADER_FIXED > max_shard_bytes:
            raise ValueError(f'tensor {name} ({size} bytes) does not fit in a shard of '
                             f'{max_shard_bytes} bytes')
        room = next((i for i, bytes_ in enumerate(used) if bytes_ + size <= max_shard_bytes),
                    None)
        if room is None:
            shards.append([])
            used.append(_HEADER_FIXED)
            room = len(shards) - 1
        shards[room].append(name)
        used[room] += size
    return shards


def _replace_atomically(path: pathlib.Path, write) -> None:
    """Call ``write(temporary path)``, then move the result onto ``path`` in one step."""
    partial = path.with_name(f'.{path.name}.partial')
    write(partial)
    os.replace(partial, path)


def save_model(path: str | os.PathLike, model: C2FSDF, info: dict | None = None,
               inputs: CropConfig | None = None, *, max_shard_bytes: int | None = None,
               dtype: torch.dtype | None = None) -> list[pathlib.Path]:
    """
    Write ``<path>.safetensors`` (weights) and ``<path>.json`` (config and ``info``).

    ``info`` records provenance (training command, data seed, time, metrics); ``inputs``
    (stored as ``info['inputs']``) is how frames were cropped for these weights and which
    hand side they expect (``canonical_side``), so inference and evaluation read it
    instead of rebuilding it (``inputs.input_config``).

    With ``max_shard_bytes`` the weights go to ``<path>-0000i-of-0000N.safetensors``
    instead, none larger than that, listed (name, size, SHA-256) in the JSON, which is
    written last: a save cut short leaves shards that ``load_model`` refuses (their hash
    differs from the JSON's) instead of a mix of two saves. Shards of an earlier save with
    another count, and a single file, are removed. ``dtype`` (e.g. ``torch.bfloat16``)
    stores the floating-point tensors in that type; ``load_model`` converts them back to
    the model's. Returns the weight files written.
    """
    weights, config = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        state[key] = value.contiguous().cpu()
    info = dict(info or {})
    if inputs is not None:
        info['inputs'] = asdict(inputs)
    record = {'format': FORMAT, 'model': asdict(model.config), 'info': info}
    if max_shard_bytes is None:
        save_file(state, str(weights), metadata={'format': FORMAT})
        written = [weights]
    else:
        plan = plan_shards(state, max_shard_bytes)
        written, listed = [], []
        for index, names in enumerate(plan, 1):
            file = shard_path(weights, index, len(plan))
            _replace_atomically(file, lambda target, names=names, index=index: save_file(
                {name: state[name] for name in names}, str(target),
                metadata={'format': FORMAT, 'shard': f'{index}/{len(plan)}'}))
            size = file.stat().st_size
            if size > max_shard_bytes:
                raise ValueError(f'{file} came out at {size} bytes, over {max_shard_bytes}')
            written.append(file)
            listed.append({'file': file.name, 'bytes': size, 'sha256': _sha256(file)})
        record['shards'] = listed
    _replace_atomically(config, lambda target: target.write_text(
        json.dumps(record, indent=1, sort_keys=True)))
    if max_shard_bytes is not None:
        stale = [weights, *weights.parent.glob(f'{weights.stem}-*-of-*.safetensors')]
        for file in stale:
            shard = SHARD_NAME.match(file.stem)
            if file not in written and (file == weights or shard and shard['stem'] ==
                                        weights.stem):
                file.unlink(missing_ok=True)
    return written


def _load_shards(weights: pathlib.Path, listed, device: str) -> dict[str, torch.Tensor]:
    """The tensors of the shards the JSON lists, each checked against its size and hash."""
    if not isinstance(listed, list) or not listed or not all(
            isinstance(entry, dict) and {'file', 'bytes', 'sha256'} <= set(entry)
            for entry in listed):
        raise ValueError(f'{weights.with_suffix(".json")}: its shards list is malformed')
    state: dict[str, torch.Tensor] = {}
    for index, entry in enumerate(listed, 1):
        file = shard_path(weights, index, len(listed))
        if entry['file'] != file.name:
            raise ValueError(f'{weights.with_suffix(".json")}: shard {index} is named '
                             f'{entry["file"]!r}, expected {file.name!r}')
        if not file.is_file():
            raise FileNotFoundError(f'model file {file} (shard {index} of {len(listed)}) '
                                    f'does not exist')
        if file.stat().st_size != entry['bytes'] or _sha256(file) != entry['sha256']:
            raise ValueError(f'{file}: corrupt, or from another save than '
                             f'{weights.with_suffix(".json").name} (size or SHA-256 differs)')
        try:
            tensors = load_file(str(file), device=device)
        except (SafetensorError, OSError) as error:
            raise ValueError(f'{file}: corrupt or not a safetensors file: {error}') from error
        twice = sorted(set(tensors) & set(state))
        if twice:
            raise ValueError(f'{file} repeats tensors of an earlier shard: {twice[:5]}')
        state.update(tensors)
    return state


def load_model(path: str | os.PathLike, device: str = 'cpu') -> tuple[C2FSDF, dict]:
    """
    Build the model from ``<path>.json`` and load its weights; returns (model, info).

    ``path`` may name the checkpoint (``PATH``), its JSON, its ``.safetensors`` or one of
    its shards; the JSON says whether the weights are one file or shards.

    Raises
    ------
    FileNotFoundError
        If the JSON or a weights file (or shard) is missing.
    ValueError
        If the config is not ours, a weights file is corrupt (or a shard is not the one
        the JSON lists), or the weights do not fit the configured model (names the
        missing, unexpected or mis-shaped tensors).

    """
    weights, config_path = _paths(path)
    if not config_path.is_file():
        raise FileNotFoundError(f'model file {config_path} does not exist')
    try:
        config_data = json.loads(config_path.read_text())
        if config_data.get('format') != FORMAT:
            raise ValueError(f'format is {config_data.get("format")!r}, expected {FORMAT}')
        config = ModelConfig.from_dict(config_data['model'])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f'{config_path}: not a c2f_sdf_ros model config: {error}') from error
    if 'shards' in config_data:
        state = _load_shards(weights, config_data['shards'], device)
    else:
        if not weights.is_file():
            raise FileNotFoundError(f'model file {weights} does not exist')
        try:
            state = load_file(str(weights), device=device)
        except (SafetensorError, OSError) as error:
            raise ValueError(f'{weights}: corrupt or not a safetensors file: {error}') \
                from error
    model = C2FSDF(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(state)
                        if expected[k].shape != state[k].shape
                        or expected[k].is_floating_point() != state[k].is_floating_point())
    if missing or unexpected or mismatched:
        detail = '; '.join(f'{name}: {", ".join(keys[:5])}{" ..." if len(keys) > 5 else ""}'
                           for name, keys in (('missing', missing), ('unexpected', unexpected),
                                              ('wrong shape or type', mismatched)) if keys)
        raise ValueError(f'{weights} does not match its config ({config.variant}): {detail}')
    # Weights stored in another floating type (a bfloat16 export) are converted here.
    model.load_state_dict(state)
    return model.to(device), config_data.get('info', {})
