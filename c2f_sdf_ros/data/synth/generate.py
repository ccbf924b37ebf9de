"""
Synthetic RGB-D frames of a hand grasping an object, with exact ground truth.

Each frame is made from its own random stream (seed, split, index), so frames are
independent, reproducible one by one, split by seed, and the same whatever the number of
worker processes. The on-disk layout is in docs/data-format.md.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import multiprocessing
import os
import pathlib

import numpy as np
from PIL import Image
import trimesh

from c2f_sdf_ros.data.frame_folder import RgbdFrame, write_camera, write_frame
from c2f_sdf_ros.data.sdf_samples import SDF_COLUMNS, near_surface_points
from c2f_sdf_ros.data.synth import sdf
from c2f_sdf_ros.data.synth.gltf_hand import HandRig, SkinSdf, load_rig, resolve_hand_file
from c2f_sdf_ros.data.synth.grasp import (
    CONTACT_DISTANCE,
    MAX_PENETRATION,
    check_contacts,
    sample_grasp,
)
from c2f_sdf_ros.data.synth.hand import SIDES, hand_mesh, hand_sdf, sample_hand_shape
from c2f_sdf_ros.data.synth.mano_hand import load_mano_rig, resolve_mano_file
from c2f_sdf_ros.data.synth.objects import object_mesh, sample_object
from c2f_sdf_ros.data.synth.render import (
    CAMERA_PRESETS,
    LABEL_BACKGROUND,
    LABEL_HAND,
    LABEL_OBJECT,
    SceneMesh,
    UvTexture,
    apply_depth_sensor,
    look_at,
    render,
)

FORMAT_VERSION = 1
SPLITS = ('train', 'val', 'test')
# Signed-distance samples per frame: this many near each surface, half inside and half
# outside it (as the reference training uses), plus uniform ones around the hand.
SDF_NEAR_SAMPLES = 1000
SDF_UNIFORM_SAMPLES = 200
# Skin tones (linear RGB albedo), light to dark.
SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.91, 0.72, 0.60], [0.82, 0.62, 0.49],
                       [0.67, 0.48, 0.36], [0.50, 0.35, 0.25], [0.34, 0.24, 0.17]])
# zlib level of the written PNGs: fast, files ~20 % larger than the default level.
PNG_COMPRESS_LEVEL = 1
# Rigged hand models by their 'kind:PATH' kind: what checks a PATH, and what loads its rig.
RIG_KINDS = {'gltf': (resolve_hand_file, load_rig), 'mano': (resolve_mano_file, load_mano_rig)}
_MIN_VISIBLE = {'hand': 0.003, 'object': 0.001}  # fraction of image pixels


@dataclass(frozen=True)
class SynthConfig:
    """
    The scene settings a dataset keeps fixed; each frame's own random stream does the rest.

    ``c2f-sdf synth`` sets ``camera``, ``max_distractors`` and ``hand_model`` from its
    options of those names. The hand, the object, its grasp, the lighting and the camera
    pose within ``distance`` are drawn per frame (``frame_rng``).

    Attributes
    ----------
    camera : str
        A key of ``CAMERA_PRESETS``, or 'mixed' for a random preset per frame.
    voxel : float
        Marching-cubes voxel of the hand and object meshes (m).
    max_distractors : int
        Up to this many other objects stand on the table (0-3).
    distance : tuple of float
        Camera distance to the grasp (m).
    hand_model : str
        'procedural' (``hand.py``), 'gltf:PATH', a rigged hand mesh (``gltf_hand.py``;
        PATH a .gltf / .glb file or a folder holding a right-hand one), or 'mano:PATH', a
        MANO model file (``mano_hand.py``; PATH ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` or
        their folder).

    """

    camera: str = 'd435_640x480'
    voxel: float = 0.002
    max_distractors: int = 3
    distance: tuple = (0.35, 1.0)
    hand_model: str = 'procedural'

    def __post_init__(self):
        if self.camera != 'mixed' and self.camera not in CAMERA_PRESETS:
            raise ValueError(f'camera must be mixed or one of {", ".join(CAMERA_PRESETS)}; '
                             f'got {self.camera!r}')
        if not 0.0005 <= self.voxel <= 0.01:
            raise ValueError(f'voxel must be in [0.0005, 0.01] m, got {self.voxel}')
        if not 0 <= self.max_distractors <= 3:
            raise ValueError(f'max_distractors must be 0-3, got {self.max_distractors}')
        if self.hand_model != 'procedural':
            kind, path = rig_kind(self.hand_model)
            RIG_KINDS[kind][0](path)  # a bad path fails here, not in a worker


def rig_kind(hand_model: str) -> tuple[str, str]:
    """
    The kind (a ``RIG_KINDS`` key) and PATH of a rigged ``SynthConfig.hand_model``.

    Raises
    ------
    ValueError
        Unless ``hand_model`` is 'gltf:PATH' or 'mano:PATH' with a PATH.

    """
    kind, _, path = hand_model.partition(':')
    if kind not in RIG_KINDS or not path:
        raise ValueError(f"hand_model must be 'procedural', 'gltf:PATH' or 'mano:PATH', got "
                         f'{hand_model!r}')
    return kind, path


def load_hand_rig(hand_model: str) -> HandRig | None:
    """
    The rig a ``SynthConfig.hand_model`` names (cached by its loader), None for procedural.

    Raises
    ------
    ValueError
        As ``rig_kind`` and the kind's loader.

    """
    if hand_model == 'procedural':
        return None
    kind, path = rig_kind(hand_model)
    return RIG_KINDS[kind][1](path)


@dataclass(frozen=True, eq=False)
class SynthFrame:
    """One generated frame and its ground truth (camera optical frame, metres)."""

    rgbd: RgbdFrame
    depth_clean: np.ndarray
    mask: np.ndarray
    hand_mesh: trimesh.Trimesh
    object_mesh: trimesh.Trimesh
    sdf_samples: np.ndarray
    meta: dict


def frame_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of frame ``index`` of ``split`` for ``seed``."""
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS.index(split), index]))


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _transform(rotation: np.ndarray, translation) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = rotation
    t[:3, 3] = translation
    return t


def _object_albedo(rng: np.random.Generator, vertices: np.ndarray) -> np.ndarray:
    """Per-vertex colours: solid, stripes or checker in the object's own frame."""
    colors = rng.uniform(0.05, 0.95, (2, 3))
    pattern = rng.choice(['solid', 'stripes', 'checker', 'band'])
    if pattern == 'solid':
        which = np.zeros(len(vertices), bool)
    elif pattern == 'stripes':
        period = rng.uniform(0.01, 0.03)
        which = np.floor(vertices[:, 2] / period).astype(int) % 2 == 1
    elif pattern == 'checker':
        cell = rng.uniform(0.01, 0.025)
        which = np.floor(vertices / cell).astype(int).sum(axis=1) % 2 == 1
    else:
        low, high = np.sort(rng.uniform(vertices[:, 2].min(), vertices[:, 2].max(), 2))
        which = (vertices[:, 2] > low) & (vertices[:, 2] < high)
    return np.where(which[:, None], colors[1], colors[0])


def _table_albedo(rng: np.random.Generator):
    base = rng.uniform(0.25, 0.9, 3) * (rng.uniform(0.5, 1.0) if rng.random() < 0.5 else 1.0)
    grain = rng.uniform(0.0, 0.15)
    frequency = rng.uniform(20.0, 80.0)
    phase = rng.uniform(0, 2 * np.pi)

    def albedo(points: np.ndarray) -> np.ndarray:
        wave = np.sin(frequency * points[:, 0] + 3.0 * np.sin(7.0 * points[:, 1]) + phase)
        return np.clip(base[None] * (1.0 + grain * wave[:, None]), 0.0, 1.0)

    return albedo


def _sdf_samples(rng, hand_mesh_cam, object_mesh_cam, hand_fn, object_fn, root):
    """(N, 5) float32 samples [x, y, z, sdf_hand, sdf_object], camera frame."""
    # The analytic distances are exact where the marching-cubes meshes are approximations.
    near_hand = near_surface_points(hand_mesh_cam, hand_fn, SDF_NEAR_SAMPLES, rng)
    near_object = near_surface_points(object_mesh_cam, object_fn, SDF_NEAR_SAMPLES, rng)
    uniform = root + rng.uniform(-0.15, 0.15, (SDF_UNIFORM_SAMPLES, 3))
    points = np.concatenate([near_hand, near_object, uniform])
    return np.column_stack([points, hand_fn(points), object_fn(points)]).astype(np.float32)


def _place_distractors(rng, count, table_z, center, keep_out, voxel):
    """Objects standing on the table around ``center``, clear of radius ``keep_out``."""
    meshes, families, placed = [], [], []
    for _ in range(count):
        shape = sample_object(rng)
        mesh = object_mesh(shape, voxel=max(voxel, 0.004))
        yaw = _rotation(np.array([0.0, 0.0, 1.0]), rng.uniform(0, 2 * np.pi))
        radius = float(np.linalg.norm(shape.half_extent()[:2]))
        for _ in range(10):
            angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(0.12, 0.45)
            xy = center[:2] + distance * np.array([np.cos(angle), np.sin(angle)])
            if distance - radius < keep_out:
                continue
            if all(np.linalg.norm(xy - p) > radius + r for p, r in placed):
                z = table_z + shape.half_extent()[2]
                mesh = mesh.copy()
                mesh.apply_transform(_transform(yaw, [xy[0], xy[1], z]))
                meshes.append(mesh)
                families.append(shape.family)
                placed.append((xy, radius))
                break
    return meshes, families


@dataclass(frozen=True, eq=False)
class _Hand:
    """A frame's hand in its own frame: skin, joints, and a rigged hand's UVs."""

    mesh: trimesh.Trimesh
    joints: np.ndarray
    corner_uvs: np.ndarray | None = None


def _forearm(rng, rig: HandRig, hand_shape, shape, object_T_hand, world_T_hand):
    """
    A forearm for a rig's hand (sleeved half of the time), hand frame: (meshes, sleeved).

    Of six wrist bends, the one clear of the object whose forearm lies highest above the
    table: arms reach a table's objects from above (and one pointing down would go into
    the table). None clear: no forearm.
    """
    sleeve = (rng.uniform(0.02, 0.08), rng.uniform(1.2, 1.5)) if rng.random() < 0.5 else None
    length, widening = rng.uniform(0.22, 0.3), rng.uniform(1.1, 1.3)
    best, height = (), -np.inf
    for _ in range(6):
        meshes = rig.forearm(hand_shape, flexion=rng.uniform(-0.5, 0.5),
                             deviation=rng.uniform(-0.3, 0.3), length=length,
                             widening=widening, sleeve=sleeve)
        points = np.concatenate([m.vertices for m in meshes])
        if shape.sdf(sdf.apply(object_T_hand, points)).min() <= 0.0:
            continue
        mean_z = float(sdf.apply(world_T_hand, meshes[0].vertices)[:, 2].mean())
        if mean_z > height:
            best, height = tuple(meshes), mean_z
    return best, bool(best) and sleeve is not None


def _grasped_object(rng, config, rig: HandRig | None = None):
    """
    Sample an object and a grasp of it, checked on the final meshes.

    The grasp search checks the skin primitives (for a rig, ones measured on its skin);
    the skin mesh differs a little (the smooth unions' blends, the rig's real shape), so
    the grasp is accepted only if the mesh too touches the object and penetrates it by at
    most ``MAX_PENETRATION``.
    """
    if rig is None:
        hand_shape = sample_hand_shape(rng)
    else:
        hand_shape = rig.hand_shape(SIDES[int(rng.integers(2))], float(rng.uniform(0.85, 1.15)))
    for _ in range(8):
        shape = sample_object(rng)
        voxel = float(np.clip(shape.largest_dimension() / 100, config.voxel, 1.5 * config.voxel))
        mesh = object_mesh(shape, voxel=voxel)
        long_axis = np.eye(3)[int(np.argmax(shape.half_extent()))]
        for _ in range(3):
            grasp = sample_grasp(rng, hand_shape, shape.sdf, mesh.vertices,
                                 mesh.vertex_normals, long_axis=long_axis)
            if grasp is None:
                break
            if rig is None:
                hand = _Hand(hand_mesh(grasp.skeleton, voxel=config.voxel),
                             grasp.skeleton.joints)
            else:
                posed = rig.pose(hand_shape, grasp.pose)
                hand = _Hand(posed.mesh, posed.joints, posed.corner_uvs)
            on_skin = shape.sdf(sdf.apply(grasp.object_T_hand, hand.mesh.vertices))
            if -on_skin.min() <= MAX_PENETRATION and on_skin.min() <= CONTACT_DISTANCE:
                return hand_shape, shape, mesh, grasp, hand
    raise RuntimeError('no grasp found for 8 objects in a row')


def generate_frame(seed: int, split: str, index: int,
                   config: SynthConfig = SynthConfig()) -> SynthFrame:
    """Generate frame ``index`` of ``split`` (see module docstring)."""
    rng = frame_rng(seed, split, index)
    rig = load_hand_rig(config.hand_model)
    hand_shape, shape, object_mesh_local, grasp, hand = _grasped_object(rng, config, rig)
    hand_mesh_local = hand.mesh

    # World: z up. The object stands roughly upright or is tilted in the hand.
    tilt = rng.uniform(0.0, 0.35) if rng.random() < 0.6 else rng.uniform(0.0, np.pi)
    rotation = (_rotation(np.array([0.0, 0.0, 1.0]), rng.uniform(0, 2 * np.pi))
                @ _rotation(rng.normal(size=3) * [1, 1, 0] + [1e-9, 0, 0], tilt))
    world_T_object = _transform(rotation, [0.0, 0.0, 0.0])
    world_T_hand = world_T_object @ grasp.object_T_hand
    hand_world = hand_mesh_local.copy().apply_transform(world_T_hand)
    object_world = object_mesh_local.copy().apply_transform(world_T_object)
    # Rendering only: the forearm, then the sleeve if any.
    forearm, sleeve = ((), False) if rig is None else _forearm(
        rng, rig, hand_shape, shape, grasp.object_T_hand, world_T_hand)
    forearm_world = [m.copy().apply_transform(world_T_hand) for m in forearm]
    lowest = min(hand_world.vertices[:, 2].min(), object_world.vertices[:, 2].min(),
                 *(m.vertices[:, 2].min() for m in forearm_world))
    lift = 0.0 if rng.random() < 0.3 else rng.uniform(0.02, 0.2)
    table_z = lowest - lift
    joints_world = sdf.apply(world_T_hand, hand.joints)
    center = 0.5 * (joints_world.mean(axis=0) + world_T_object[:3, 3])
    keep_out = 0.5 * np.ptp(np.concatenate([hand_world.vertices, object_world.vertices])[:, :2],
                            axis=0).max()
    distractors, distractor_families = _place_distractors(
        rng, int(rng.integers(config.max_distractors + 1)), table_z, center, keep_out,
        config.voxel)
    table = trimesh.creation.box(extents=(1.6, 1.6, 0.02))
    table.apply_translation([center[0], center[1], table_z - 0.01])

    camera_name = (str(rng.choice(sorted(CAMERA_PRESETS))) if config.camera == 'mixed'
                   else config.camera)
    camera = CAMERA_PRESETS[camera_name]
    skin = np.clip(SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.08, 3), 0, 1)
    hand_albedo = np.clip(skin + rng.normal(0.0, 0.015, (len(hand_world.vertices), 3)), 0, 1)
    arm_albedo = tuple(skin)
    textured = rig.skin_texture(skin) if rig is not None else None
    if textured is not None:
        # The texture's own shading (palm, creases, nails), tinted to the drawn tone.
        image, tint, arm_albedo = textured
        hand_albedo = UvTexture(image, hand.corner_uvs, tint)
    scene = [SceneMesh(hand_world, LABEL_HAND, hand_albedo, smooth=rig is not None),
             SceneMesh(object_world, LABEL_OBJECT,
                       _object_albedo(rng, object_mesh_local.vertices)),
             SceneMesh(table, LABEL_BACKGROUND, _table_albedo(rng))]
    # The forearm is no part of the hand's ground truth (as MANO's hand ends at the wrist).
    scene += [SceneMesh(m, LABEL_BACKGROUND, arm_albedo if i == 0
                        else tuple(rng.uniform(0.05, 0.9, 3)), smooth=True)
              for i, m in enumerate(forearm_world)]
    scene += [SceneMesh(m, LABEL_BACKGROUND, tuple(rng.uniform(0.05, 0.95, 3)))
              for m in distractors]

    best = None
    for _ in range(8):
        azimuth, elevation = rng.uniform(0, 2 * np.pi), rng.uniform(np.radians(20),
                                                                     np.radians(70))
        distance = rng.uniform(*config.distance)
        direction = np.array([np.cos(elevation) * np.cos(azimuth),
                              np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
        world_T_camera = look_at(center + distance * direction, center)
        result = render(scene, camera, world_T_camera, rng)
        pixels = camera.width * camera.height
        visible = {'hand': int((result.mask == LABEL_HAND).sum()),
                   'object': int((result.mask == LABEL_OBJECT).sum())}
        score = min(visible[k] / (_MIN_VISIBLE[k] * pixels) for k in visible)
        if best is None or score > best[0]:
            best = (score, world_T_camera, result, visible)
        if score >= 1.0:
            break
    _, world_T_camera, result, visible = best
    depth = apply_depth_sensor(result.depth, rng)

    camera_T_world = np.linalg.inv(world_T_camera)
    camera_T_hand = camera_T_world @ world_T_hand
    camera_T_object = camera_T_world @ world_T_object
    hand_cam = hand_mesh_local.copy().apply_transform(camera_T_hand)
    object_cam = object_mesh_local.copy().apply_transform(camera_T_object)
    joints_cam = sdf.apply(camera_T_hand, hand.joints)
    if rig is None:
        def hand_fn(p):
            return hand_sdf(grasp.skeleton, sdf.apply_inverse(camera_T_hand, p))
    else:
        # A rig has no analytic distance: its closed skin mesh is the shape.
        hand_fn = SkinSdf(hand_cam)

    def object_fn(p):
        return shape.sdf(sdf.apply_inverse(camera_T_object, p))

    samples = _sdf_samples(rng, hand_cam, object_cam, hand_fn, object_fn, joints_cam[0])
    # Contact and penetration on the final surfaces: the object's distance at the hand
    # mesh's vertices, plus the primitive check per finger.
    on_hand = object_fn(hand_cam.vertices)
    report = check_contacts(grasp.skeleton, grasp.object_T_hand, shape.sdf)
    meta = {
        'format_version': FORMAT_VERSION, 'seed': int(seed), 'split': split,
        'index': int(index),
        'camera': {'preset': camera_name, 'width': camera.width, 'height': camera.height,
                   'K': camera.K.tolist()},
        'hand_side': hand_shape.side, 'hand_scale': hand_shape.scale,
        'grasp_type': grasp.grasp_type, 'hand_pose': grasp.pose.angles.tolist(),
        'joints_3d': joints_cam.tolist(),
        'joints_2d': camera.project(joints_cam).tolist(),
        'hand_root': joints_cam[0].tolist(),
        'camera_T_hand': camera_T_hand.tolist(),
        'object_family': shape.family, 'object_params': shape.as_dict(),
        'camera_T_object': camera_T_object.tolist(),
        'contacts': list(report.contacts),
        'finger_gaps_mm': {k: 1000 * v for k, v in report.gaps.items()},
        'min_gap_mm': 1000 * float(on_hand.min()) if on_hand.min() > 0 else 0.0,
        'penetration_mm': 1000 * float(max(0.0, -on_hand.min())),
        'contact_vertices': int((np.abs(on_hand) <= CONTACT_DISTANCE).sum()),
        'distractors': distractor_families, 'table_lift_m': float(lift),
        'visible_pixels': visible,
    }
    if rig is not None:
        meta.update(hand_model=f'{rig_kind(config.hand_model)[0]}:{rig.name}',
                    forearm=bool(forearm), sleeve=sleeve)
    return SynthFrame(RgbdFrame(result.color, depth, camera), result.depth, result.mask,
                      hand_cam, object_cam, samples, meta)


def save_frame(root: pathlib.Path, frame_id: str, frame: SynthFrame) -> None:
    """Write one frame's files (layout in docs/data-format.md)."""
    write_frame(root, frame_id, frame.rgbd, compress_level=PNG_COMPRESS_LEVEL)
    for sub in ('mask', 'meta', 'mesh', 'sdf'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame.mask).save(root / 'mask' / f'{frame_id}.png',
                                     compress_level=PNG_COMPRESS_LEVEL)
    frame.hand_mesh.export(root / 'mesh' / f'{frame_id}_hand.ply')
    frame.object_mesh.export(root / 'mesh' / f'{frame_id}_object.ply')
    np.save(root / 'sdf' / f'{frame_id}.npy', frame.sdf_samples)
    meta = dict(frame.meta, id=frame_id)
    (root / 'meta' / f'{frame_id}.json').write_text(json.dumps(meta, indent=1, sort_keys=True))


def _work(args):
    root, seed, split, index, config = args
    frame_id = f'{index:06d}'
    save_frame(pathlib.Path(root), frame_id, generate_frame(seed, split, index, config))
    return frame_id


def generate(out: str | os.PathLike, frames: int, seed: int, split: str = 'train',
             config: SynthConfig = SynthConfig(), workers: int = 1, start: int = 0,
             progress=None) -> list[str]:
    """
    Generate frames ``start`` .. ``start + frames - 1`` of ``split`` into ``out``.

    Writes info.json (generator settings) and, for a single camera preset, camera.yaml so
    the folder is also a frame folder the replay camera can play. Returns the frame ids.
    """
    if frames < 1:
        raise ValueError(f'frames must be >= 1, got {frames}')
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    root = pathlib.Path(out)
    root.mkdir(parents=True, exist_ok=True)
    if config.camera != 'mixed':
        write_camera(root, CAMERA_PRESETS[config.camera], camera_name=config.camera)
    tasks = [(str(root), seed, split, i, config) for i in range(start, start + frames)]
    ids = []
    if workers <= 1:
        for task in tasks:
            ids.append(_work(task))
            if progress:
                progress(len(ids))
    else:
        with multiprocessing.get_context('spawn').Pool(workers) as pool:
            for frame_id in pool.imap(_work, tasks):
                ids.append(frame_id)
                if progress:
                    progress(len(ids))
    info = {'format_version': FORMAT_VERSION, 'seed': seed, 'split': split,
            'camera': config.camera, 'voxel': config.voxel,
            'max_distractors': config.max_distractors, 'distance': list(config.distance),
            'first_index': start, 'frames': ids, 'sdf_columns': list(SDF_COLUMNS)}
    if config.hand_model != 'procedural':
        info['hand_model'] = config.hand_model
    (root / 'info.json').write_text(json.dumps(info, indent=1, sort_keys=True))
    return ids

