"""
A tiny ObMan dataset in the official on-disk format, made from the bundled synthetic frames.

ObMan itself (and ShapeNet, and MANO) cannot ship with the tests, so this writes what the
renderer (hassony2/obman_render) writes, from ``data/sample``:

- ``<root>/<split>/rgb/<id>.jpg``: 256x256, seen by ObMan's camera (f = 480 px, principal
  point at the image centre). The synthetic frame is resampled into a virtual camera at the
  same optical centre, turned to look at the wrist (so that any frame can be used), and
  mirrored when the hand is a left one, since every ObMan hand is a right hand.
- ``depth/<id>.png``: 3 channels, written in OpenCV's B, G, R order: B the whole scene
  (the synthetic depth, nearest pixel, turned into distance from the camera centre, as
  Blender's Z pass stores it), G and R the synthetic hand and object meshes ray-cast alone.
  Each channel is encoded 1 (nearest) .. 255 (farthest), 0 = nothing, with its range in
  the meta file stored the way ObMan stores it (``depth_min`` = the farthest).
- ``segm/<id>.png``: the same layout; hand 22 (right) / 21 (left), object 100.
- ``meta/<id>.pkl``: the renderer's keys, pickled with protocol 2 under numpy 1's module
  names, as a numpy-1 era file reads; only numpy arrays, numpy scalars, floats and strings.
  ``coords_3d``, ``verts_3d`` and ``affine_transform`` are in Blender's camera frame (y up,
  z backwards) as in the release, ``coords_2d`` projected with Blender's K.
- ``<shapenet_root>/<synset>/<model id>/models/model_normalized.obj``: the synthetic object
  in a ShapeNet-style normalised frame (bounding box centred at the origin, diagonal 1),
  split into two material groups whose seam vertices are repeated, as ShapeNet models are;
  ``affine_transform`` maps it back. The meta file's ``obj_path`` names it under the
  authors' ShapeNet folder with a ``.pkl`` suffix, as the loaders expect.

Stand-ins: the synthetic hands are not MANO hands, so ``verts_3d`` are the 778 vertices of
the MANO test fixture's template (``helpers.mano_fixture``, seed ``mano_seed``), laid along
the synthetic hand from its wrist towards its knuckles. They match ``MANO_RIGHT.pkl`` written
by ``write_mano_fixture(..., seed=mano_seed)``, not the images. MANO pose and shape
parameters, grasp metrics, the body pose and texture paths are zeros or placeholders.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
import io
import pathlib
import pickle

import numpy as np
import open3d as o3d
from PIL import Image
from scipy import ndimage

from c2f_sdf_ros.data.synth_folder import SynthFolder
from helpers.mano_fixture import make_mano_fixture

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE_FRAMES = REPO / 'data' / 'sample'
# ObMan frame number -> synthetic frame index, per split; the gaps are on purpose, as the
# release's ids have gaps.
DEFAULT_SPLITS = {'train': {0: 0, 1: 1, 3: 2}, 'test': {0: 2, 2: 0}}

SIZE = 256
FOCAL = 480.0
CENTRE = 128.0  # Blender's principal point: pixel k spans [k, k + 1)
BLENDER_FLIP = np.diag([1.0, -1.0, -1.0])  # OpenCV camera frame <-> Blender camera frame
AUTHORS_SHAPENET = '/sequoia/data2/dataset/shapenet/ShapeNetCore.v2'
HAND_LABEL = {'right': 22, 'left': 21}
OBJECT_LABEL = 100
# ShapeNet synsets of similar categories, for realistic paths.
SYNSETS = {'cylinder': '02946921', 'bottle': '02876657', 'bowl': '02880940',
           'mug': '03797390', 'box': '02992529', 'sphere': '03593526'}


@dataclass(frozen=True)
class FixtureFrame:
    """
    One written frame.

    Attributes
    ----------
    split, frame_id : str
        Where it is (``<root>/<split>/*/<frame_id>.*``).
    source_index : int
        The synthetic frame it was made from.
    rotation : (3, 3) array
        Synthetic camera frame -> ObMan (OpenCV) camera frame; determinant -1 when mirrored.
    side : str
        Hand side written (the synthetic side unless mirrored to 'right').
    model_path : Path
        The ShapeNet-style object model written.

    """

    split: str
    frame_id: str
    source_index: int
    rotation: np.ndarray
    side: str
    model_path: pathlib.Path


class _LegacyNumpyPickler(pickle._Pickler):
    """
    Protocol-2 pickler writing numpy's helpers under numpy 1's names (``numpy.core.*``).

    The pure-Python pickler, because its ``save_global`` can be overridden.
    """

    _legacy = {id(np.ndarray(0).__reduce__()[0]): ('numpy.core.multiarray', '_reconstruct'),
               id(np.float32(0).__reduce__()[0]): ('numpy.core.multiarray', 'scalar')}

    def save_global(self, obj, name=None):
        legacy = self._legacy.get(id(obj))
        if legacy is None:
            return super().save_global(obj, name)
        self.write(pickle.GLOBAL + f'{legacy[0]}\n{legacy[1]}\n'.encode('ascii'))
        self.memoize(obj)
        return None


def dump_meta(meta: dict, path: pathlib.Path) -> None:
    """Pickle a meta dict as a numpy-1 era ObMan file (protocol 2)."""
    buffer = io.BytesIO()
    _LegacyNumpyPickler(buffer, protocol=2).dump(meta)
    path.write_bytes(buffer.getvalue())


def encode_depth(distance: np.ndarray) -> tuple[np.ndarray, float, float]:
    """
    Encode distances (m) as ObMan does (the inverse of ``c2f_sdf_ros.data.obman.decode_depth``).

    Parameters
    ----------
    distance : (H, W) float array
        0 (or NaN, inf) where there is no surface.

    Returns
    -------
    encoded : (H, W) uint8 array
        1 at the nearest valid pixel, 255 at the farthest, 0 elsewhere; rounded to the
        nearest level as OpenCV rounds when it writes floats to an 8-bit PNG.
    depth_min, depth_max : float
        The meta values, stored as ObMan stores them: ``depth_min`` is the *farthest*
        distance and ``depth_max`` the nearest. Both 0 when no pixel is valid.

    """
    distance = np.asarray(distance, np.float64)
    if distance.ndim != 2:
        raise ValueError(f'distance must be (H, W), got {distance.shape}')
    valid = np.isfinite(distance) & (distance > 0)
    if not valid.any():
        return np.zeros(distance.shape, np.uint8), 0.0, 0.0
    near, far = float(distance[valid].min()), float(distance[valid].max())
    span = far - near if far > near else 1.0  # a flat scene: every valid pixel is level 1
    levels = np.rint(254.0 * (distance - near) / span + 1.0)
    encoded = np.where(valid, np.clip(levels, 1, 255), 0).astype(np.uint8)
    return encoded, far, near


def ray_distance(depth: np.ndarray) -> np.ndarray:
    """
    Depth along the optical axis -> float32 distance from the camera centre.

    For (SIZE, SIZE) images of ObMan's camera: the distance Blender's Z pass stores,
    computed from the fixture's own pixel rays (not the reader's).
    """
    depth = np.asarray(depth, np.float64)
    if depth.shape != (SIZE, SIZE):
        raise ValueError(f'depth must be ({SIZE}, {SIZE}), got {depth.shape}')
    return (depth * np.linalg.norm(_target_rays(), axis=-1)).astype(np.float32)


def _look_at(point: np.ndarray) -> np.ndarray:
    """Rotation turning the camera's optical axis to ``point``, keeping x horizontal."""
    z = point / np.linalg.norm(point)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])  # rows: new axes in old coordinates


def _target_rays() -> np.ndarray:
    """(SIZE, SIZE, 3) rays (z = 1) through the pixel centres of ObMan's camera."""
    v, u = np.indices((SIZE, SIZE), dtype=np.float64)
    centre = CENTRE - 0.5  # pixel k centred at k
    return np.stack([(u - centre) / FOCAL, (v - centre) / FOCAL, np.ones_like(u)], axis=-1)


def _ray_cast(vertices: np.ndarray, faces: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """Distance from the camera centre to the mesh along each ray (inf = miss)."""
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)),
                        o3d.core.Tensor(faces.astype(np.uint32)))
    directions = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    flat = directions.reshape(-1, 3)
    query = np.concatenate([np.zeros_like(flat), flat], axis=1).astype(np.float32)
    hits = scene.cast_rays(o3d.core.Tensor(query))['t_hit'].numpy()
    return hits.reshape(rays.shape[:2]).astype(np.float64)


def _write_model(path: pathlib.Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """A ShapeNet-like OBJ: two material groups, each with its own copy of its vertices."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ['# stand-in ShapeNet model (c2f_sdf_ros ObMan test fixture)\n',
             'mtllib model_normalized.mtl\n', 'o model_normalized\n']
    offset = 1  # OBJ indices are 1-based and count across groups
    half = len(faces) // 2
    for group, group_faces in enumerate((faces[:half], faces[half:])):
        used, local = np.unique(group_faces, return_inverse=True)
        # One %-format over the whole block: a Python loop per line is far slower.
        lines.append('v %.9f %.9f %.9f\n' * len(used) % tuple(vertices[used].ravel()))
        lines.append(f'usemtl material_{group}\n')
        lines.append('f %d %d %d\n' * len(group_faces) % tuple((local.ravel() + offset).tolist()))
        offset += len(used)
    path.write_text(''.join(lines))
    path.with_suffix('.mtl').write_text(
        ''.join(f'newmtl material_{group}\nKd 0.8 0.8 0.8\n' for group in range(2)))


def _stand_in_hand(template: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Template vertices laid from the wrist towards the knuckles (camera frame)."""
    wrist = joints[0]
    along = joints[[5, 9, 13, 17]].mean(axis=0) - wrist
    along /= np.linalg.norm(along)
    across = joints[5] - joints[17]  # little -> index knuckle
    across -= across.dot(along) * along
    across /= np.linalg.norm(across)
    frame = np.stack([across, np.cross(along, across), along], axis=1)  # columns x, y, z
    return template @ frame.T + wrist


def _write_frame(folder: SynthFolder, source_index: int, split_dir: pathlib.Path,
                 frame_id: str, shapenet_root: pathlib.Path, mano_seed: int,
                 right_hands: bool) -> FixtureFrame:
    meta_s = folder.meta(source_index)
    K_s = np.array(meta_s['camera']['K'], np.float64)
    color_s = np.asarray(Image.open(folder.root / 'color' / f'{folder.ids[source_index]}.png')
                         .convert('RGB'))
    depth_s = np.asarray(Image.open(folder.root / 'depth' / f'{folder.ids[source_index]}.png'),
                         np.float64) / 1000.0
    mask_s = np.asarray(Image.open(folder.root / 'mask' / f'{folder.ids[source_index]}.png'))
    hand_s, object_s = folder.meshes(source_index)
    joints_s = np.array(meta_s['joints_3d'], np.float64)

    mirrored = right_hands and meta_s['hand_side'] == 'left'
    side = 'right' if mirrored else meta_s['hand_side']
    rotation = _look_at(joints_s[0])
    if mirrored:
        rotation = np.diag([-1.0, 1.0, 1.0]) @ rotation

    # Where each ObMan pixel's ray meets the synthetic image (same optical centre).
    rays = _target_rays()
    rays_s = rays @ rotation  # R^T d, row-wise
    in_front = rays_s[..., 2] > 1e-6
    z_ray = np.where(in_front, rays_s[..., 2], 1.0)
    u_s = K_s[0, 0] * rays_s[..., 0] / z_ray + K_s[0, 2]
    v_s = K_s[1, 1] * rays_s[..., 1] / z_ray + K_s[1, 2]
    height, width = depth_s.shape
    color = np.stack([ndimage.map_coordinates(color_s[..., c].astype(np.float64), [v_s, u_s],
                                              order=1, mode='constant', cval=0.0)
                      for c in range(3)], axis=-1)
    color = np.where(in_front[..., None], np.clip(np.rint(color), 0, 255), 0).astype(np.uint8)
    row, col = np.rint(v_s).astype(np.int64), np.rint(u_s).astype(np.int64)
    inside = in_front & (row >= 0) & (row < height) & (col >= 0) & (col < width)
    row, col = np.where(inside, row, 0), np.where(inside, col, 0)
    z_s = np.where(inside, depth_s[row, col], 0.0)
    # The synthetic pixel's 3D point; its distance from the centre is what Blender stores.
    lifted = np.stack([(col - K_s[0, 2]) / K_s[0, 0], (row - K_s[1, 2]) / K_s[1, 1],
                       np.ones_like(z_s)], axis=-1) * z_s[..., None]
    scene_distance = np.linalg.norm(lifted, axis=-1)
    labels_s = np.where(inside, mask_s[row, col], 0)
    scene_labels = np.select([labels_s == 1, labels_s == 2], [HAND_LABEL[side], OBJECT_LABEL],
                             0).astype(np.uint8)

    hand_distance = _ray_cast(hand_s.vertices @ rotation.T, hand_s.faces, rays)
    object_distance = _ray_cast(object_s.vertices @ rotation.T, object_s.faces, rays)
    hand_labels = np.where(np.isfinite(hand_distance), HAND_LABEL[side], 0).astype(np.uint8)
    object_labels = np.where(np.isfinite(object_distance), OBJECT_LABEL, 0).astype(np.uint8)

    scene_code, depth_min, depth_max = encode_depth(scene_distance)
    hand_code, hand_depth_min, hand_depth_max = encode_depth(hand_distance)
    object_code, obj_depth_min, obj_depth_max = encode_depth(object_distance)
    for name in ('rgb', 'depth', 'segm', 'meta'):
        (split_dir / name).mkdir(parents=True, exist_ok=True)
    Image.fromarray(color).save(split_dir / 'rgb' / f'{frame_id}.jpg', quality=90)
    # RGB order here, so that the file read as BGR (OpenCV) has the scene in channel 0.
    Image.fromarray(np.stack([object_code, hand_code, scene_code], axis=-1)).save(
        split_dir / 'depth' / f'{frame_id}.png')
    Image.fromarray(np.stack([object_labels, hand_labels, scene_labels], axis=-1)).save(
        split_dir / 'segm' / f'{frame_id}.png')

    # The object in a ShapeNet-style normalised frame, and the affine mapping it back.
    camera_T_object = np.array(meta_s['camera_T_object'], np.float64)
    object_rotation = rotation @ camera_T_object[:3, :3]
    local = (object_s.vertices - camera_T_object[:3, 3]) @ camera_T_object[:3, :3]
    faces = np.asarray(object_s.faces)
    if mirrored:  # keep the affine a rotation: mirror the model instead
        local = local * np.array([-1.0, 1.0, 1.0])
        faces = faces[:, ::-1]
        object_rotation = object_rotation @ np.diag([-1.0, 1.0, 1.0])
    low, high = local.min(axis=0), local.max(axis=0)
    centre, scale = (low + high) / 2, float(np.linalg.norm(high - low))
    pose = np.eye(4)
    pose[:3, :3] = object_rotation * scale
    pose[:3, 3] = object_rotation @ centre + rotation @ camera_T_object[:3, 3]
    affine = np.eye(4)
    affine[:3] = BLENDER_FLIP @ pose[:3]
    normalised = (local - centre) / scale
    synset = SYNSETS.get(meta_s['object_family'], '02876657')
    # A ShapeNet-like 32-hex id that names the geometry: equal models are written once.
    model_id = hashlib.md5(normalised.tobytes() + faces.tobytes()).hexdigest()
    model_path = shapenet_root / synset / model_id / 'models' / 'model_normalized.obj'
    if not model_path.is_file():
        _write_model(model_path, normalised, faces)

    joints = joints_s @ rotation.T
    coords_2d = FOCAL * joints[:, :2] / joints[:, 2:] + CENTRE
    template = make_mano_fixture(side, seed=mano_seed)['v_template']
    verts = _stand_in_hand(template, joints)
    visible_object = (scene_labels == OBJECT_LABEL).sum()
    meta = {
        'side': side,
        'coords_2d': coords_2d.astype(np.float32),
        'coords_3d': (joints @ BLENDER_FLIP).astype(np.float32),
        'verts_3d': (verts @ BLENDER_FLIP).astype(np.float32),
        'affine_transform': affine.astype(np.float32),
        'obj_path': f'{AUTHORS_SHAPENET}/{synset}/{model_id}/models/model_normalized.pkl',
        'obj_scale': scale,
        'class_id': synset,
        'sample_id': model_id,
        'obj_texture': '/sequoia/data2/dataset/shapenet/textures/stand_in.jpg',
        'obj_visibility_ratio': np.float64(visible_object / max(object_labels.astype(bool)
                                                                .sum(), 1)),
        'pca_pose': np.zeros(45),
        'hand_pose': np.zeros(48),
        'mano_pose': np.zeros(45, np.float32),
        'hand_global_rot': np.zeros(3),
        'hand_trans': np.zeros(3),
        'grasp_quality': 0.0,
        'grasp_epsilon': 0.0,
        'grasp_volume': 0.0,
        'z': float(joints[0, 2]),
        'trans': np.zeros(3, np.float32),
        'pose': np.zeros(156, np.float32),
        'shape': np.zeros(10, np.float32),
        'depth_min': np.float32(depth_min),
        'depth_max': np.float32(depth_max),
        'hand_depth_min': np.float32(hand_depth_min),
        'hand_depth_max': np.float32(hand_depth_max),
        'obj_depth_min': np.float32(obj_depth_min),
        'obj_depth_max': np.float32(obj_depth_max),
        'bg_path': '/sequoia/data2/dataset/backgrounds/stand_in.jpg',
        'sh_coeffs': np.zeros(9),
        'body_tex': '/sequoia/data2/dataset/textures/stand_in.jpg',
    }
    dump_meta(meta, split_dir / 'meta' / f'{frame_id}.pkl')
    return FixtureFrame(split_dir.name, frame_id, source_index, rotation, side, model_path)


def write_obman_fixture(out_root: str | pathlib.Path, shapenet_root: str | pathlib.Path,
                        frames_dir: str | pathlib.Path = SAMPLE_FRAMES,
                        splits: dict[str, dict[int, int]] | None = None, mano_seed: int = 0,
                        right_hands: bool = True) -> list[FixtureFrame]:
    """
    Write a tiny ObMan tree and its ShapeNet-style models from synthetic frames.

    Parameters
    ----------
    out_root : str or Path
        The ObMan root to create (``<out_root>/<split>/{rgb,depth,segm,meta}``).
    shapenet_root : str or Path
        Where to write the object models (``<synset>/<id>/models/model_normalized.obj``).
    frames_dir : str or Path
        A ``c2f-sdf synth`` folder; the bundled ``data/sample`` by default.
    splits : dict, optional
        Per split, ObMan frame number -> synthetic frame index; :data:`DEFAULT_SPLITS`.
    mano_seed : int
        Seed of the MANO test fixture whose template gives the stand-in ``verts_3d``;
        write ``MANO_RIGHT.pkl`` (and ``MANO_LEFT.pkl``) with the same seed.
    right_hands : bool
        Mirror left-hand frames into right-hand ones, as every ObMan hand is a right hand.

    Returns
    -------
    list of FixtureFrame
        The frames written, split by split.

    """
    out_root, shapenet_root = pathlib.Path(out_root), pathlib.Path(shapenet_root)
    folder = SynthFolder(frames_dir)
    written = []
    for split, numbers in (DEFAULT_SPLITS if splits is None else splits).items():
        for number, source_index in sorted(numbers.items()):
            if not 0 <= source_index < len(folder):
                raise ValueError(f'{frames_dir} has no frame {source_index}')
            written.append(_write_frame(folder, source_index, out_root / split,
                                        f'{number:08d}', shapenet_root, mano_seed,
                                        right_hands))
    return written
