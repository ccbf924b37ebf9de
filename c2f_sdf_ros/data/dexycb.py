"""
DexYCB (Chao et al., CVPR 2021) as a ``FrameSource``, read from the official download.

On-disk layout (as the dex-ycb-toolkit reads it)::

    $ROOT/<YYYYMMDD>-subject-<NN>/<YYYYMMDD_HHMMSS>/<camera serial>/
        color_%06d.jpg                   RGB
        aligned_depth_to_color_%06d.png  uint16 depth, millimetres, aligned to color
        labels_%06d.npz                  seg (H, W) uint8: 0 background, 255 hand,
                                         1-21 YCB object id; pose_y (objects, 3, 4)
                                         object-to-camera [R | t] (m); pose_m (1, 51)
                                         MANO axis-angle root (3), 45 PCA coefficients,
                                         translation (3), all 0 without a hand;
                                         joint_3d (1, 21, 3) camera m, joint_2d (1, 21, 2)
                                         pixels, both all -1 without a hand
    $ROOT/<subject>/<sequence>/meta.yml  serials, num_frames, ycb_ids (1-based), ycb_grasp_ind
                                         (index into ycb_ids), mano_sides, mano_calib, ...
    $ROOT/calibration/intrinsics/<serial>_640x480.yml   color: {fx, fy, ppx, ppy}
    $ROOT/calibration/mano_<mano_calib>/mano.yml        betas (10)
    $ROOT/models/<ycb name>/textured_simple.obj         object mesh, object frame, m

The YAML files were written by PyYAML from Python data, so sequences that were tuples carry
a ``!!python/tuple`` tag (the ``extrinsics`` entry of the intrinsics files); they are read
with :class:`DexYCBYamlLoader`, a safe loader that accepts that tag and refuses any other.

Frames are chosen as gSDF and C2F-SDF chose theirs (they share gSDF's preprocessed lists):
the toolkit's setup/split over subjects, cameras and sorted sequence positions (s0: sequence
``i % 5 == 4`` of subjects 1-2 is val, of subjects 3-10 test, every other sequence train),
then right hands only, every 5th frame (frame index ``% 5 == 0``), a visible hand, and hand
and object in contact: some MANO vertex within 5 mm of some vertex of the grasped object
(gSDF's test-set rule; its training list is the frames it had SDF files for, made by an
unpublished step, so the same rule is used for every split here).

The hand mesh is MANO (PCA, 45 components, not flat-mean: the toolkit's settings) posed by
``pose_m`` with the sequence's ``betas``, closed at the wrist; the object mesh is the
grasped model posed by ``pose_y``. Both are in the color camera frame (m). SDF samples come
from these meshes (``c2f_sdf_ros.data.sdf_samples.sample_sdf``) and can be cached per frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
import functools
import json
import os
import pathlib
import re
import zlib

import numpy as np
from PIL import Image
from scipy.spatial import cKDTree
import torch
import trimesh
import yaml

from c2f_sdf_ros.data.labelled import LabelledFrame
from c2f_sdf_ros.data.mano import ManoLayer, load_mano_pickle
from c2f_sdf_ros.data.mesh_repair import load_watertight_mesh
from c2f_sdf_ros.data.sdf_cache import cached_sdf_samples, write_atomic
from c2f_sdf_ros.data.sdf_samples import sample_sdf
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

# The 21 YCB objects of DexYCB; object id k (in ycb_ids and seg) is YCB_CLASSES[k - 1].
YCB_CLASSES = (
    '002_master_chef_can', '003_cracker_box', '004_sugar_box', '005_tomato_soup_can',
    '006_mustard_bottle', '007_tuna_fish_can', '008_pudding_box', '009_gelatin_box',
    '010_potted_meat_can', '011_banana', '019_pitcher_base', '021_bleach_cleanser',
    '024_bowl', '025_mug', '035_power_drill', '036_wood_block', '037_scissors',
    '040_large_marker', '051_large_clamp', '052_extra_large_clamp', '061_foam_brick',
)
# The ten subjects and eight cameras in the toolkit's order: the splits index these lists.
SUBJECTS = (
    '20200709-subject-01', '20200813-subject-02', '20200820-subject-03',
    '20200903-subject-04', '20200908-subject-05', '20200918-subject-06',
    '20200928-subject-07', '20201002-subject-08', '20201015-subject-09',
    '20201022-subject-10',
)
SERIALS = (
    '836212060125', '839512060362', '840412060917', '841412060263',
    '932122060857', '932122060861', '932122061900', '932122062010',
)
IMAGE_WIDTH, IMAGE_HEIGHT = 640, 480
HAND_LABEL = 255  # seg value of hand pixels
NUM_PCA = 45
# SDF samples per frame: near each surface and uniform around the wrist (``sample_sdf``).
SDF_NEAR, SDF_UNIFORM = 1000, 200
COLOR_FILE = 'color_{:06d}.jpg'
DEPTH_FILE = 'aligned_depth_to_color_{:06d}.png'
LABEL_FILE = 'labels_{:06d}.npz'
MODEL_FILE = 'textured_simple.obj'

_SUBJECT_DIR = re.compile(r'^\d{8}-subject-(\d{2})$')
_SEQUENCE_DIR = re.compile(r'^\d{8}_\d{6}$')
_META_KEYS = ('serials', 'num_frames', 'ycb_ids', 'ycb_grasp_ind', 'mano_sides', 'mano_calib')
_LABEL_KEYS = ('pose_y', 'pose_m', 'joint_3d')
_INDEX_VERSION = 1


@dataclass(frozen=True)
class SplitRule:
    """
    Which subjects, cameras and sequences a split of a setup holds (dex-ycb-toolkit).

    Attributes
    ----------
    subjects : tuple of int
        Indices into ``SUBJECTS``.
    serials : tuple of int
        Indices into ``SERIALS``.
    sequence : callable
        ``sequence(i)`` is True when the subject's ``i``-th sequence (sorted by name)
        belongs to the split.

    """

    subjects: tuple[int, ...]
    serials: tuple[int, ...]
    sequence: Callable[[int], bool]


_ALL_SUBJECTS = tuple(range(10))
_ALL_SERIALS = tuple(range(8))


def _every_sequence(_: int) -> bool:
    return True


# The toolkit's four setups: s0 seen everything (5th take of each object held out), s1 unseen
# subjects, s2 unseen cameras, s3 unseen objects (the toolkit's sequence blocks i // 5).
SETUPS: dict[str, dict[str, SplitRule]] = {
    's0': {
        'train': SplitRule(_ALL_SUBJECTS, _ALL_SERIALS, lambda i: i % 5 != 4),
        'val': SplitRule((0, 1), _ALL_SERIALS, lambda i: i % 5 == 4),
        'test': SplitRule(tuple(range(2, 10)), _ALL_SERIALS, lambda i: i % 5 == 4),
    },
    's1': {
        'train': SplitRule((0, 1, 2, 3, 4, 5, 9), _ALL_SERIALS, _every_sequence),
        'val': SplitRule((6,), _ALL_SERIALS, _every_sequence),
        'test': SplitRule((7, 8), _ALL_SERIALS, _every_sequence),
    },
    's2': {
        'train': SplitRule(_ALL_SUBJECTS, tuple(range(6)), _every_sequence),
        'val': SplitRule(_ALL_SUBJECTS, (6,), _every_sequence),
        'test': SplitRule(_ALL_SUBJECTS, (7,), _every_sequence),
    },
    's3': {
        'train': SplitRule(_ALL_SUBJECTS, _ALL_SERIALS,
                           lambda i: i // 5 not in (3, 7, 11, 15, 19)),
        'val': SplitRule(_ALL_SUBJECTS, _ALL_SERIALS, lambda i: i // 5 in (3, 19)),
        'test': SplitRule(_ALL_SUBJECTS, _ALL_SERIALS, lambda i: i // 5 in (7, 11, 15)),
    },
}


@dataclass(frozen=True, eq=False)  # holds an array: compare by identity
class SequenceInfo:
    """
    One sequence's ``meta.yml`` and calibration, as the reader uses them.

    Attributes
    ----------
    path : pathlib.Path
        The sequence folder.
    subject, name : str
        Subject folder and sequence folder names.
    position : int
        The sequence's index among its subject's sequences sorted by name.
    serials : tuple of str
        Cameras of the sequence that belong to the split.
    num_frames : int
        Frames per camera.
    ycb_ids : tuple of int
        Objects in the scene (1-based ids into ``YCB_CLASSES``), the order of ``pose_y``.
    grasp_index : int
        Index into ``ycb_ids`` of the grasped object.
    side : str
        ``'right'`` or ``'left'``.
    betas : (10,) float64 array
        MANO shape of the subject.

    """

    path: pathlib.Path
    subject: str
    name: str
    position: int
    serials: tuple[str, ...]
    num_frames: int
    ycb_ids: tuple[int, ...]
    grasp_index: int
    side: str
    betas: np.ndarray

    @property
    def grasped_id(self) -> int:
        """YCB id (1-21) of the grasped object."""
        return self.ycb_ids[self.grasp_index]


class _RefusedTag(yaml.YAMLError):
    """A YAML tag that DexYCB's files do not use (e.g. one that would build an object)."""

    def __init__(self, tag: str, mark: yaml.Mark | None):
        line = '' if mark is None else f' (line {mark.line + 1})'
        super().__init__(f'refusing the YAML tag {tag!r}{line}: DexYCB files hold plain '
                         'YAML and !!python/tuple sequences only')


class DexYCBYamlLoader(yaml.SafeLoader):
    """
    ``yaml.SafeLoader`` plus the one Python-specific tag that DexYCB's files carry.

    The calibration files were written by PyYAML from Python tuples, so some sequences
    are tagged ``!!python/tuple`` (e.g. ``extrinsics`` of
    ``calibration/intrinsics/<serial>_640x480.yml``); they are built as tuples. Every
    other non-standard tag (``!!python/object/apply:...``, ``!!python/name:...``) raises
    an error before anything is built.
    """


def _construct_tuple(loader: DexYCBYamlLoader, node: yaml.SequenceNode) -> tuple:
    return tuple(loader.construct_sequence(node, deep=True))


def _refuse_tag(loader: DexYCBYamlLoader, node: yaml.Node):
    raise _RefusedTag(node.tag, node.start_mark)


DexYCBYamlLoader.add_constructor('tag:yaml.org,2002:python/tuple', _construct_tuple)
# The None key is PyYAML's fallback for every tag without a constructor.
DexYCBYamlLoader.add_constructor(None, _refuse_tag)


def _read_yaml(path: pathlib.Path, what: str) -> dict:
    """
    A DexYCB YAML file (``meta.yml``, calibration) read with :class:`DexYCBYamlLoader`.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        Naming the file: if it is not valid YAML, uses a tag other than plain YAML's and
        ``!!python/tuple``, or does not hold a mapping.
    """
    if not path.is_file():
        raise FileNotFoundError(f'missing DexYCB {what}: {path}')
    try:
        # A SafeLoader subclass that adds only the tuple tag: nothing here runs code.
        data = yaml.load(path.read_text(), Loader=DexYCBYamlLoader)
    except _RefusedTag as error:
        raise ValueError(f'{path}: {error}') from error
    except yaml.YAMLError as error:
        raise ValueError(f'{path}: not valid YAML ({error})') from error
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a mapping ({what})')
    return data


def read_intrinsics(root: str | os.PathLike, serial: str) -> CameraIntrinsics:
    """
    The color intrinsics of camera ``serial`` (``calibration/intrinsics/<serial>_640x480.yml``).

    Depth is aligned to color, so these are the depth image's intrinsics too. The file's
    ``depth`` entry (the depth sensor's own intrinsics) is not used, as in the toolkit.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        If it has no ``color: {fx, fy, ppx, ppy}``.

    """
    path = (pathlib.Path(root) / 'calibration' / 'intrinsics'
            / f'{serial}_{IMAGE_WIDTH}x{IMAGE_HEIGHT}.yml')
    color = _read_yaml(path, 'camera calibration').get('color')
    try:
        values = [float(color[key]) for key in ('fx', 'fy', 'ppx', 'ppy')]
    except (TypeError, KeyError, ValueError) as error:
        raise ValueError(f'{path}: expected "color: {{fx, fy, ppx, ppy}}" numbers') from error
    try:
        return CameraIntrinsics(IMAGE_WIDTH, IMAGE_HEIGHT, *values)
    except ValueError as error:
        raise ValueError(f'{path}: {error}') from error


def read_betas(root: str | os.PathLike, mano_calib: str) -> np.ndarray:
    """The (10,) MANO betas of calibration ``mano_calib`` (``calibration/mano_<it>/mano.yml``)."""
    path = pathlib.Path(root) / 'calibration' / f'mano_{mano_calib}' / 'mano.yml'
    betas = np.asarray(_read_yaml(path, 'MANO calibration').get('betas'), dtype=np.float64)
    if betas.shape != (10,) or not np.all(np.isfinite(betas)):
        raise ValueError(f'{path}: expected "betas" with 10 numbers, got shape {betas.shape}')
    return betas


def load_ycb_model(path: str | os.PathLike) -> trimesh.Trimesh:
    """
    A YCB model as a watertight mesh in its object frame (m), ready for signed distances.

    Textured OBJ files repeat vertices along texture seams, which leaves the surface open;
    ``mesh_repair.load_watertight_mesh`` merges them (texture dropped) and fills small
    holes.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        If it holds no triangles or cannot be made watertight.

    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'missing DexYCB object model: {path}')
    return load_watertight_mesh(path, 'object model')


def _cached_model(path: pathlib.Path) -> tuple[trimesh.Trimesh, cKDTree]:
    """``load_ycb_model(path)`` and a KD-tree of its vertices, parsed once per process."""
    if not path.is_file():
        load_ycb_model(path)  # raises its FileNotFoundError
    stat = path.stat()
    return _parse_model(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


# The readers of a root (train, val, test, data loader workers) share the parsed models;
# the file's time and size in the key make an edited model be read again.
@functools.lru_cache(maxsize=64)
def _parse_model(path: str, mtime_ns: int, size: int) -> tuple[trimesh.Trimesh, cKDTree]:
    mesh = load_ycb_model(path)
    return mesh, cKDTree(mesh.vertices)


def _load_labels(path: pathlib.Path,
                 keys: Sequence[str] | None = _LABEL_KEYS) -> dict[str, np.ndarray]:
    """The arrays ``keys`` (None: all) of a label file, checked; npz members load lazily."""
    if not path.is_file():
        raise FileNotFoundError(f'missing DexYCB labels: {path} (expected labels_%06d.npz '
                                'with seg, pose_y, pose_m, joint_3d, joint_2d)')
    # No pickled object arrays: a label file is plain arrays, and pickles can run code.
    with np.load(path, allow_pickle=False) as data:
        missing = [key for key in _LABEL_KEYS if key not in data.files]
        if missing:
            raise ValueError(f'{path}: labels lack {missing}')
        try:
            labels = {key: data[key] for key in (data.files if keys is None else keys)}
        except ValueError as error:
            raise ValueError(f'{path}: {error}') from error
    if labels['pose_m'].shape != (1, 51) or labels['joint_3d'].shape != (1, 21, 3):
        raise ValueError(f'{path}: expected pose_m (1, 51) and joint_3d (1, 21, 3), got '
                         f'{labels["pose_m"].shape} and {labels["joint_3d"].shape}')
    pose_y = labels['pose_y']
    if pose_y.ndim != 3 or pose_y.shape[1:] != (3, 4):
        raise ValueError(f'{path}: expected pose_y (objects, 3, 4), got {pose_y.shape}')
    return labels


def hand_visible(labels: dict[str, np.ndarray]) -> bool:
    """Whether a frame's labels hold a hand (``joint_3d`` all -1 and ``pose_m`` 0 mean none)."""
    return bool(np.any(labels['joint_3d'] != -1) and np.any(labels['pose_m'] != 0))


def _pose_matrix(pose: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3] = pose
    return matrix


class DexYCB:
    """
    DexYCB frames of one setup and split as ``LabelledFrame``s (a ``FrameSource``).

    Parameters
    ----------
    root : path
        The DexYCB folder (subject folders, ``calibration/``, ``models/``).
    split : {'train', 'val', 'test'}
        Split of ``setup``.
    mano_dir : path
        Folder holding ``MANO_RIGHT.pkl`` (and ``MANO_LEFT.pkl`` for left hands), the
        licensed model files from mano.is.tue.mpg.de. Required: hand meshes and the contact
        rule need them.
    setup : {'s0', 's1', 's2', 's3'}
        The toolkit's setup; gSDF and C2F-SDF use ``'s0'``.
    frame_stride : int
        Keep frames whose index is a multiple of this (gSDF: 5).
    contact_threshold : float or None
        Keep frames where some MANO vertex is within this distance (m) of some vertex of
        the grasped object (gSDF: 0.005); None keeps every frame with a visible hand.
    hand_sides : sequence of str
        Sequences whose ``mano_sides[0]`` is one of these are kept (gSDF: right only).
    cache_dir : path, optional
        Where to keep each frame's SDF samples (``<id with / as _>.npy``, float32) and the
        list of selected frames (``index_<setup>_<split>.json``); both are computed once.
        Delete the folder after changing ``seed`` or the MANO files.
    seed : int
        Seed of the SDF samples; frame ``i`` draws from a stream fixed by (seed, its id).
    object_center : {'pose', 'bbox'}
        ``LabelledFrame.object_center``: the object pose's translation (the model origin,
        as the synthetic data and C2F-SDF's point cropping use), or the posed centre of the
        model's bounding box (gSDF's ``obj_center_3d``).

    Attributes
    ----------
    root : pathlib.Path
        The DexYCB folder.
    ids : list of str
        Frame ids ``<subject>/<sequence>/<serial>/<frame:06d>``, sorted by sequence,
        camera and frame.
    sequences : list of SequenceInfo
        The split's sequences with hands of ``hand_sides``.

    Raises
    ------
    ValueError
        On bad arguments, if ``root`` is not a DexYCB folder, on malformed files, or if the
        split holds no frame after filtering.
    FileNotFoundError
        If a MANO file, a calibration file, a ``meta.yml``, a label file or a grasped
        object's model is missing.

    """

    def __init__(self, root: str | os.PathLike, split: str = 'train',
                 mano_dir: str | os.PathLike | None = None, setup: str = 's0',
                 frame_stride: int = 5, contact_threshold: float | None = 0.005,
                 hand_sides: Sequence[str] = ('right',),
                 cache_dir: str | os.PathLike | None = None, seed: int = 0,
                 object_center: str = 'pose'):
        if setup not in SETUPS:
            raise ValueError(f'setup must be one of {sorted(SETUPS)}, got {setup!r}')
        if split not in SETUPS[setup]:
            raise ValueError(f'split must be one of {sorted(SETUPS[setup])}, got {split!r}')
        if int(frame_stride) != frame_stride or frame_stride < 1:
            raise ValueError(f'frame_stride must be a positive integer, got {frame_stride}')
        if contact_threshold is not None and not contact_threshold > 0:
            raise ValueError(f'contact_threshold must be positive or None, got '
                             f'{contact_threshold}')
        hand_sides = tuple(hand_sides)
        if not hand_sides or any(side not in ('right', 'left') for side in hand_sides):
            raise ValueError(f"hand_sides must name 'right' and/or 'left', got {hand_sides}")
        if object_center not in ('pose', 'bbox'):
            raise ValueError(f"object_center must be 'pose' or 'bbox', got {object_center!r}")
        if mano_dir is None:
            raise ValueError('mano_dir is required: the folder holding MANO_RIGHT.pkl '
                             '(mano.is.tue.mpg.de)')
        self.root = pathlib.Path(root)
        self.split, self.setup = split, setup
        self.frame_stride = int(frame_stride)
        self.contact_threshold = contact_threshold
        self.hand_sides = hand_sides
        self.seed = int(seed)
        self.object_center = object_center
        self.cache_dir = None if cache_dir is None else pathlib.Path(cache_dir)
        subjects = self._subject_folders()

        self._mano: dict[str, ManoLayer] = {}
        for side in hand_sides:
            path = pathlib.Path(mano_dir) / f'MANO_{side.upper()}.pkl'
            if not path.is_file():
                raise FileNotFoundError(f'missing MANO model file {path}: DexYCB hand meshes '
                                        'need it (download it from mano.is.tue.mpg.de)')
            self._mano[side] = ManoLayer(load_mano_pickle(path, side), use_pca=True,
                                         num_pca=NUM_PCA, flat_hand_mean=False,
                                         dtype=torch.float64)

        self.sequences = self._sequences(subjects, SETUPS[setup][split])
        serials = sorted({serial for sequence in self.sequences for serial in sequence.serials})
        self._cameras = {serial: read_intrinsics(self.root, serial) for serial in serials}
        candidates = [(sequence, serial, frame) for sequence in self.sequences
                      for serial in sequence.serials
                      for frame in range(0, sequence.num_frames, self.frame_stride)]
        selected = self._select(candidates)
        if not selected:
            contact = ('' if contact_threshold is None else
                       f' within {contact_threshold} m of the grasped object')
            raise ValueError(
                f'the {setup} {split} split of {self.root} holds no frame: '
                f'{len(self.sequences)} sequences of {" or ".join(hand_sides)} hands, '
                f'{len(candidates)} frames at stride {self.frame_stride}, none with a visible '
                f'hand{contact}')
        self._frames = selected
        self.ids = [self._frame_id(*frame) for frame in selected]

    # ---------------------------------------------------------------------------------
    # Discovery and selection

    def _subject_folders(self) -> dict[int, pathlib.Path]:
        expectation = ('expected <YYYYMMDD>-subject-<NN> folders, calibration/ and models/ '
                       '(the DexYCB download)')
        if not self.root.is_dir():
            raise ValueError(f'{self.root} is not a DexYCB folder (not a folder): {expectation}')
        subjects = {}
        for path in sorted(self.root.iterdir()):
            match = _SUBJECT_DIR.match(path.name)
            if match and path.is_dir():
                number = int(match.group(1))
                if not 1 <= number <= len(SUBJECTS):
                    raise ValueError(f'{path}: DexYCB subjects are numbered 01-10')
                subjects[number - 1] = path
        missing = [name for name in ('calibration', 'models') if not (self.root / name).is_dir()]
        if not subjects or missing:
            found = 'no subject folders' if not subjects else f'no {" or ".join(missing)}'
            raise ValueError(f'{self.root} is not a DexYCB folder ({found}): {expectation}')
        return subjects

    def _sequences(self, subjects: dict[int, pathlib.Path],
                   rule: SplitRule) -> list[SequenceInfo]:
        serials = {SERIALS[i] for i in rule.serials}
        sequences = []
        for subject_index in sorted(subjects):
            if subject_index not in rule.subjects:
                continue
            folder = subjects[subject_index]
            # The toolkit picks a split's sequences by their position in the sorted listing.
            names = sorted(p.name for p in folder.iterdir()
                           if p.is_dir() and _SEQUENCE_DIR.match(p.name))
            for position, name in enumerate(names):
                if not rule.sequence(position):
                    continue
                info = self._sequence_info(folder / name, position, serials)
                if info.side in self.hand_sides:
                    sequences.append(info)
        return sequences

    def _sequence_info(self, path: pathlib.Path, position: int,
                       split_serials: set[str]) -> SequenceInfo:
        meta_path = path / 'meta.yml'
        meta = _read_yaml(meta_path, 'sequence meta')
        missing = [key for key in _META_KEYS if key not in meta]
        if missing:
            raise ValueError(f'{meta_path}: missing keys {missing}')
        unknown = [str(s) for s in meta['serials'] if str(s) not in SERIALS]
        if unknown:
            raise ValueError(f'{meta_path}: serials {unknown} are not DexYCB cameras {SERIALS}')
        ycb_ids = tuple(int(i) for i in meta['ycb_ids'])
        grasp_index = int(meta['ycb_grasp_ind'])
        if not ycb_ids or not all(1 <= i <= len(YCB_CLASSES) for i in ycb_ids):
            raise ValueError(f'{meta_path}: ycb_ids must be ids 1-{len(YCB_CLASSES)}, '
                             f'got {list(ycb_ids)}')
        if not 0 <= grasp_index < len(ycb_ids):
            raise ValueError(f'{meta_path}: ycb_grasp_ind {grasp_index} is not an index into '
                             f'ycb_ids {list(ycb_ids)}')
        side = str(meta['mano_sides'][0])
        if side not in ('right', 'left'):
            raise ValueError(f'{meta_path}: mano_sides[0] must be right or left, got {side!r}')
        betas = (read_betas(self.root, str(meta['mano_calib'][0]))
                 if side in self.hand_sides else np.zeros(10))
        return SequenceInfo(
            path=path, subject=path.parent.name, name=path.name, position=position,
            serials=tuple(str(s) for s in meta['serials'] if str(s) in split_serials),
            num_frames=int(meta['num_frames']), ycb_ids=ycb_ids, grasp_index=grasp_index,
            side=side, betas=betas)

    @staticmethod
    def _frame_id(sequence: SequenceInfo, serial: str, frame: int) -> str:
        return f'{sequence.subject}/{sequence.name}/{serial}/{frame:06d}'

    def _index_path(self) -> pathlib.Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f'index_{self.setup}_{self.split}.json'

    def _index_settings(self) -> dict:
        return {'version': _INDEX_VERSION, 'setup': self.setup, 'split': self.split,
                'frame_stride': self.frame_stride, 'contact_threshold': self.contact_threshold,
                'hand_sides': list(self.hand_sides)}

    def _select(self, candidates: list[tuple[SequenceInfo, str, int]]) -> list:
        """The candidates with a visible hand in contact (cached in ``cache_dir``)."""
        index_path = self._index_path()
        if index_path is not None and index_path.is_file():
            stored = json.loads(index_path.read_text())
            if stored.get('settings') == self._index_settings():
                kept = set(stored['ids'])
                return [c for c in candidates if self._frame_id(*c) in kept]
        selected = []
        # One MANO batch per camera of a sequence: its frames share side and shape.
        groups: dict[tuple[str, str], list] = {}
        for candidate in candidates:
            groups.setdefault((str(candidate[0].path), candidate[1]), []).append(candidate)
        for group in groups.values():
            selected += self._in_contact(group)
        if index_path is not None:
            write_atomic(index_path, json.dumps(
                {'settings': self._index_settings(),
                 'ids': [self._frame_id(*c) for c in selected]}).encode())
        return selected

    def _in_contact(self, group: list[tuple[SequenceInfo, str, int]]) -> list:
        sequence = group[0][0]
        visible, poses, object_poses = [], [], []
        for candidate in group:
            labels = _load_labels(self._label_path(*candidate))
            if not hand_visible(labels):
                continue
            if len(labels['pose_y']) != len(sequence.ycb_ids):
                raise ValueError(f'{self._label_path(*candidate)}: pose_y has '
                                 f'{len(labels["pose_y"])} objects, meta.yml lists '
                                 f'{len(sequence.ycb_ids)}')
            visible.append(candidate)
            poses.append(labels['pose_m'][0])
            object_poses.append(labels['pose_y'][sequence.grasp_index])
        if not visible or self.contact_threshold is None:
            return visible
        vertices = self._hand_vertices(sequence, np.stack(poses))
        tree = self._model_tree(sequence.grasped_id)
        kept = []
        for candidate, hand, pose in zip(visible, vertices, object_poses, strict=True):
            # Distances between vertex sets do not change under the rigid pose, so take the
            # hand into the object frame and query the model's vertices there.
            in_object = (hand - pose[:, 3]) @ pose[:, :3]
            # Bounded queries are fast and come back infinite beyond the (strict) bound.
            bound = np.nextafter(self.contact_threshold, np.inf)
            nearest = tree.query(in_object, distance_upper_bound=bound)[0]
            if nearest.min() <= self.contact_threshold:
                kept.append(candidate)
        return kept

    # ---------------------------------------------------------------------------------
    # Meshes

    def _hand_vertices(self, sequence: SequenceInfo, poses: np.ndarray) -> np.ndarray:
        """(B, 778, 3) MANO vertices (camera frame, m) of ``poses`` (B, 51)."""
        layer = self._mano[sequence.side]
        poses = torch.as_tensor(poses, dtype=torch.float64)
        betas = torch.as_tensor(sequence.betas, dtype=torch.float64).expand(len(poses), -1)
        with torch.no_grad():
            output = layer(poses[:, :3], poses[:, 3:3 + NUM_PCA], betas, poses[:, 48:51])
        return output.vertices.numpy()

    def _model(self, ycb_id: int) -> trimesh.Trimesh:
        """The grasped model ``ycb_id`` in its object frame (shared: copy before changing)."""
        return _cached_model(self.root / 'models' / YCB_CLASSES[ycb_id - 1] / MODEL_FILE)[0]

    def _model_tree(self, ycb_id: int) -> cKDTree:
        return _cached_model(self.root / 'models' / YCB_CLASSES[ycb_id - 1] / MODEL_FILE)[1]

    def meshes(self, index: int) -> tuple[trimesh.Trimesh, trimesh.Trimesh]:
        """
        Ground-truth hand and object meshes of frame ``index`` (camera frame, m).

        The hand is MANO closed at the wrist (watertight); the object is the grasped model,
        merged and closed as ``load_ycb_model`` does.
        """
        sequence, serial, frame = self._frames[self._check_index(index)]
        labels = _load_labels(self._label_path(sequence, serial, frame))
        layer = self._mano[sequence.side]
        vertices = torch.as_tensor(self._hand_vertices(sequence, labels['pose_m']))
        closed, faces = layer.watertight(vertices[0])
        hand = trimesh.Trimesh(closed.numpy(), faces.numpy(), process=False)
        obj = self._model(sequence.grasped_id).copy()
        obj.apply_transform(_pose_matrix(labels['pose_y'][sequence.grasp_index]))
        return hand, obj

    # ---------------------------------------------------------------------------------
    # FrameSource

    def __len__(self) -> int:
        return len(self.ids)

    def _check_index(self, index: int) -> int:
        if not -len(self.ids) <= index < len(self.ids):
            raise IndexError(f'frame index {index} out of range for {len(self.ids)} frames')
        return index % len(self.ids)

    def _label_path(self, sequence: SequenceInfo, serial: str, frame: int) -> pathlib.Path:
        return sequence.path / serial / LABEL_FILE.format(frame)

    def sequence(self, index: int) -> SequenceInfo:
        """The sequence frame ``index`` belongs to."""
        return self._frames[self._check_index(index)][0]

    def camera(self, index: int) -> CameraIntrinsics:
        """The intrinsics of frame ``index``'s camera."""
        return self._cameras[self._frames[self._check_index(index)][1]]

    def files(self, index: int) -> dict[str, pathlib.Path]:
        """Paths of frame ``index``'s ``color``, ``depth`` and ``labels`` files."""
        sequence, serial, frame = self._frames[self._check_index(index)]
        folder = sequence.path / serial
        return {'color': folder / COLOR_FILE.format(frame),
                'depth': folder / DEPTH_FILE.format(frame),
                'labels': folder / LABEL_FILE.format(frame)}

    def labels(self, index: int) -> dict[str, np.ndarray]:
        """Frame ``index``'s label arrays as stored (``seg``, ``pose_y``, ``pose_m``, ...)."""
        return _load_labels(self.files(index)['labels'], keys=None)

    def read(self, index: int) -> LabelledFrame:
        """
        Frame ``index`` with its ground truth.

        ``root`` is the wrist (``joint_3d[0]``); ``sdf`` is ``sample_sdf`` of ``meshes``
        around it, as float64 (cached as float32 in ``cache_dir``).
        """
        index = self._check_index(index)
        sequence = self._frames[index][0]
        files, camera = self.files(index), self.camera(index)
        color = _read_image(files['color'], 'color').convert('RGB')
        depth = np.asarray(_read_image(files['depth'], 'depth'))
        if depth.dtype not in (np.uint16, np.int32):
            raise ValueError(f'{files["depth"]}: expected 16-bit depth in mm, got {depth.dtype}')
        color = np.asarray(color)
        for name, image in (('color', color), ('depth', depth)):
            if image.shape[:2] != (camera.height, camera.width):
                raise ValueError(f'{files[name]}: {image.shape[1]}x{image.shape[0]} image, the '
                                 f'camera is {camera.width}x{camera.height}')
        labels = _load_labels(files['labels'])
        joints = labels['joint_3d'][0].astype(np.float64)
        pose = labels['pose_y'][sequence.grasp_index].astype(np.float64)
        if self.object_center == 'pose':
            center = pose[:, 3]
        else:
            bounds = self._model(sequence.grasped_id).bounds
            center = pose[:, :3] @ bounds.mean(axis=0) + pose[:, 3]
        return LabelledFrame(
            frame_id=self.ids[index], color=color,
            depth=depth.astype(np.float32) / np.float32(1000.0), camera=camera,
            root=joints[0].copy(), joints=joints, object_center=center,
            sdf=self.sdf(index).astype(np.float64), side=sequence.side)

    def sdf(self, index: int) -> np.ndarray:
        """
        Frame ``index``'s (2200, 5) float32 SDF samples (see ``sample_sdf``).

        Read from ``cache_dir`` when there, else computed (and stored when a cache is set)
        from a random stream fixed by ``seed`` and the frame id, so a frame's samples do not
        depend on the split or stride it was reached through.
        """
        index = self._check_index(index)
        frame_id = self.ids[index]

        def compute() -> np.ndarray:
            hand, obj = self.meshes(index)
            try:
                labels = _load_labels(self.files(index)['labels'])
                hand_root = labels['joint_3d'][0, 0].astype(np.float64)
                rng = np.random.default_rng([self.seed, zlib.crc32(frame_id.encode())])
                return sample_sdf(hand, obj, hand_root, rng, near=SDF_NEAR,
                                  uniform=SDF_UNIFORM)
            except ValueError as error:
                raise ValueError(f'{frame_id}: cannot sample SDF ({error})') from error

        path = (None if self.cache_dir is None
                else self.cache_dir / f'{frame_id.replace("/", "_")}.npy')
        return cached_sdf_samples(path, 2 * SDF_NEAR + SDF_UNIFORM, compute)


def _read_image(path: pathlib.Path, what: str) -> Image.Image:
    if not path.is_file():
        raise FileNotFoundError(f'missing DexYCB {what} image: {path}')
    image = Image.open(path)
    image.load()
    return image
