"""
Open a dataset by kind: the synthetic folders, DexYCB or ObMan, as a ``FrameSource``.

Training (``c2f-sdf train --dataset``) and evaluation (``c2f-sdf eval --dataset``) only
see ``FrameSource``; the real-dataset readers are imported on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
import pathlib

from c2f_sdf_ros.data.labelled import FrameSource
from c2f_sdf_ros.data.synth_folder import SynthFolder

DATASETS = ('synth', 'dexycb', 'obman')
# Normalisation scale s of the reference code per dataset (DESIGN.md): our synthetic
# data uses DexYCB's.
NORM_SCALES = {'synth': 6.2, 'dexycb': 6.2, 'obman': 7.0}


@dataclass(frozen=True)
class SourceOptions:
    """
    What the real-dataset readers need besides the dataset root.

    Attributes
    ----------
    mano_dir : str
        Folder holding the user's ``MANO_RIGHT.pkl`` (DexYCB, ObMan: ground-truth hand
        meshes and faces).
    shapenet_root : str
        ``ShapeNetCore.v2`` folder (ObMan objects).
    cache_dir : str
        Where per-frame SDF samples are cached ('' computes them on every read).
    frame_ids : str
        ObMan: a JSON (or one-per-line) list of the frame ids to use, e.g. gSDF's
        ``test_6k.json`` ('' uses every frame of the split).

    """

    mano_dir: str = ''
    shapenet_root: str = ''
    cache_dir: str = ''
    frame_ids: str = ''



def open_source(dataset: str, path: str | pathlib.Path, split: str = 'train',
                options: SourceOptions = SourceOptions(), seed: int = 0) -> FrameSource:
    """
    A reader of ``dataset`` at ``path``.

    Parameters
    ----------
    dataset : str
        One of ``DATASETS``.
    path : str or Path
        A synthetic folder (its split is fixed when written), or the DexYCB / ObMan root.
    split : str
        'train', 'val' or 'test' (DexYCB: of the s0 setup; ignored for 'synth').
    options : SourceOptions
        MANO, ShapeNet and cache locations.
    seed : int
        Seed of the SDF sampling of real datasets.

    Raises
    ------
    ValueError
        Unknown dataset, or a folder that is not one (see each reader).

    """
    if dataset == 'synth':
        return SynthFolder(path)
    cache = options.cache_dir or None
    mano = options.mano_dir or None
    if options.frame_ids and dataset != 'obman':
        raise ValueError('a frame id list is only read for obman')
    if dataset == 'dexycb':
        from c2f_sdf_ros.data.dexycb import DexYCB
        return DexYCB(path, split, mano_dir=mano, cache_dir=cache, seed=seed)
    if dataset == 'obman':
        from c2f_sdf_ros.data.obman import ObMan
        return ObMan(path, split, shapenet_root=options.shapenet_root or None, mano_dir=mano,
                     cache_dir=cache, seed=seed, frame_ids=options.frame_ids or None)
    raise ValueError(f'dataset must be one of {DATASETS}, got {dataset!r}')
