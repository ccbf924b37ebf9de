"""
The pipeline's first stage: where the hands are, as seeds for the model's crops.

Two finders behind one interface. ``mediapipe`` (the default) is a real hand detector
(``c2f_sdf_ros.detect``): 21 landmarks per hand lifted to metric joints with the depth,
the side for a non-mirrored camera, several hands, and no hand on a face or a box.
``skin_depth`` is the fallback that needs no model (``reconstruct.localise``): one
skin-coloured blob, no side, fooled by skin-coloured things. When MediaPipe is not
installed, asking for it gives the fallback and one warning line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging

import numpy as np

from c2f_sdf_ros.detect import SIDE_UNKNOWN, make_detector
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.reconstruct.localise import SkinDepthConfig, SkinDepthLocaliser

FINDERS = ('mediapipe', 'skin_depth')
LOG = logging.getLogger('c2f_sdf_ros.reconstruct')


@dataclass(frozen=True)
class HandSeed:
    """
    One hand as the finder saw it: where to crop, and what is known before the model runs.

    Attributes
    ----------
    root : (3,) array
        Crop centre in the camera optical frame (m): the detected wrist, or the blob's
        centroid for the fallback.
    box : (4,) array
        Pixel box (u_min, v_min, u_max, v_max).
    score : float
        Detection confidence in [0, 1].
    side : str
        'left', 'right' or 'unknown' (non-mirrored camera).
    joints : (21, 3) array or None
        Detected joints (camera frame, m) when the finder gives them; the crop is then
        final (no re-centring on the model's own wrist).

    """

    root: np.ndarray
    box: np.ndarray
    score: float
    side: str = SIDE_UNKNOWN
    joints: np.ndarray | None = None

    @property
    def detected_joints(self) -> bool:
        """Whether a detector measured the joints (not a blob's guess)."""
        return self.joints is not None


@dataclass(frozen=True)
class FinderConfig:
    """
    Which detector seeds the crops, and how many hands a frame may give.

    The node sets it from its ``detector``, ``max_hands`` and ``min_hand_score``
    parameters; without MediaPipe installed, ``mediapipe`` falls back to ``skin_depth``.

    Attributes
    ----------
    detector : str
        One of ``FINDERS``.
    max_hands : int
        Most hands per frame (each is reconstructed in its own crop).
    min_hand_score : float
        Least detection score of a hand, in [0, 1] (MediaPipe's palm score; the fallback's
        blobs are judged by their size instead).
    skin_depth : SkinDepthConfig
        Settings of the fallback.

    """

    detector: str = 'mediapipe'
    max_hands: int = 2
    min_hand_score: float = 0.3
    skin_depth: SkinDepthConfig = field(default_factory=SkinDepthConfig)

    def __post_init__(self):
        if self.detector not in FINDERS:
            raise ValueError(f'detector must be one of {FINDERS}, got {self.detector!r}')
        if int(self.max_hands) != self.max_hands or not 1 <= self.max_hands <= 8:
            raise ValueError(f'max_hands must be an integer in [1, 8], got {self.max_hands}')
        if not 0.0 <= self.min_hand_score <= 1.0:
            raise ValueError(f'min_hand_score must be in [0, 1], got {self.min_hand_score}')


class HandFinder:
    """
    Finds hand seeds in a frame with the configured detector (see the module docstring).

    ``name`` says which finder runs (the fallback when MediaPipe is missing).
    """

    def __init__(self, config: FinderConfig | None = None):
        self.config = config or FinderConfig()
        self._detector = None
        self._localiser = SkinDepthLocaliser(self.config.skin_depth)
        self.name = 'skin_depth'
        if self.config.detector == 'mediapipe':
            try:
                # Detection below min_hand_score is filtered here, so MediaPipe's own
                # threshold stays at its permissive default (its tiles pass needs it).
                self._detector = make_detector('mediapipe', max_hands=self.config.max_hands)
                self.name = 'mediapipe'
            except ImportError as error:
                LOG.warning('MediaPipe is not installed (%s); falling back to the skin/depth '
                            'localiser, which takes skin-coloured things for hands',
                            str(error).splitlines()[0])

    def find(self, color: np.ndarray, depth: np.ndarray,
             camera: CameraIntrinsics) -> list[HandSeed]:
        """
        Hands in the frame, best first, at most ``max_hands``.

        Parameters
        ----------
        color : (H, W, 3) uint8
            RGB image.
        depth : (H, W) float32
            Depth in metres aligned to color, 0 = missing (already checked).
        camera : CameraIntrinsics
            Intrinsics of both.

        Returns
        -------
        list of HandSeed (empty: no hand).

        """
        if self._detector is None:
            # The blob's score is its size relative to a hand's, not a detection
            # confidence: the localiser's own size rules decide, not min_hand_score.
            found = self._localiser.locate(color, depth, camera)
            if found is None:
                return []
            return [HandSeed(found.root, found.box, float(found.score))]
        seeds = []
        for hand in self._detector.detect(color, depth, camera):
            if hand.score < self.config.min_hand_score:
                continue
            seeds.append(HandSeed(np.array(hand.root), np.array(hand.box), float(hand.score),
                                  hand.side, np.array(hand.joints)))
        return seeds[:self.config.max_hands]

    def close(self) -> None:
        """Release the detector's resources."""
        if self._detector is not None:
            self._detector.close()
