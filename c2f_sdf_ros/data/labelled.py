"""
The frame type every dataset reader returns, and the interface readers implement.

Readers: ``c2f_sdf_ros.data.synth_folder.SynthFolder`` (``c2f-sdf synth`` output),
``c2f_sdf_ros.data.dexycb`` and ``c2f_sdf_ros.data.obman``. Training and evaluation only
use ``FrameSource``, so a new dataset needs a reader and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
import pathlib
from typing import TYPE_CHECKING, Protocol

import numpy as np

from c2f_sdf_ros.geometry.camera import CameraIntrinsics

if TYPE_CHECKING:   # meshes are only read where trimesh is installed (not on a GPU box)
    import trimesh


@dataclass
class LabelledFrame:
    """
    One RGB-D frame with the ground truth training and evaluation need (camera frame, m).

    Every dataset reader (synthetic folders, DexYCB, ObMan) returns these.
    """

    frame_id: str
    color: np.ndarray          # (H, W, 3) uint8
    depth: np.ndarray          # (H, W) float32 metres, 0 = none
    camera: CameraIntrinsics
    root: np.ndarray           # (3,)
    joints: np.ndarray         # (21, 3)
    object_center: np.ndarray  # (3,)
    sdf: np.ndarray            # (M, 5) [x, y, z, sdf_hand, sdf_object]
    side: str


class FrameSource(Protocol):
    """What training and evaluation need from a dataset reader."""

    root: pathlib.Path
    ids: list[str]

    def __len__(self) -> int:
        """Number of frames."""

    def read(self, index: int) -> LabelledFrame:
        """Frame ``index`` with its ground truth (``sdf`` filled)."""

    def meshes(self, index: int) -> tuple[trimesh.Trimesh, trimesh.Trimesh]:
        """Ground-truth hand and object meshes of frame ``index`` (camera frame, m)."""
