"""Model weights as safetensors plus a JSON config; never a pickle."""

from __future__ import annotations

from dataclasses import asdict
import json
import os
import pathlib

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
import torch

from c2f_sdf_ros.model.c2f_sdf import C2FSDF
from c2f_sdf_ros.model.config import ModelConfig
from c2f_sdf_ros.model.inputs import CropConfig

FORMAT = 'c2f_sdf_ros/weights/v1'
# The weights shipped with the package (trained on synthetic data, see docs/model.md).
SHIPPED_WEIGHTS = pathlib.Path(__file__).resolve().parents[1] / 'weights' / 'synth_full'


def _paths(path: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
    path = pathlib.Path(path)
    stem = path.with_suffix('') if path.suffix in ('.safetensors', '.json') else path
    return stem.with_suffix('.safetensors'), stem.with_suffix('.json')


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' | 'cpu' | 'cuda[:N]' -> a device; ValueError if CUDA is asked for but absent."""
    if name == 'auto':
        name = f'cuda:{local_rank}' if torch.cuda.is_available() else 'cpu'
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device {name!r} requested but CUDA is not available')
    if name != 'cpu' and not name.startswith('cuda'):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")
    return torch.device(name)


def save_model(path: str | os.PathLike, model: C2FSDF, info: dict | None = None,
               inputs: CropConfig | None = None) -> None:
    """
    Write ``<path>.safetensors`` (weights) and ``<path>.json`` (config and ``info``).

    ``info`` records provenance (training command, data seed, time, metrics); ``inputs``
    (stored as ``info['inputs']``) is how frames were cropped for these weights and which
    hand side they expect (``canonical_side``), so inference and evaluation read it
    instead of rebuilding it (``inputs.input_config``).
    """
    weights, config = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(weights), metadata={'format': FORMAT})
    info = dict(info or {})
    if inputs is not None:
        info['inputs'] = asdict(inputs)
    config.write_text(json.dumps({'format': FORMAT, 'model': asdict(model.config),
                                  'info': info}, indent=1, sort_keys=True))


def load_model(path: str | os.PathLike, device: str = 'cpu') -> tuple[C2FSDF, dict]:
    """
    Build the model from ``<path>.json`` and load ``<path>.safetensors``; returns (model, info).

    Raises
    ------
    FileNotFoundError
        If either file is missing.
    ValueError
        If the config is not ours, the weights file is corrupt, or the weights do not fit
        the configured model (names the missing, unexpected or mis-shaped tensors).

    """
    weights, config_path = _paths(path)
    for file in (weights, config_path):
        if not file.is_file():
            raise FileNotFoundError(f'model file {file} does not exist')
    try:
        config_data = json.loads(config_path.read_text())
        if config_data.get('format') != FORMAT:
            raise ValueError(f'format is {config_data.get("format")!r}, expected {FORMAT}')
        config = ModelConfig.from_dict(config_data['model'])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f'{config_path}: not a c2f_sdf_ros model config: {error}') from error
    try:
        state = load_file(str(weights), device=device)
    except (SafetensorError, OSError) as error:
        raise ValueError(f'{weights}: corrupt or not a safetensors file: {error}') from error
    model = C2FSDF(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(state)
                        if expected[k].shape != state[k].shape)
    if missing or unexpected or mismatched:
        detail = '; '.join(f'{name}: {", ".join(keys[:5])}{" ..." if len(keys) > 5 else ""}'
                           for name, keys in (('missing', missing), ('unexpected', unexpected),
                                              ('wrong shape', mismatched)) if keys)
        raise ValueError(f'{weights} does not match its config ({config.variant}): {detail}')
    model.load_state_dict(state)
    return model.to(device), config_data.get('info', {})
