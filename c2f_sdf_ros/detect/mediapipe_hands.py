"""
Hands from MediaPipe Hands (legacy ``solutions`` graph, models bundled in the wheel).

``MediaPipeHandDetector`` runs MediaPipe's palm detector and 21-landmark model on the frame,
lifts each hand's landmarks to metric joints with the aligned depth (``lifting``), and
decides the side (``handedness``). It needs ``mediapipe==0.10.14`` (the last wheels with
``solutions`` and the ``.tflite`` models inside; nothing is downloaded at run time); it is
imported lazily, so this module imports without it.

Two things MediaPipe gets wrong on a robot's camera, and what is done about them:

- **Handedness.** MediaPipe labels hands as if the image were mirrored (a selfie camera), so
  on a normal camera its label is flipped here; and it confuses a right hand seen from the
  back with a left hand seen from the palm (the two look alike in 2D). The flipped label is
  therefore combined with the geometric side of the depth-lifted joints
  (``handedness.combine_sides``): where depth measured the fingers flexing, that decides.
- **Small or partly hidden hands.** The palm detector sees the whole image letterboxed to
  192x192, so a 16:9 frame wastes 44 % of it and a hand partly behind the object it holds
  is often missed. When the first pass finds fewer hands than wanted (``second_pass``),
  the image is searched again in square tiles of side min(W, H) / ``tile_zoom`` (no
  letterbox), if that gains at least ``min_tile_gain`` in resolution. The default zoom 1.5
  sees a 4:3 image 2x finer than the first pass (4 tiles) and a 16:9 one 2.7x (6 tiles):
  a robot's head camera sees hands at 1.5-2 m as 40-60 px, which the first pass misses
  (on the IRVL Fetch frames it found 7 of 10 such hands, the tiles 8 of 10, with no
  false hand on hand-free frames). Each tile costs a palm detection (15-20 ms on two
  cores), paid only on frames where the first pass found nothing. Hands found twice are
  merged, keeping the higher score.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import math
import warnings

import numpy as np

from c2f_sdf_ros.detect.handedness import combine_sides, flip_side, side_from_joints
from c2f_sdf_ros.detect.hands import (
    NUM_JOINTS,
    SIDE_LEFT,
    SIDE_RIGHT,
    SIDE_UNKNOWN,
    DetectedHand,
    check_frame,
    dedupe,
)
from c2f_sdf_ros.detect.lifting import LiftConfig, lift_landmarks
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

MEDIAPIPE_VERSION = '0.10.14'
INSTALL_HINT = (
    f'the MediaPipe hand detector needs mediapipe=={MEDIAPIPE_VERSION} (the legacy '
    '"solutions" API with its models inside the wheel; 0.10.30 and later dropped both). '
    'scripts/setup.sh installs it; by hand: pip install --no-deps '
    f'mediapipe=={MEDIAPIPE_VERSION} and pip install "protobuf>=4.25.3,<5" '
    'opencv-python-headless attrs matplotlib')
# The legacy Hands graph, as mediapipe.solutions.hands.Hands builds it; ours also observes
# the palm detections (their scores are the hands' detection scores).
_GRAPH = 'mediapipe/modules/hand_landmark/hand_landmark_tracking_cpu.binarypb'
_OUTPUTS = ['multi_hand_landmarks', 'multi_handedness', 'palm_detections']
SECOND_PASS_MODES = ('off', 'none_found', 'fewer')


def import_solution_base():
    """
    MediaPipe's ``SolutionBase`` class.

    Raises
    ------
    ImportError
        With install instructions when mediapipe is missing or has no legacy solutions.

    """
    try:
        from mediapipe.python import solution_base
        import mediapipe.python.solutions.hands  # noqa: F401 (the graph's calculators)
    except ImportError as error:  # also ModuleNotFoundError
        raise ImportError(f'{INSTALL_HINT} ({error})') from error
    except Exception as error:  # a broken install (e.g. protobuf 3.x) fails in odd ways
        raise ImportError(f'{INSTALL_HINT} (importing mediapipe failed: '
                          f'{type(error).__name__}: {error})') from error
    return solution_base.SolutionBase


@dataclass(frozen=True)
class _Candidate:
    landmarks_px: np.ndarray  # (21, 2) full-image pixels
    rel_z: np.ndarray  # (21,) pixels
    label_side: str  # MediaPipe's label, for a mirrored image
    label_score: float
    score: float


def square_tiles(width: int, height: int, zoom: float = 1.0,
                 min_overlap: float = 0.2) -> list[tuple[int, int, int]]:
    """
    Square tiles covering an image, for a detector that letterboxes to a square.

    Parameters
    ----------
    width, height : int
        Image size.
    zoom : float
        Tile side is min(width, height) / zoom (>= 1).
    min_overlap : float
        Least overlap of neighbouring tiles, as a fraction of the side, in [0, 1).

    Returns
    -------
    list of (u0, v0, side)
        Tiles' top-left corners and side (pixels); one tile equal to the whole image when
        the image is square and ``zoom`` is 1.

    """
    if width <= 0 or height <= 0:
        raise ValueError(f'image size must be positive, got {width}x{height}')
    if not zoom >= 1.0 or not math.isfinite(zoom):
        raise ValueError(f'zoom must be >= 1, got {zoom}')
    if not 0.0 <= min_overlap < 1.0:
        raise ValueError(f'min_overlap must be in [0, 1), got {min_overlap}')
    side = max(1, round(min(width, height) / zoom))

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        count = math.ceil((length - side) / (side * (1.0 - min_overlap))) + 1
        return [round(x) for x in np.linspace(0, length - side, count)]

    return [(u, v, side) for v in starts(height) for u in starts(width)]


class MediaPipeHandDetector:
    """
    Hands from MediaPipe Hands, lifted to metric 3D joints with the aligned depth.

    Parameters
    ----------
    max_hands : int
        Most hands returned (and tracked).
    min_score : float
        Least palm-detection score for a hand, in [0, 1].
    min_presence : float
        Least hand-presence score of MediaPipe's landmark model, in [0, 1].
    model_complexity : int
        0 (lite palm and landmark models, faster) or 1 (full).
    static_image_mode : bool
        True: every frame is searched from scratch. False (tracking): MediaPipe follows
        the previous frame's hands and runs its palm detector only when it has fewer than
        ``max_hands``; for a live camera.
    second_pass : str
        When to search the image again in square tiles: ``'off'``, ``'none_found'`` (the
        first pass found no hand) or ``'fewer'`` (it found fewer than ``max_hands``).
    tile_zoom : float
        Tile side is min(W, H) / tile_zoom (>= 1; more zoom finds smaller hands, with
        more tiles).
    min_tile_gain : float
        The second pass runs only when its tiles see the image at least this many times
        finer than the first pass (max(W, H) / tile side).
    mirrored : bool
        True if the images are mirrored (a selfie view); MediaPipe's label is then kept.
    lift_config : LiftConfig, optional
        Settings of the depth lifting.

    Raises
    ------
    ImportError
        When mediapipe (0.10.14, with ``solutions``) cannot be imported.
    ValueError
        On an invalid setting.

    """

    def __init__(self, max_hands: int = 2, min_score: float = 0.3, min_presence: float = 0.5,
                 model_complexity: int = 1, static_image_mode: bool = True,
                 second_pass: str = 'none_found', tile_zoom: float = 1.5,
                 min_tile_gain: float = 1.5, mirrored: bool = False,
                 lift_config: LiftConfig | None = None):
        if int(max_hands) != max_hands or max_hands < 1:
            raise ValueError(f'max_hands must be a positive integer, got {max_hands}')
        for name, value in (('min_score', min_score), ('min_presence', min_presence)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value}')
        if model_complexity not in (0, 1):
            raise ValueError(f'model_complexity must be 0 or 1, got {model_complexity}')
        if second_pass not in SECOND_PASS_MODES:
            raise ValueError(f'second_pass must be one of {SECOND_PASS_MODES}, got '
                             f'{second_pass!r}')
        square_tiles(2, 1, tile_zoom)  # validates tile_zoom
        if not min_tile_gain >= 1.0 or not math.isfinite(min_tile_gain):
            raise ValueError(f'min_tile_gain must be >= 1, got {min_tile_gain}')
        self.max_hands = int(max_hands)
        self.min_score = float(min_score)
        self.min_presence = float(min_presence)
        self.model_complexity = int(model_complexity)
        self.static_image_mode = bool(static_image_mode)
        self.second_pass = second_pass
        self.tile_zoom = float(tile_zoom)
        self.min_tile_gain = float(min_tile_gain)
        self.mirrored = bool(mirrored)
        self.lift_config = lift_config or LiftConfig()
        self._solution_base = import_solution_base()
        self._graph = self._new_graph(self.static_image_mode)
        self._tile_graph = None
        self.last_dropped: list[str] = []

    def _new_graph(self, static_image_mode: bool):
        return self._solution_base(
            binary_graph_path=_GRAPH,
            side_inputs={'model_complexity': self.model_complexity,
                         'num_hands': self.max_hands,
                         'use_prev_landmarks': not static_image_mode},
            calculator_params={
                'palmdetectioncpu__TensorsToDetectionsCalculator.min_score_thresh':
                    self.min_score,
                'handlandmarkcpu__ThresholdingCalculator.threshold': self.min_presence},
            outputs=_OUTPUTS)

    def close(self) -> None:
        """Release MediaPipe's graphs (the detector is unusable after)."""
        graphs = [self._graph]
        if self._tile_graph is not None and self._tile_graph is not self._graph:
            graphs.append(self._tile_graph)
        for graph in graphs:
            if graph is not None:
                graph.close()
        self._graph = self._tile_graph = None

    def __enter__(self) -> MediaPipeHandDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, graph, image: np.ndarray, u0: int, v0: int) -> list[_Candidate]:
        """Raw MediaPipe hands in ``image``, a crop whose corner is (u0, v0) in the frame."""
        h, w = image.shape[:2]
        with warnings.catch_warnings():
            # protobuf 4.25 warns about an API that mediapipe 0.10.14 calls on every frame.
            warnings.filterwarnings('ignore', message='SymbolDatabase.GetPrototype')
            result = graph.process(np.ascontiguousarray(image))
        palms = []
        for detection in result.palm_detections or []:
            box = detection.location_data.relative_bounding_box
            palms.append((float(detection.score[0]) if detection.score else 0.0,
                          (box.xmin + box.width / 2) * w + u0 - 0.5,
                          (box.ymin + box.height / 2) * h + v0 - 0.5))
        candidates = []
        for landmarks, handedness in zip(result.multi_hand_landmarks or [],
                                         result.multi_handedness or [], strict=False):
            xyz = np.array([(p.x, p.y, p.z) for p in landmarks.landmark], dtype=np.float64)
            if xyz.shape != (NUM_JOINTS, 3) or not np.all(np.isfinite(xyz)):
                continue
            pixels = np.stack([xyz[:, 0] * w + u0 - 0.5, xyz[:, 1] * h + v0 - 0.5], axis=1)
            label = handedness.classification[0]
            label_side = {'left': SIDE_LEFT, 'right': SIDE_RIGHT}.get(label.label.lower(),
                                                                       SIDE_UNKNOWN)
            label_score = float(np.clip(label.score, 0.0, 1.0))
            # The hand's detection score: the best palm detection inside its box (a hand
            # followed from the previous frame has none; its label score stands in).
            low, high = pixels.min(axis=0), pixels.max(axis=0)
            margin = 0.1 * (high - low)
            inside = [s for s, u, v in palms
                      if low[0] - margin[0] <= u <= high[0] + margin[0]
                      and low[1] - margin[1] <= v <= high[1] + margin[1]]
            score = max(inside) if inside else label_score
            candidates.append(_Candidate(pixels, xyz[:, 2] * w, label_side, label_score,
                                         float(np.clip(score, 0.0, 1.0))))
        return candidates

    def _tiles_pass(self, color: np.ndarray) -> list[_Candidate]:
        h, w = color.shape[:2]
        tiles = square_tiles(w, h, self.tile_zoom)
        if max(w, h) / tiles[0][2] < self.min_tile_gain:
            return []  # not worth a palm detection per tile
        if self._tile_graph is None:
            self._tile_graph = (self._graph if self.static_image_mode
                                else self._new_graph(True))
        found = []
        for u0, v0, side in tiles:
            found += self._run(self._tile_graph, color[v0:v0 + side, u0:u0 + side], u0, v0)
        return found

    def detect_with_reasons(self, color: np.ndarray, depth: np.ndarray,
                            camera: CameraIntrinsics) -> tuple[list[DetectedHand], list[str]]:
        """
        Hands in the frame, and why the hands that were seen but not returned were dropped.

        Parameters
        ----------
        color : (H, W, 3) uint8
            RGB image.
        depth : (H, W) float
            Depth in metres aligned to color (0 or NaN: no measurement).
        camera : CameraIntrinsics
            Intrinsics of the color image.

        Returns
        -------
        hands : list of DetectedHand
            At most ``max_hands``, lifted, best score first.
        dropped : list of str
            One ``lifting.LIFT_REASONS`` entry per hand that could not be lifted.

        Raises
        ------
        ValueError
            On malformed input or a closed detector.

        """
        check_frame(color, depth, camera)
        if self._graph is None:
            raise ValueError('the detector is closed')
        candidates = self._run(self._graph, color, 0, 0)
        wanted = {'off': 0, 'none_found': 1, 'fewer': self.max_hands}[self.second_pass]
        if len(candidates) < wanted:
            candidates += self._tiles_pass(color)
        keep = dedupe([c.landmarks_px for c in candidates], [c.score for c in candidates])
        hands, dropped = [], []
        for candidate in (candidates[i] for i in keep):
            if candidate.score < self.min_score:
                continue
            hand, reason = self._lift(candidate, depth, camera)
            if hand is None:
                dropped.append(reason)
            else:
                hands.append(hand)
            if len(hands) == self.max_hands:
                break
        self.last_dropped = dropped
        return hands, dropped

    def detect(self, color: np.ndarray, depth: np.ndarray,
               camera: CameraIntrinsics) -> list[DetectedHand]:
        """Hands in the frame, best first (see ``detect_with_reasons``)."""
        return self.detect_with_reasons(color, depth, camera)[0]

    def _lift(self, candidate: _Candidate, depth: np.ndarray,
              camera: CameraIntrinsics) -> tuple[DetectedHand | None, str]:
        lifted = lift_landmarks(candidate.landmarks_px, candidate.rel_z, depth, camera,
                                self.lift_config)
        if not lifted.ok:
            return None, lifted.reason
        label_side = (candidate.label_side if self.mirrored
                      else flip_side(candidate.label_side))
        # Only depth-measured joints count as geometric evidence: the others carry
        # MediaPipe's relative depth, which follows its own (possibly wrong) label.
        geometry_side, geometry_confidence = side_from_joints(
            lifted.joints, lifted.visible.astype(np.float64))
        side, side_score = combine_sides(label_side, candidate.label_score, geometry_side,
                                         geometry_confidence)
        hand = DetectedHand.from_landmarks(candidate.landmarks_px, candidate.rel_z,
                                           candidate.score, side, side_score)
        return replace(hand, joints=lifted.joints, visible=lifted.visible), ''
