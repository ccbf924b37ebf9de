"""
Reader for the ObMan synthetic hand-object dataset (Hasson et al., CVPR 2019), as released.

The release is one folder per split, with ShapeNetCore.v2 for the objects and the MANO
model for the hand faces (neither is part of it)::

    <root>/<split>/rgb/<id>.jpg        256x256 RGB render (also rgb_hand/, rgb_obj/: unused)
    <root>/<split>/depth/<id>.png      8-bit depth, 3 channels (below)
    <root>/<split>/segm/<id>.png       8-bit labels, 3 channels (below)
    <root>/<split>/meta/<id>.pkl       pickled dict of annotations (below)
    <shapenet_root>/<class_id>/<sample_id>/models/model_normalized.obj

``<split>`` is ``train``, ``val`` or ``test``; ``<id>`` is an 8-digit frame number. Ids
have gaps: the renderer kept a frame only if the object and one of the two hand labels
each covered more than 100 pixels and more than 40 % of the object was visible
(``obj_visibility_ratio``), so the frames that exist are the ones listed in ``meta/``
(gSDF's test list holds 6285 ids between 0 and 9999).
The official loaders keep them all, in sorted order (``mini_factor`` keeps a leading
fraction); gSDF, AlignSDF and C2F-SDF select frames with id lists (``test_6k.json``,
``train_87k.json``), which ``frame_ids`` accepts.

What the files mean, as the renderer writes them (hassony2/obman_render:
``blender_grasps.py``, ``obman_render/{camutils,coordutils,depthutils,render}.py``) and the
official loaders read them (hassony2/obman ``obman/obman.py``, hassony2/obman_train
``handobjectdatasets/obman.py``; gSDF's ``preprocess/cocoify_obman.py`` agrees):

- **Camera.** Not stored in the meta files: every frame is rendered by the same Blender
  camera (60 mm lens, 32 mm sensor, 256x256), K = [[480, 0, 128], [0, 480, 128], [0, 0, 1]]
  (:data:`OBMAN_CAMERA_MATRIX`). That K puts the principal point at the image centre in
  Blender's convention, where pixel k spans [k, k + 1); in this project pixel k is centred
  at k, so :func:`obman_camera` moves it by -0.5 px to (127.5, 127.5).
- **Frames.** ``coords_3d`` (21 joints), ``verts_3d`` (778 MANO vertices) and
  ``affine_transform`` are in Blender's camera frame (x right, y up, z backwards, metres);
  the OpenCV camera frame is ``diag(1, -1, -1)`` times that (:data:`BLENDER_TO_OPENCV`,
  the loaders' ``cam_extr``, also not stored). ``coords_2d`` are the joints projected with
  K in pixels (Blender convention).
- **Joint order.** Wrist, then thumb, index, middle, ring and little finger, each from
  base to tip: the project's order, so :data:`OBMAN_TO_PROJECT_JOINTS` is the identity.
- **Objects.** ``model_normalized.obj`` vertices, mapped by ``affine_transform`` (4x4, the
  object's scale included) and then by ``cam_extr``, are the object in the camera frame.
  The loaders find the model from ``class_id`` (ShapeNet synset) and ``sample_id`` (model
  id); ``obj_path`` is an absolute path on the authors' machine
  (:data:`AUTHORS_SHAPENET_ROOT`), remapped here when the ids are missing.
- **Depth PNG.** Written by OpenCV, so the file's channels are B, G, R: B is the whole
  scene, G a render of the hand alone, R of the object alone. 0 = no surface; valid pixels
  are 1 (nearest) to 255 (farthest), linear in distance. The meta key ``depth_min`` holds
  the *farthest* distance and ``depth_max`` the *nearest* (the renderer unpacks its helper's
  result in swapped order), and the loaders decode with
  ``depth_max + (v - 1) / 254 * (depth_min - depth_max)``, right whatever the names say;
  ``hand_depth_*`` and ``obj_depth_*`` do the same for G and R. The values are Blender
  Cycles' Z pass, which in the Blender 2.7x that rendered ObMan is ``camera_distance()``:
  for a perspective camera the distance from the camera centre along the ray, not the
  depth along the optical axis. :func:`ray_distance_to_depth` converts (the official
  loaders do not; the difference reaches 6 % at the image corners).
- **Segmentation PNG.** Same channel layout; labels 22 (palm) and 24 (fingers) for a right
  hand, 21 and 23 for a left one, 100 for the object.
- **Side.** Always ``'right'`` in the release (the grasps come from GraspIt with a right
  MANO hand); left hands are supported all the same.

Meta files are Python pickles, so they are read with
``c2f_sdf_ros.data.safe_pickle.ObmanMetaUnpickler``, which builds numpy arrays and nothing
else. SDF samples (``LabelledFrame.sdf``) are computed from the meshes with
:func:`c2f_sdf_ros.data.sdf_samples.sample_sdf`, optionally cached as
``<cache_dir>/<split>_<id>.npy`` (``c2f_sdf_ros.data.sdf_cache``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
import json
import os
import pathlib

import numpy as np
from PIL import Image
import trimesh

from c2f_sdf_ros.data.labelled import LabelledFrame
from c2f_sdf_ros.data.mano import load_mano_pickle
from c2f_sdf_ros.data.mesh_repair import load_watertight_mesh, watertight_mesh
from c2f_sdf_ros.data.safe_pickle import ObmanMetaUnpickler, load_restricted
from c2f_sdf_ros.data.sdf_cache import cached_sdf_samples
from c2f_sdf_ros.data.sdf_samples import sample_sdf
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

OBMAN_SPLITS = ('train', 'val', 'test')
OBMAN_IMAGE_SIZE = 256
# Intrinsics of every ObMan frame, in Blender's pixel convention (see the module docstring).
OBMAN_CAMERA_MATRIX = np.array(((480.0, 0.0, 128.0), (0.0, 480.0, 128.0), (0.0, 0.0, 1.0)))
# Blender pixel k spans [k, k + 1); ours is centred at k.
BLENDER_PIXEL_OFFSET = 0.5
# The loaders' cam_extr without its zero translation: Blender camera frame -> OpenCV.
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
# ObMan joint i is project joint OBMAN_TO_PROJECT_JOINTS[i]: both are wrist, thumb 1-4,
# index 1-4, middle 1-4, ring 1-4, little 1-4 (ObMan's renderer reorders MANO's joints
# and appends the fingertips exactly as c2f_sdf_ros.data.mano.JOINT_ORDER does).
OBMAN_TO_PROJECT_JOINTS = tuple(range(21))
# Prefix of the meta files' obj_path (the authors' ShapeNetCore.v2 folder).
AUTHORS_SHAPENET_ROOT = '/sequoia/data2/dataset/shapenet/ShapeNetCore.v2'
# Segmentation labels (palm, fingers) per hand side, and the object's.
HAND_LABELS = {'right': (22, 24), 'left': (21, 23)}
OBJECT_LABEL = 100
# Channel of each render in a depth / segm PNG read as RGB (the files were written as BGR).
CHANNELS = {'scene': 2, 'hand': 1, 'object': 0}
# Meta keys of the depth ranges of each channel (as stored: *_min is the farthest).
DEPTH_RANGE_KEYS = {'scene': ('depth_min', 'depth_max'),
                    'hand': ('hand_depth_min', 'hand_depth_max'),
                    'object': ('obj_depth_min', 'obj_depth_max')}

# --------------------------------------------------------------------------------------
# Safe meta loading


def load_meta(path: str | os.PathLike) -> dict:
    """
    Read one ObMan meta file safely.

    ``safe_pickle.ObmanMetaUnpickler`` builds numpy arrays, numpy scalars and plain
    containers, and refuses any other global before anything runs.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    pickle.UnpicklingError
        Naming the file, if it is not a readable pickle or needs any other global.
    ValueError
        If it does not hold a dict.

    """
    meta = load_restricted(path, ObmanMetaUnpickler, 'ObMan meta file')
    if not isinstance(meta, dict):
        raise ValueError(f'{path}: an ObMan meta file holds a dict, got {type(meta).__name__}')
    return meta


# --------------------------------------------------------------------------------------
# Depth and camera


def decode_depth(encoded: np.ndarray, depth_min: float, depth_max: float) -> np.ndarray:
    """
    Decode one channel of an ObMan depth PNG to distances (m).

    Parameters
    ----------
    encoded : (H, W) uint8 array
        0 = no surface, 1..255 = nearest..farthest.
    depth_min, depth_max : float
        The meta values as stored (``depth_min`` is the farthest distance, see the module
        docstring).

    Returns
    -------
    (H, W) float32 array, 0 where there is no surface.

    """
    encoded = np.asarray(encoded)
    if encoded.ndim != 2:
        raise ValueError(f'encoded depth must be (H, W), got {encoded.shape}')
    values = encoded.astype(np.float64)
    distance = depth_max + (values - 1.0) / 254.0 * (depth_min - depth_max)
    return np.where(encoded > 0, distance, 0.0).astype(np.float32)


def obman_camera(matrix: np.ndarray | None = None,
                 size: tuple[int, int] = (OBMAN_IMAGE_SIZE, OBMAN_IMAGE_SIZE)
                 ) -> CameraIntrinsics:
    """
    ObMan's intrinsics in this project's pixel convention.

    Parameters
    ----------
    matrix : (3, 3) array, optional
        K in Blender's convention; :data:`OBMAN_CAMERA_MATRIX` by default.
    size : (width, height)
        Image size in pixels.

    """
    K = np.array(OBMAN_CAMERA_MATRIX if matrix is None else matrix, np.float64)
    if K.shape != (3, 3):
        raise ValueError(f'camera matrix must be 3x3, got {K.shape}')
    K[:2, 2] -= BLENDER_PIXEL_OFFSET
    return CameraIntrinsics.from_matrix(K, *size)


def _ray_lengths(camera: CameraIntrinsics) -> np.ndarray:
    """(H, W) length of the ray K^-1 [u, v, 1] through each pixel centre (z = 1)."""
    v, u = np.indices((camera.height, camera.width), dtype=np.float64)
    return np.sqrt(((u - camera.cx) / camera.fx) ** 2 + ((v - camera.cy) / camera.fy) ** 2
                   + 1.0)


def ray_distance_to_depth(distance: np.ndarray, camera: CameraIntrinsics) -> np.ndarray:
    """(H, W) distances from the camera centre -> float32 depth along the optical axis."""
    distance = np.asarray(distance, np.float64)
    if distance.shape != (camera.height, camera.width):
        raise ValueError(f'distance is {distance.shape} but the camera is '
                         f'{camera.height}x{camera.width}')
    return (distance / _ray_lengths(camera)).astype(np.float32)


# --------------------------------------------------------------------------------------
# Meshes


def shapenet_model_path(meta: dict, shapenet_root: str | os.PathLike) -> pathlib.Path:
    """
    Where frame ``meta``'s object model is under ``shapenet_root``.

    ``class_id``/``sample_id`` as the official loaders use them; else ``obj_path`` with the
    authors' ShapeNet folder (or any prefix up to the synset folder) replaced and a
    ``.pkl`` suffix (their mesh cache) replaced by ``.obj``.
    """
    root = pathlib.Path(shapenet_root)
    class_id, sample_id = meta.get('class_id'), meta.get('sample_id')
    if isinstance(class_id, str) and isinstance(sample_id, str):
        return root / class_id / sample_id / 'models' / 'model_normalized.obj'
    obj_path = meta.get('obj_path')
    if not isinstance(obj_path, str):
        raise ValueError('meta has neither class_id/sample_id nor obj_path')
    parts = pathlib.PurePosixPath(obj_path).parts
    # .../<synset>/<model id>/models/model_normalized.*: keep the last four parts.
    if len(parts) < 4 or parts[-2] != 'models':
        raise ValueError(f'obj_path {obj_path!r} is not .../<synset>/<id>/models/<file>')
    return root.joinpath(*parts[-4:-1], 'model_normalized.obj')


def load_shapenet_model(path: str | os.PathLike) -> trimesh.Trimesh:
    """
    Load a ShapeNet OBJ as one watertight mesh (``mesh_repair.load_watertight_mesh``).

    ShapeNet models repeat vertices at material seams and hold duplicate and degenerate
    faces; merging and dropping those closes many of them, and small holes are filled.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        If the model has no faces or is still open after the repairs (an SDF needs an
        inside).

    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'ShapeNet model not found: {path} (expected '
                                '<shapenet_root>/<synset>/<model id>/models/'
                                'model_normalized.obj)')
    return load_watertight_mesh(path, 'object model')


# --------------------------------------------------------------------------------------
# The reader


def _normalise_id(frame_id) -> str:
    text = str(frame_id).strip()
    return f'{int(text):08d}' if text.isdigit() else text


def _read_id_list(frame_ids) -> list[str]:
    """Ids from a sequence, or from a JSON list / one-id-per-line file (gSDF split files)."""
    if isinstance(frame_ids, (str, os.PathLike)):
        path = pathlib.Path(frame_ids)
        if not path.is_file():
            raise FileNotFoundError(f'frame id list not found: {path}')
        text = path.read_text()
        is_json = path.suffix == '.json'
        try:
            frame_ids = json.loads(text) if is_json else \
                [line for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise ValueError(f'{path}: not valid JSON ({error})') from error
        if not isinstance(frame_ids, list):
            raise ValueError(f'{path}: expected a JSON list of frame ids')
    return [_normalise_id(frame_id) for frame_id in frame_ids]


class ObMan:
    """
    One split of ObMan as a ``FrameSource`` (see ``c2f_sdf_ros.data.labelled``).

    Parameters
    ----------
    root : str or Path
        The dataset folder, holding ``train/``, ``val/``, ``test/``.
    split : {'train', 'val', 'test'}
        Which split.
    shapenet_root : str or Path
        The ShapeNetCore.v2 folder (``<synset>/<model id>/models/model_normalized.obj``).
    mano_dir : str or Path
        Folder with ``MANO_RIGHT.pkl`` (and ``MANO_LEFT.pkl`` for left hands; without it
        a left hand uses the right model's faces with reversed winding, as the left model
        is the right one mirrored). Only the faces are used.
    cache_dir : str or Path, optional
        Where SDF samples are kept as ``<split>_<id>.npy`` once computed; without it they
        are computed at every read (deterministic).
    seed : int
        Seed of the SDF sampling; frame ``<id>`` uses the stream ``(seed, int(id))``, so it
        does not depend on which frames are selected.
    frame_ids : sequence of str, or str / Path, optional
        Keep only these frames, in this order: ids, or a file with a JSON list of ids (the
        gSDF / AlignSDF split files, e.g. ``test_6k.json``) or one id per line.
    mini_factor : float, optional
        Keep the first ``int(n * mini_factor)`` frames, as the official loaders do.
    segmented_depth : bool
        Zero the depth outside the hand and object labels (obman_train does this by
        default; the scene depth otherwise also holds the body and arm).
    depth_is_ray_distance : bool
        Convert the stored distances to depth along the optical axis (see the module
        docstring); turn off only for files that hold depth already.
    sdf_near, sdf_uniform : int
        SDF samples near each surface and uniform around the wrist (``sample_sdf``).

    Raises
    ------
    FileNotFoundError
        If ``root``, ``shapenet_root``, ``mano_dir`` or ``MANO_RIGHT.pkl`` is missing, or a
        frame of ``frame_ids`` has no meta file.
    ValueError
        If ``root`` is not an ObMan folder, the split is unknown, missing or empty, or an
        option is out of range.

    """

    def __init__(self, root: str | os.PathLike, split: str = 'train', *,
                 shapenet_root: str | os.PathLike, mano_dir: str | os.PathLike,
                 cache_dir: str | os.PathLike | None = None, seed: int = 0,
                 frame_ids: Sequence[str] | str | os.PathLike | None = None,
                 mini_factor: float | None = None, segmented_depth: bool = False,
                 depth_is_ray_distance: bool = True, sdf_near: int = 1000,
                 sdf_uniform: int = 200):
        self.root = pathlib.Path(root)
        if split not in OBMAN_SPLITS:
            raise ValueError(f'split must be one of {OBMAN_SPLITS}, got {split!r}')
        self.split = split
        self.split_dir = self.root / split
        self._check_root()
        if mini_factor is not None and not 0 < mini_factor <= 1:
            raise ValueError(f'mini_factor must be in (0, 1], got {mini_factor}')
        if sdf_near < 2 or sdf_uniform < 0:
            raise ValueError(f'need sdf_near >= 2 and sdf_uniform >= 0, got {sdf_near}, '
                             f'{sdf_uniform}')

        ids = sorted(path.stem for path in (self.split_dir / 'meta').glob('*.pkl'))
        if frame_ids is not None:
            wanted = _read_id_list(frame_ids)
            present = set(ids)
            missing = [frame_id for frame_id in wanted if frame_id not in present]
            if missing:
                raise FileNotFoundError(
                    f'{len(missing)} requested frames have no meta file in '
                    f'{self.split_dir / "meta"}, e.g. {missing[:5]}')
            ids = wanted
        if mini_factor is not None:
            ids = ids[:int(len(ids) * mini_factor)]
        if not ids:
            raise ValueError(f'{self.split_dir} holds no frames to read (meta/*.pkl, after '
                             'the frame_ids / mini_factor selection)')
        self.ids: list[str] = ids

        self.shapenet_root = pathlib.Path(shapenet_root)
        if not self.shapenet_root.is_dir():
            raise FileNotFoundError(f'ShapeNet folder not found: {self.shapenet_root} '
                                    '(expected ShapeNetCore.v2 with <synset>/<model id>/'
                                    'models/model_normalized.obj)')
        self.mano_dir = pathlib.Path(mano_dir)
        right = self.mano_dir / 'MANO_RIGHT.pkl'
        if not right.is_file():
            raise FileNotFoundError(f'MANO model not found: {right} (mano_dir must hold '
                                    'MANO_RIGHT.pkl from mano.is.tue.mpg.de)')
        right_model = load_mano_pickle(right, side='right')
        self._hand_faces = {'right': right_model.faces}
        self._hand_vertex_count = right_model.num_vertices
        left = self.mano_dir / 'MANO_LEFT.pkl'
        self._hand_faces['left'] = (load_mano_pickle(left, side='left').faces
                                    if left.is_file() else right_model.faces[:, ::-1].copy())

        self.cache_dir = None if cache_dir is None else pathlib.Path(cache_dir)
        self.seed = int(seed)
        self.segmented_depth = bool(segmented_depth)
        self.depth_is_ray_distance = bool(depth_is_ray_distance)
        self.sdf_near, self.sdf_uniform = int(sdf_near), int(sdf_uniform)
        self._models: OrderedDict[pathlib.Path, trimesh.Trimesh] = OrderedDict()

    _MODEL_CACHE_SIZE = 32  # normalised object models kept in memory

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f'ObMan folder not found: {self.root}')
        if not (self.split_dir / 'meta').is_dir():
            found = [name for name in OBMAN_SPLITS if (self.root / name / 'meta').is_dir()]
            if not found:
                raise ValueError(f'{self.root} is not an ObMan folder: expected '
                                 '<root>/{train,val,test}/meta/<id>.pkl (with rgb/, depth/, '
                                 'segm/ beside meta/)')
            raise ValueError(f'{self.root} has no {self.split!r} split (no '
                             f'{self.split_dir / "meta"}); found {found}')

    def __len__(self) -> int:
        return len(self.ids)

    # -- files ---------------------------------------------------------------------------

    def _path(self, folder: str, index: int, suffix: str) -> pathlib.Path:
        return self.split_dir / folder / f'{self.ids[index]}{suffix}'

    def meta(self, index: int) -> dict:
        """Frame ``index``'s meta dict, read safely (see :func:`load_meta`)."""
        return load_meta(self._path('meta', index, '.pkl'))

    def _image(self, folder: str, index: int, suffix: str) -> np.ndarray:
        path = self._path(folder, index, suffix)
        if not path.is_file():
            raise FileNotFoundError(f'ObMan image not found: {path}')
        with Image.open(path) as image:
            return np.asarray(image)

    def _channel(self, folder: str, index: int, render: str) -> np.ndarray:
        """One render's channel of a 3-channel depth / segm PNG (a 1-channel file as is)."""
        image = self._image(folder, index, '.png')
        return image if image.ndim == 2 else image[..., CHANNELS[render]]

    def segmentation(self, index: int, render: str = 'scene') -> tuple[np.ndarray, np.ndarray]:
        """
        Hand and object masks of frame ``index``.

        Parameters
        ----------
        index : int
            Frame.
        render : {'scene', 'hand', 'object'}
            The whole scene (occlusions included), or the hand / the object rendered alone.

        Returns
        -------
        hand, object : (256, 256) bool arrays

        """
        return self._segmentation(self.meta(index), index, render)

    def _segmentation(self, meta: dict, index: int,
                      render: str) -> tuple[np.ndarray, np.ndarray]:
        if render not in CHANNELS:
            raise ValueError(f'render must be one of {tuple(CHANNELS)}, got {render!r}')
        side = self._side(meta, index)
        labels = self._channel('segm', index, render)
        return np.isin(labels, HAND_LABELS[side]), labels == OBJECT_LABEL

    def _side(self, meta: dict, index: int) -> str:
        side = meta.get('side')
        if side not in HAND_LABELS:
            raise ValueError(f'{self._path("meta", index, ".pkl")}: side must be right or '
                             f'left, got {side!r}')
        return side

    def _require(self, meta: dict, index: int, *keys: str) -> None:
        missing = [key for key in keys if key not in meta]
        if missing:
            raise ValueError(f'{self._path("meta", index, ".pkl")}: missing ObMan meta keys '
                             f'{missing}')

    def _meta_array(self, meta: dict, index: int, key: str,
                    shape: tuple[int, ...]) -> np.ndarray:
        """``meta[key]`` as a finite float64 array of ``shape``; ValueError naming the file."""
        self._require(meta, index, key)
        where = self._path('meta', index, '.pkl')
        try:
            array = np.asarray(meta[key], np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f'{where}: {key} is not numeric ({error})') from error
        if array.shape != shape or not np.all(np.isfinite(array)):
            raise ValueError(f'{where}: {key} must be a finite {shape} array, got '
                             f'{array.shape}')
        return array

    # -- frames --------------------------------------------------------------------------

    def camera(self, index: int = 0) -> CameraIntrinsics:
        """Frame ``index``'s intrinsics (``cam_calib`` if a meta file has one, else ObMan's)."""
        return self._camera(self.meta(index), index)

    def _camera(self, meta: dict, index: int) -> CameraIntrinsics:
        if meta.get('cam_calib') is None:
            return obman_camera()
        return obman_camera(self._meta_array(meta, index, 'cam_calib', (3, 3)))

    def _to_camera(self, meta: dict, index: int) -> np.ndarray:
        """3x3 rotation from the stored coordinates to the OpenCV camera frame."""
        extrinsic = meta.get('cam_extr')
        if extrinsic is None:
            return BLENDER_TO_OPENCV
        where = self._path('meta', index, '.pkl')
        extrinsic = np.asarray(extrinsic, np.float64)
        if extrinsic.shape not in ((3, 4), (4, 4), (3, 3)):
            raise ValueError(f'{where}: cam_extr must be 3x3, 3x4 or 4x4, got '
                             f'{extrinsic.shape}')
        if extrinsic.shape[1] == 4 and np.any(extrinsic[:3, 3] != 0):
            raise ValueError(f'{where}: cam_extr has a translation; ObMan cameras have none')
        return extrinsic[:3, :3]

    def joints(self, index: int) -> np.ndarray:
        """(21, 3) joints of frame ``index`` in the camera frame (m), project order."""
        return self._joints(self.meta(index), index)

    def _joints(self, meta: dict, index: int) -> np.ndarray:
        coords = self._meta_array(meta, index, 'coords_3d', (21, 3))
        return (coords @ self._to_camera(meta, index).T)[list(OBMAN_TO_PROJECT_JOINTS)]

    def object_pose(self, index: int) -> np.ndarray:
        """4x4 map from the normalised ShapeNet model to the camera frame (scale included)."""
        return self._object_pose(self.meta(index), index)

    def _object_pose(self, meta: dict, index: int) -> np.ndarray:
        affine = self._meta_array(meta, index, 'affine_transform', (4, 4))
        pose = np.eye(4)
        pose[:3] = self._to_camera(meta, index) @ affine[:3]
        return pose

    def read(self, index: int) -> LabelledFrame:
        """Frame ``index`` with its ground truth (camera frame, m; ``sdf`` filled)."""
        frame_id = self.ids[index]
        meta = self.meta(index)
        self._require(meta, index, 'side', 'coords_3d', 'affine_transform', 'depth_min',
                      'depth_max')
        color = self._image('rgb', index, '.jpg')
        if color.ndim == 2:
            color = np.repeat(color[..., None], 3, axis=2)
        color = np.ascontiguousarray(color[..., :3], dtype=np.uint8)
        camera = self._camera(meta, index)
        if color.shape[:2] != (camera.height, camera.width):
            raise ValueError(f'{self._path("rgb", index, ".jpg")}: expected '
                             f'{camera.width}x{camera.height}, got {color.shape[1]}x'
                             f'{color.shape[0]}')
        joints = self._joints(meta, index)
        return LabelledFrame(
            frame_id=frame_id, color=color, depth=self._depth(meta, index, 'scene', camera),
            camera=camera, root=joints[0].copy(), joints=joints,
            object_center=self._object_pose(meta, index)[:3, 3].copy(),
            sdf=self._sdf(meta, index).astype(np.float64), side=self._side(meta, index))

    def depth(self, index: int, render: str = 'scene') -> np.ndarray:
        """
        (256, 256) float32 depth of frame ``index`` along the optical axis (m), 0 = none.

        ``render`` picks the whole scene ('scene') or the hand / object rendered alone
        ('hand', 'object').
        """
        meta = self.meta(index)
        return self._depth(meta, index, render, self._camera(meta, index))

    def _depth(self, meta: dict, index: int, render: str,
               camera: CameraIntrinsics) -> np.ndarray:
        if render not in CHANNELS:
            raise ValueError(f'render must be one of {tuple(CHANNELS)}, got {render!r}')
        key_min, key_max = DEPTH_RANGE_KEYS[render]
        self._require(meta, index, key_min, key_max)
        encoded = self._channel('depth', index, render)
        if encoded.shape != (camera.height, camera.width):
            raise ValueError(f'{self._path("depth", index, ".png")}: expected '
                             f'{camera.width}x{camera.height}, got {encoded.shape[::-1]}')
        depth = decode_depth(encoded, float(meta[key_min]), float(meta[key_max]))
        if self.depth_is_ray_distance:
            depth = ray_distance_to_depth(depth, camera)
        if self.segmented_depth:
            hand, obj = self._segmentation(meta, index, 'scene')
            depth = np.where(hand | obj, depth, 0.0).astype(np.float32)
        return depth

    # -- meshes and SDF ------------------------------------------------------------------

    def _model(self, path: pathlib.Path) -> trimesh.Trimesh:
        model = self._models.get(path)
        if model is None:
            model = load_shapenet_model(path)
            self._models[path] = model
            if len(self._models) > self._MODEL_CACHE_SIZE:
                self._models.popitem(last=False)
        else:
            self._models.move_to_end(path)
        return model

    def hand_mesh(self, index: int) -> trimesh.Trimesh:
        """Frame ``index``'s MANO hand (camera frame, m), closed at the wrist."""
        return self._hand_mesh(self.meta(index), index)

    def _hand_mesh(self, meta: dict, index: int) -> trimesh.Trimesh:
        vertices = self._meta_array(meta, index, 'verts_3d', (self._hand_vertex_count, 3))
        vertices = vertices @ self._to_camera(meta, index).T
        faces = self._hand_faces[self._side(meta, index)]
        closed_vertices, closed_faces = watertight_mesh(vertices, faces)
        return trimesh.Trimesh(closed_vertices, closed_faces, process=False)

    def object_mesh(self, index: int) -> trimesh.Trimesh:
        """Frame ``index``'s object (camera frame, m), watertight."""
        return self._object_mesh(self.meta(index), index)

    def _object_mesh(self, meta: dict, index: int) -> trimesh.Trimesh:
        try:
            path = shapenet_model_path(meta, self.shapenet_root)
        except ValueError as error:
            raise ValueError(f'{self._path("meta", index, ".pkl")}: {error}') from error
        model = self._model(path)
        pose = self._object_pose(meta, index)
        vertices = model.vertices @ pose[:3, :3].T + pose[:3, 3]
        faces = np.asarray(model.faces)
        if np.linalg.det(pose[:3, :3]) < 0:  # a reflection turns the surface inside out
            faces = faces[:, ::-1]
        return trimesh.Trimesh(vertices, faces, process=False)

    def meshes(self, index: int) -> tuple[trimesh.Trimesh, trimesh.Trimesh]:
        """Ground-truth hand and object meshes of frame ``index`` (camera frame, m)."""
        meta = self.meta(index)
        return self._hand_mesh(meta, index), self._object_mesh(meta, index)

    def sdf_cache_path(self, index: int) -> pathlib.Path | None:
        """``<cache_dir>/<split>_<id>.npy``, or None without a cache."""
        if self.cache_dir is None:
            return None
        return self.cache_dir / f'{self.split}_{self.ids[index]}.npy'

    def sdf(self, index: int) -> np.ndarray:
        """
        Frame ``index``'s SDF samples, float32 (2 * sdf_near + sdf_uniform, 5).

        Rows ``[x, y, z, sdf_hand, sdf_object]`` in the camera frame (m), laid out as
        ``sample_sdf`` documents; read from the cache when there, else computed (and cached).
        """
        return self._sdf(None, index)

    def _sdf(self, meta: dict | None, index: int) -> np.ndarray:
        def compute() -> np.ndarray:
            frame_meta = self.meta(index) if meta is None else meta
            hand = self._hand_mesh(frame_meta, index)
            obj = self._object_mesh(frame_meta, index)
            frame_id = self.ids[index]
            stream = [self.seed, int(frame_id)] if frame_id.isdigit() else [self.seed, index]
            return sample_sdf(hand, obj, self._joints(frame_meta, index)[0],
                              np.random.default_rng(stream), near=self.sdf_near,
                              uniform=self.sdf_uniform)

        return cached_sdf_samples(self.sdf_cache_path(index),
                                  2 * self.sdf_near + self.sdf_uniform, compute)
