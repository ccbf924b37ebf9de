"""
Read access to a ``c2f-sdf synth`` folder.

It is a frame folder (the ``data.frame_folder`` layout) plus per-frame ``meta/<id>.json``,
ground-truth meshes ``mesh/<id>_{hand,object}.ply`` and SDF samples ``sdf/<id>.npy``
(docs/data-format.md).
"""

from __future__ import annotations

import json
import pathlib
from typing import TYPE_CHECKING

import numpy as np

from c2f_sdf_ros.data.frame_folder import RgbdFrame, read_frame
from c2f_sdf_ros.data.labelled import LabelledFrame
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

if TYPE_CHECKING:
    import trimesh


class SynthFolder:
    """
    Read access to a ``c2f-sdf synth`` folder.

    Raises ValueError if ``root`` is not one (no info.json / meta).
    """

    def __init__(self, root: str | pathlib.Path):
        self.root = pathlib.Path(root)
        info = self.root / 'info.json'
        if not info.is_file():
            raise ValueError(f'{self.root} is not a synthetic data folder (no info.json)')
        self.info = json.loads(info.read_text())
        self.ids = sorted(p.stem for p in (self.root / 'meta').glob('*.json'))
        if not self.ids:
            raise ValueError(f'{self.root} holds no frames (meta/*.json)')

    def __len__(self) -> int:
        return len(self.ids)

    def meta(self, index: int) -> dict:
        """The frame's meta JSON."""
        return json.loads((self.root / 'meta' / f'{self.ids[index]}.json').read_text())

    def mesh_paths(self, index: int) -> tuple[pathlib.Path, pathlib.Path]:
        """Ground-truth hand and object PLY (camera frame)."""
        frame_id = self.ids[index]
        return (self.root / 'mesh' / f'{frame_id}_hand.ply',
                self.root / 'mesh' / f'{frame_id}_object.ply')

    def meshes(self, index: int) -> tuple[trimesh.Trimesh, trimesh.Trimesh]:
        """Ground-truth hand and object meshes (camera frame, m)."""
        import trimesh  # here, not at the top: training on packed frames needs no meshes
        return tuple(trimesh.load(path, force='mesh', process=False)
                     for path in self.mesh_paths(index))

    def rgbd(self, index: int) -> tuple[RgbdFrame, dict]:
        """Frame ``index``'s images (intrinsics from its meta) and its meta, read once."""
        meta = self.meta(index)
        cam = meta['camera']
        camera = CameraIntrinsics.from_matrix(np.array(cam['K']), cam['width'], cam['height'])
        return read_frame(self.root, self.ids[index], camera), meta

    def read(self, index: int) -> LabelledFrame:
        """Load frame ``index``."""
        frame_id = self.ids[index]
        frame, meta = self.rgbd(index)
        camera = frame.camera
        return LabelledFrame(
            frame_id, frame.color, frame.depth, camera, np.array(meta['hand_root'], float),
            np.array(meta['joints_3d'], float), np.array(meta['camera_T_object'])[:3, 3],
            np.load(self.root / 'sdf' / f'{frame_id}.npy').astype(np.float64),
            meta['hand_side'])
