"""
A tiny DexYCB tree in the official on-disk format, made from the bundled synthetic frames.

DexYCB itself is licensed and large; this writes ten sequences of three frames each (two
subjects, one camera per sequence) with every file the reader and the dex-ycb-toolkit
open: ``color_%06d.jpg``, ``aligned_depth_to_color_%06d.png`` (uint16 mm),
``labels_%06d.npz`` (seg, pose_y, pose_m, joint_3d, joint_2d), ``meta.yml``, the camera
intrinsics, MANO betas and extrinsics under ``calibration/``, and the object models under
``models/<ycb name>/textured_simple.obj`` (object frame, m). The YAML files are written as
PyYAML wrote the release's: tuples tagged ``!!python/tuple`` (the intrinsics files'
``extrinsics`` entry), everything else plain.

Each sequence shows one synthetic frame. The bundled frames hold left hands, so right-hand
sequences show them mirrored (image flipped left-right, x negated in 3D, principal point
mirrored): a real right hand then, not a relabelled left one. The objects become YCB
models by shape (cylinder -> master chef can, mug -> mug, bottle -> mustard bottle); the
mirrored and the plain version of a shape are different models, since a model is fixed
per YCB id. A second, far-away object makes ``ycb_grasp_ind`` matter.

``pose_m`` is a MANO pose of the (stand-in) MANO model whose wrist sits at the synthetic
wrist, whose knuckles point along the synthetic ones, and that comes within 3 mm of the
object (slid towards it, wrist and all, when it does not by itself). ``joint_3d`` holds
the synthetic joints, ``joint_2d`` their projection.

The sequence table (``SEQUENCES``) says what each sequence is and where the toolkit's s0
setup puts it; some frames have no hand annotation, or the grasped object moved away
(no contact), to exercise the reader's filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import io
import pathlib

import numpy as np
from PIL import Image
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation
import torch
import trimesh
import yaml

from c2f_sdf_ros.data.dexycb import (
    HAND_LABEL,
    SERIALS,
    YCB_CLASSES,
)
from c2f_sdf_ros.data.mano import ManoLayer, load_mano_pickle
from c2f_sdf_ros.data.synth_folder import SynthFolder
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from helpers.mano_fixture import write_mano_fixture

SAMPLE_DIR = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'sample'
NUM_FRAMES = 3
# Cameras: mirrored views get their own serial, since mirroring moves the principal point.
PLAIN_SERIAL, MIRRORED_SERIAL = SERIALS[1], SERIALS[0]
# YCB id of the model made from synthetic frame k, plain or mirrored.
MODEL_IDS = {(0, False): 4, (1, False): 13, (2, False): 12,
             (0, True): 1, (1, True): 14, (2, True): 5}
# Where the non-grasped object stands: out of view (x / z = 2 puts it far right of the image).
DISTRACTOR_POSE = np.array([[1.0, 0.0, 0.0, 2.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
# How far the grasped object moves in a "no contact" frame (m).
NO_CONTACT_SHIFT = np.array([0.5, 0.0, 0.0])
EXTRINSICS_NAME = '20200101_000000'
# Gap (m) the stand-in hand is slid to when it does not touch the object by itself.
CONTACT_GAP = 0.002

# Synthetic labels (docs/data-format.md): 0 background, 1 hand, 2 object.
SYNTH_HAND, SYNTH_OBJECT = 1, 2


@dataclass(frozen=True)
class FixtureSequence:
    """
    One sequence folder the fixture writes, and what the reader must make of it.

    ``split`` is written down rather than computed, so that the reader's split is checked
    against the toolkit's rule and not against a copy of its own; the frames in
    ``no_hand`` and ``no_contact`` are written without a hand, or with the object away.

    Attributes
    ----------
    subject : str
        Subject folder (official name: the reader takes the subject index from it).
    name : str
        Sequence folder; its sorted position among the subject's decides the split.
    source : int
        Index of the synthetic frame it shows.
    side : str
        Hand side (``mano_sides``).
    split : str
        Where the toolkit's s0 setup puts it (written by hand, not computed).
    grasp_index : int
        ``ycb_grasp_ind``: position of the grasped object in ``ycb_ids``.
    no_hand : tuple of int
        Frames without a hand annotation (joint_3d -1, pose_m 0).
    no_contact : tuple of int
        Frames whose grasped object moved out of the hand's reach.

    """

    subject: str
    name: str
    source: int
    side: str
    split: str
    grasp_index: int = 0
    no_hand: tuple[int, ...] = ()
    no_contact: tuple[int, ...] = ()


_S01, _S03 = '20200709-subject-01', '20200820-subject-03'
# s0: sequence positions 0-3 are train; position 4 is val for subjects 01-02, test for 03-10.
SEQUENCES = (
    FixtureSequence(_S01, '20200709_141754', 0, 'right', 'train'),
    FixtureSequence(_S01, '20200709_141841', 1, 'left', 'train'),
    FixtureSequence(_S01, '20200709_141931', 2, 'right', 'train', 1, no_hand=(1,)),
    FixtureSequence(_S01, '20200709_142022', 1, 'right', 'train', 1),
    FixtureSequence(_S01, '20200709_142123', 2, 'right', 'val'),
    FixtureSequence(_S03, '20200820_135508', 1, 'right', 'train', no_contact=(2,)),
    FixtureSequence(_S03, '20200820_135606', 0, 'left', 'train'),
    FixtureSequence(_S03, '20200820_135703', 2, 'right', 'train', 1),
    FixtureSequence(_S03, '20200820_135810', 0, 'right', 'train'),
    FixtureSequence(_S03, '20200820_135907', 0, 'right', 'test', 1),
)


@dataclass(frozen=True)
class FixtureFrame:
    """One written frame: its DexYCB id and where it came from."""

    id: str
    sequence: FixtureSequence
    frame: int
    serial: str
    mirrored: bool
    grasped_id: int

    @property
    def hand_visible(self) -> bool:
        """Whether the frame has a hand annotation."""
        return self.frame not in self.sequence.no_hand

    @property
    def in_contact(self) -> bool:
        """Whether the grasped object is where the synthetic frame has it (in the hand)."""
        return self.frame not in self.sequence.no_contact


@dataclass(frozen=True)
class DexYCBFixture:
    """What ``write_dexycb_fixture`` wrote."""

    root: pathlib.Path
    mano_dir: pathlib.Path
    frames_dir: pathlib.Path
    frames: tuple[FixtureFrame, ...] = field(repr=False)

    def expected_ids(self, split: str, frame_stride: int = 1,
                     sides: tuple[str, ...] = ('right',)) -> list[str]:
        """Ids the s0 reader should select (visible hand in contact), in reading order."""
        return sorted(f.id for f in self.frames
                      if f.sequence.split == split and f.sequence.side in sides
                      and f.frame % frame_stride == 0 and f.hand_visible and f.in_contact)

    def frame(self, frame_id: str) -> FixtureFrame:
        """The written frame ``frame_id``."""
        return next(f for f in self.frames if f.id == frame_id)


@dataclass(frozen=True)
class SyntheticView:
    """A synthetic frame, mirrored left-right or not (camera frame, m)."""

    color: np.ndarray            # (H, W, 3) uint8
    depth_mm: np.ndarray         # (H, W) uint16
    mask: np.ndarray             # (H, W) uint8, synthetic labels
    camera: CameraIntrinsics
    joints: np.ndarray           # (21, 3)
    camera_T_object: np.ndarray  # (4, 4)
    object_mesh: trimesh.Trimesh
    side: str


def synthetic_view(frames_dir: str | pathlib.Path, index: int, mirrored: bool) -> SyntheticView:
    """
    Synthetic frame ``index`` of ``frames_dir``, optionally mirrored left-right.

    Mirroring negates x in the camera frame: pixel u goes to W - 1 - u exactly when the
    principal point goes to W - 1 - cx; the object pose becomes F T F (F = diag(-1, 1, 1)),
    still a rotation, with the object model mirrored in its own frame.
    """
    folder = SynthFolder(frames_dir)
    frame_id, meta = folder.ids[index], folder.meta(index)
    cam = meta['camera']
    K = np.array(cam['K'], dtype=np.float64)
    color = np.asarray(Image.open(folder.root / 'color' / f'{frame_id}.png').convert('RGB'))
    depth = np.asarray(Image.open(folder.root / 'depth' / f'{frame_id}.png')).astype(np.uint16)
    mask = np.asarray(Image.open(folder.root / 'mask' / f'{frame_id}.png'))
    joints = np.array(meta['joints_3d'], dtype=np.float64)
    pose = np.array(meta['camera_T_object'], dtype=np.float64)
    mesh = trimesh.load(folder.mesh_paths(index)[1], force='mesh', process=False)
    side = meta['hand_side']
    if mirrored:
        negate_x = np.array([-1.0, 1.0, 1.0])
        flip = np.diag([*negate_x, 1.0])
        color, depth, mask = color[:, ::-1], depth[:, ::-1], mask[:, ::-1]
        K[0, 2] = cam['width'] - 1 - K[0, 2]
        joints = joints * negate_x
        pose = flip @ pose @ flip
        # A reflection turns the surface inside out: reverse the winding to keep it outward.
        mesh = trimesh.Trimesh(mesh.vertices * negate_x, mesh.faces[:, ::-1], process=False)
        side = 'right' if side == 'left' else 'left'
    camera = CameraIntrinsics.from_matrix(K, cam['width'], cam['height'])
    return SyntheticView(np.ascontiguousarray(color), np.ascontiguousarray(depth),
                         np.ascontiguousarray(mask), camera, joints, pose, mesh, side)


def fit_mano_pose(layer: ManoLayer, betas: np.ndarray, joints: np.ndarray,
                  object_vertices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """
    A ``pose_m`` row (51,) placing the MANO hand on the synthetic one, touching the object.

    Global rotation: the best fit of MANO's rest wrist-to-knuckle vectors onto the
    synthetic ones; finger pose: small random PCA coefficients; translation: puts the wrist
    on the synthetic wrist, then, if the hand does not come within a few millimetres of the
    object, slides it until its nearest vertex is ``CONTACT_GAP`` away.
    """
    def as_row(values):
        return torch.as_tensor(np.asarray(values)[None], dtype=torch.float64)

    def forward(rotvec, pca, transl):
        with torch.no_grad():
            output = layer(as_row(rotvec), as_row(pca), as_row(betas), as_row(transl))
        return output.vertices[0].numpy(), output.joints[0].numpy()

    knuckles = [0, 5, 9, 13, 17]  # wrist and the four finger MCPs (thumb excluded)
    _, rest = forward(np.zeros(3), np.zeros(45), np.zeros(3))
    rotation, _ = Rotation.align_vectors(joints[knuckles] - joints[0],
                                         rest[knuckles] - rest[0])
    rotvec, pca = rotation.as_rotvec(), rng.normal(0.0, 0.2, 45)
    vertices, posed = forward(rotvec, pca, np.zeros(3))
    transl = joints[0] - posed[0]
    # A translation moves every vertex alike: bringing the nearest pair to CONTACT_GAP
    # leaves no pair farther apart than that.
    distances, nearest = cKDTree(object_vertices).query(vertices + transl)
    closest = int(np.argmin(distances))
    if distances[closest] > CONTACT_GAP + 1e-3:
        offset = object_vertices[nearest[closest]] - (vertices[closest] + transl)
        transl = transl + offset * (1.0 - CONTACT_GAP / distances[closest])
    return np.concatenate([rotvec, pca, transl])


class _PyYamlDumper(yaml.SafeDumper):
    """
    Writes tuples as PyYAML's default dumper does (``!!python/tuple``), as in DexYCB.

    The release's files were dumped by PyYAML from Python data; only tuples come out with
    a Python-specific tag, so only they get one here.
    """


def _represent_tuple(dumper: _PyYamlDumper, data: tuple) -> yaml.SequenceNode:
    return dumper.represent_sequence('tag:yaml.org,2002:python/tuple', data)


_PyYamlDumper.add_representer(tuple, _represent_tuple)


def _write_yaml(path: pathlib.Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(data, Dumper=_PyYamlDumper, sort_keys=False))


def _write_obj(path: pathlib.Path, mesh: trimesh.Trimesh) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    vertices = np.asarray(mesh.vertices, np.float64)
    faces = np.asarray(mesh.faces, np.int64) + 1  # OBJ indices are 1-based
    # One %-format over all rows: far faster than a Python loop over them.
    text = (('v %.9f %.9f %.9f\n' * len(vertices)) % tuple(vertices.ravel())
            + ('f %d %d %d\n' * len(faces)) % tuple(faces.ravel()))
    path.write_text(text)


def _intrinsics_entry(camera: CameraIntrinsics) -> dict:
    return {'fx': camera.fx, 'fy': camera.fy, 'ppx': camera.cx, 'ppy': camera.cy}


def write_dexycb_fixture(out_root: str | pathlib.Path, frames_dir: str | pathlib.Path = SAMPLE_DIR,
                         mano_dir: str | pathlib.Path | None = None,
                         seed: int = 0) -> DexYCBFixture:
    """
    Write the fixture DexYCB tree.

    Parameters
    ----------
    out_root : path
        The DexYCB root to write (created).
    frames_dir : path
        A synthetic folder with at least three 640x480 frames of one camera.
    mano_dir : path, optional
        Folder of ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``; stand-ins are written there when
        missing. Default: ``<out_root>_mano`` beside the tree (not inside it: DexYCB has
        no MANO files).
    seed : int
        Seed of the betas and finger poses.

    Returns
    -------
    DexYCBFixture
        The paths and, per frame, its id, source and expected filtering.

    """
    root = pathlib.Path(out_root)
    frames_dir = pathlib.Path(frames_dir)
    mano_dir = (root.parent / f'{root.name}_mano' if mano_dir is None
                else pathlib.Path(mano_dir))
    mano_dir.mkdir(parents=True, exist_ok=True)
    layers = {}
    for side in ('right', 'left'):
        path = mano_dir / f'MANO_{side.upper()}.pkl'
        if not path.is_file():
            write_mano_fixture(path, side, seed=seed)
        layers[side] = ManoLayer(load_mano_pickle(path, side), dtype=torch.float64)

    views = {}
    for source, mirrored in MODEL_IDS:
        view = synthetic_view(frames_dir, source, mirrored)
        if view.camera.size != (640, 480):
            raise ValueError(f'{frames_dir}: DexYCB frames are 640x480, frame {source} is '
                             f'{view.camera.size}')
        views[source, mirrored] = view
    # Frames of a sequence share their images: encode each view once.
    images = {key: _encoded_images(view) for key, view in views.items()}
    rng = np.random.default_rng(seed)

    # Calibration: one camera per mirroring state; all views of a state must share it.
    for mirrored, serial in ((False, PLAIN_SERIAL), (True, MIRRORED_SERIAL)):
        cameras = {views[key].camera for key in views if key[1] == mirrored}
        if len(cameras) != 1:
            raise ValueError(f'{frames_dir}: the fixture needs frames of one camera')
        entry = _intrinsics_entry(cameras.pop())
        # As in the release, an "extrinsics" sequence dumped from a tuple (unused by the
        # reader); the other calibration files and meta.yml hold plain lists.
        _write_yaml(root / 'calibration' / 'intrinsics' / f'{serial}_640x480.yml',
                    {'color': entry, 'depth': dict(entry),
                     'extrinsics': tuple(np.eye(4)[:3].ravel().tolist())})
    identity = np.eye(4)[:3].ravel().tolist()
    _write_yaml(root / 'calibration' / f'extrinsics_{EXTRINSICS_NAME}' / 'extrinsics.yml',
                {'extrinsics': {PLAIN_SERIAL: identity, MIRRORED_SERIAL: identity,
                                'apriltag': identity}, 'master': PLAIN_SERIAL})

    # Models in their object frames.
    for key, ycb_id in MODEL_IDS.items():
        view = views[key]
        model = view.object_mesh.copy()
        model.apply_transform(np.linalg.inv(view.camera_T_object))
        _write_obj(root / 'models' / YCB_CLASSES[ycb_id - 1] / 'textured_simple.obj', model)

    betas = {}
    frames = []
    for sequence in SEQUENCES:
        view_key = (sequence.source, views[sequence.source, False].side != sequence.side)
        view, mirrored = views[view_key], view_key[1]
        serial = MIRRORED_SERIAL if mirrored else PLAIN_SERIAL
        grasped = MODEL_IDS[view_key]
        distractor = MODEL_IDS[(sequence.source + 1) % 3, mirrored]
        ycb_ids = [distractor, distractor]
        ycb_ids[sequence.grasp_index] = grasped
        calib = f'{sequence.subject}_{sequence.side}'
        if calib not in betas:
            betas[calib] = rng.normal(0.0, 0.5, 10)
            _write_yaml(root / 'calibration' / f'mano_{calib}' / 'mano.yml',
                        {'betas': betas[calib].tolist()})
        folder = root / sequence.subject / sequence.name
        _write_yaml(folder / 'meta.yml', {
            'serials': [serial], 'num_frames': NUM_FRAMES, 'ycb_ids': ycb_ids,
            'ycb_grasp_ind': sequence.grasp_index, 'mano_sides': [sequence.side],
            'mano_calib': [calib], 'extrinsics': EXTRINSICS_NAME})
        pose_m = fit_mano_pose(layers[sequence.side], betas[calib], view.joints,
                               view.object_mesh.vertices, rng)
        joints_2d = view.camera.project(view.joints)
        (folder / serial).mkdir(parents=True, exist_ok=True)
        for frame in range(NUM_FRAMES):
            _write_frame(folder / serial, frame, sequence, view, images[view_key], pose_m,
                         joints_2d, grasped)
            frames.append(FixtureFrame(f'{sequence.subject}/{sequence.name}/{serial}/'
                                       f'{frame:06d}', sequence, frame, serial, mirrored,
                                       grasped))
    return DexYCBFixture(root, mano_dir, frames_dir, tuple(frames))


def _encoded_images(view: SyntheticView) -> tuple[bytes, bytes]:
    """The view's color as JPEG (quality 95) and depth as 16-bit PNG."""
    color, depth = io.BytesIO(), io.BytesIO()
    Image.fromarray(view.color).save(color, format='JPEG', quality=95)
    # Fast zlib level: the fixture is rewritten for every test session.
    Image.fromarray(view.depth_mm).save(depth, format='PNG', compress_level=1)
    return color.getvalue(), depth.getvalue()


def _write_frame(folder: pathlib.Path, frame: int, sequence: FixtureSequence,
                 view: SyntheticView, images: tuple[bytes, bytes], pose_m: np.ndarray,
                 joints_2d: np.ndarray, grasped_id: int) -> None:
    (folder / f'color_{frame:06d}.jpg').write_bytes(images[0])
    (folder / f'aligned_depth_to_color_{frame:06d}.png').write_bytes(images[1])
    seg = np.zeros(view.mask.shape, np.uint8)
    seg[view.mask == SYNTH_OBJECT] = grasped_id
    seg[view.mask == SYNTH_HAND] = HAND_LABEL
    grasped_pose = view.camera_T_object[:3].copy()
    if frame in sequence.no_contact:
        grasped_pose[:, 3] += NO_CONTACT_SHIFT
    pose_y = np.stack([DISTRACTOR_POSE, DISTRACTOR_POSE])
    pose_y[sequence.grasp_index] = grasped_pose
    joint_3d, joint_2d, pose = view.joints[None], joints_2d[None], pose_m[None]
    if frame in sequence.no_hand:
        # DexYCB's convention for a frame without a hand annotation.
        joint_3d, joint_2d = np.full((1, 21, 3), -1.0), np.full((1, 21, 2), -1.0)
        pose = np.zeros((1, 51))
        seg[seg == HAND_LABEL] = 0
    np.savez_compressed(folder / f'labels_{frame:06d}.npz', seg=seg,
                        pose_y=pose_y.astype(np.float32), pose_m=pose.astype(np.float32),
                        joint_3d=joint_3d.astype(np.float32),
                        joint_2d=joint_2d.astype(np.float32))
