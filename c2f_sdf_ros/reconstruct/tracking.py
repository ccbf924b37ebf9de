"""
Hands and objects over time: stable track ids and smoothed joints, without ROS.

``HandTracker.update(frame, stamp)`` takes one frame's reconstruction (a
``FrameReconstruction``, a list of ``Reconstruction`` or one) and its time stamp (s) and
returns a ``TrackedHand`` per hand found, in the frame's order:

- **Association.** Each live hand track is matched to at most one hand of the frame by
  the 3D distance of the roots (Hungarian assignment, ``scipy``), within ``hand_gate``.
  A hand whose detector side contradicts the track's joins it only when the track's side
  is established (``cross_side_votes`` more votes for it than against) and within half
  the gate: then the track's majority side stands, so one mislabelled frame changes
  neither the published side nor the id; a new track never swallows the other hand.
  Unmatched hands start new tracks. Objects (the centres of the hands' objects) are
  tracked the same way with ``object_gate``, after merging a frame's object centres closer
  than ``object_merge`` (two hands on one object share its id).
- **Gaps.** A track not seen for more than ``max_gap`` seconds ends; a hand seen after
  that gets a new id. A stamp earlier than the previous one (a replayed log starting over)
  ends every track.
- **Smoothing.** Joints, root and object centre go through a One Euro filter per track
  (Casiez et al., CHI 2012): a low-pass filter whose cutoff rises with speed, so a still
  hand stops jittering and a moving one does not lag.
- **Side.** The detector's side; when it says 'unknown', the side the joints' geometry
  gives (``detect.side_from_joints``) if it is confident; the track's side is the majority
  of its observations' known sides.

Ids start at 1 and are never reused within one tracker.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from c2f_sdf_ros.detect import flip_side, side_from_joints
from c2f_sdf_ros.reconstruct.pipeline import FrameReconstruction, Reconstruction

SIDES = ('left', 'right')
UNKNOWN = 'unknown'
# Assignment cost of a forbidden pair (larger than any gate).
_FORBIDDEN = 1e6


@dataclass(frozen=True)
class OneEuroConfig:
    """
    The One Euro filter's parameters (Casiez, Roussel and Vogel, CHI 2012).

    Its cutoff frequency rises with the signal's speed: a still hand is smoothed hard, so
    its jitter goes, and a moving one is followed with little lag.

    Attributes
    ----------
    min_cutoff : float
        Cutoff frequency (Hz) at rest: lower smooths a still hand more.
    beta : float
        Cutoff increase per unit of speed (Hz per m/s): higher lags less when moving.
    d_cutoff : float
        Cutoff (Hz) of the low-pass filter on the speed estimate.

    """

    min_cutoff: float = 1.0
    beta: float = 20.0
    d_cutoff: float = 1.0

    def __post_init__(self):
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise ValueError(f'need min_cutoff > 0, d_cutoff > 0, beta >= 0; got '
                             f'{self.min_cutoff}, {self.d_cutoff}, {self.beta}')


def smoothing_factor(cutoff: float, dt: float) -> float:
    """Exponential smoothing factor of a first-order low-pass at ``cutoff`` Hz, step ``dt``."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """
    One Euro filter of an array signal (any shape; every element filtered).

    The speed that raises the cutoff is taken per point: the norm over the last axis
    (``point_axis=True``, e.g. (21, 3) joints: each joint's 3D speed) or per element.

    Parameters
    ----------
    config : OneEuroConfig
    point_axis : bool
        Speed per point (norm over the last axis) instead of per element.

    """

    def __init__(self, config: OneEuroConfig = OneEuroConfig(), point_axis: bool = True):
        self.config = config
        self.point_axis = point_axis
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None
        self.stamp: float | None = None

    def reset(self) -> None:
        """Forget the past: the next sample passes through unchanged."""
        self.value = self.speed = self.stamp = None

    def __call__(self, x: np.ndarray, stamp: float) -> np.ndarray:
        """
        Filter sample ``x`` taken at ``stamp`` (s); returns the filtered value.

        The first sample (or one after ``reset``) is returned as it is. A sample with a
        stamp not after the previous one leaves the output unchanged.

        Raises
        ------
        ValueError
            On a shape different from the first sample's, or a non-finite stamp.

        """
        x = np.asarray(x, float)
        if not math.isfinite(stamp):
            raise ValueError(f'stamp must be finite, got {stamp}')
        if self.value is None:
            self.value, self.speed, self.stamp = x.copy(), np.zeros_like(x), stamp
            return self.value.copy()
        if x.shape != self.value.shape:
            raise ValueError(f'sample shape {x.shape} differs from {self.value.shape}')
        dt = stamp - self.stamp
        if dt <= 0:
            return self.value.copy()
        c = self.config
        a_d = smoothing_factor(c.d_cutoff, dt)
        self.speed = a_d * (x - self.value) / dt + (1.0 - a_d) * self.speed
        speed = np.abs(self.speed)
        if self.point_axis and x.ndim >= 1:
            speed = np.repeat(np.linalg.norm(self.speed, axis=-1, keepdims=True),
                              x.shape[-1], axis=-1)
        tau = 1.0 / (2.0 * math.pi * (c.min_cutoff + c.beta * speed))
        alpha = 1.0 / (1.0 + tau / dt)
        self.value = alpha * x + (1.0 - alpha) * self.value
        self.stamp = stamp
        return self.value.copy()


@dataclass(frozen=True)
class TrackerConfig:
    """
    How ``HandTracker`` tells hands and objects apart across frames, and smooths them.

    The node sets ``max_gap``, ``min_cutoff`` and ``beta`` from its ``track_max_gap``,
    ``smoothing_min_cutoff`` and ``smoothing_beta`` parameters; the filter's defaults are
    ``OneEuroConfig``'s.

    Attributes
    ----------
    hand_gate : float
        Largest root displacement (m) between observations of one hand track.
    object_gate : float
        Largest centre displacement (m) between observations of one object track.
    object_merge : float
        Object centres of one frame closer than this (m) are one object.
    max_gap : float
        A track unseen for longer than this (s) ends.
    min_side_confidence : float
        Least ``side_from_joints`` confidence for a geometric side.
    cross_side_votes : int
        A hand the detector labels with the other side may join a track that has at least
        this many more votes for its own side than for that one (MediaPipe mirrors the
        label of a hand seen from the back now and then); 0: never.
    min_cutoff, beta, d_cutoff : float
        One Euro filter parameters (``OneEuroConfig``) for joints, root and object centre.

    """

    hand_gate: float = 0.15
    object_gate: float = 0.15
    object_merge: float = 0.05
    max_gap: float = 0.5
    min_side_confidence: float = 0.5
    cross_side_votes: int = 10
    min_cutoff: float = OneEuroConfig.min_cutoff
    beta: float = OneEuroConfig.beta
    d_cutoff: float = OneEuroConfig.d_cutoff

    def __post_init__(self):
        if not (self.hand_gate > 0 and self.object_gate > 0 and self.object_merge >= 0):
            raise ValueError('hand_gate and object_gate must be > 0, object_merge >= 0')
        if not self.max_gap > 0:
            raise ValueError(f'max_gap must be > 0, got {self.max_gap}')
        if not 0 <= self.min_side_confidence <= 1:
            raise ValueError('min_side_confidence must be in [0, 1]')
        if self.cross_side_votes < 0:
            raise ValueError(f'cross_side_votes must be >= 0, got {self.cross_side_votes}')
        _ = self.one_euro   # validates the filter parameters

    @property
    def one_euro(self) -> OneEuroConfig:
        """The filter parameters."""
        return OneEuroConfig(self.min_cutoff, self.beta, self.d_cutoff)


@dataclass
class TrackedHand:
    """
    One hand of one frame, with its track (camera optical frame, metres).

    ``joints``, ``root`` and ``object_center`` are smoothed; ``hand`` is the raw
    reconstruction (meshes, contacts, confidences). ``object_id`` is None when the hand
    has no object this frame. ``index`` is the hand's position in the frame's hands.
    """

    track_id: int
    index: int
    stamp: float
    side: str
    joints: np.ndarray
    root: np.ndarray
    object_id: int | None
    object_center: np.ndarray
    hand: Reconstruction
    observations: int
    first_stamp: float

    @property
    def new(self) -> bool:
        """Whether this is the track's first frame."""
        return self.observations == 1


@dataclass
class _HandTrack:
    track_id: int
    first_stamp: float
    last_stamp: float
    root: np.ndarray
    joints_filter: OneEuroFilter
    root_filter: OneEuroFilter
    side_votes: dict = field(default_factory=lambda: {'left': 0, 'right': 0})
    last_side: str = UNKNOWN
    observations: int = 0

    @property
    def side(self) -> str:
        left, right = self.side_votes['left'], self.side_votes['right']
        if left == right:
            return self.last_side
        return 'left' if left > right else 'right'


@dataclass
class _ObjectTrack:
    track_id: int
    last_stamp: float
    center: np.ndarray
    center_filter: OneEuroFilter


def _assign(tracks: np.ndarray, observations: np.ndarray, gate: float,
            forbidden: np.ndarray | None = None,
            penalty: np.ndarray | None = None) -> list[tuple[int, int]]:
    """
    (track, observation) pairs of a least-total-distance assignment within ``gate``.

    ``forbidden`` (tracks, observations) bool pairs are never made; ``penalty`` (same
    shape, metres) is added to a pair's distance before the gate applies.
    """
    if len(tracks) == 0 or len(observations) == 0:
        return []
    cost = np.linalg.norm(tracks[:, None] - observations[None], axis=-1)
    if penalty is not None:
        cost = cost + penalty
    if forbidden is not None:
        cost = np.where(forbidden, _FORBIDDEN, cost)
    cost = np.where(cost > gate, _FORBIDDEN, cost)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)
            if cost[r, c] < _FORBIDDEN]


def observed_side(hand: Reconstruction, min_confidence: float = 0.5) -> tuple[str, bool]:
    """
    Side of one reconstructed hand and whether the detector gave it.

    The detector's side when known; else the joints' geometry (``side_from_joints``) when
    at least ``min_confidence``; else 'unknown'.
    """
    if hand.side in SIDES:
        return hand.side, True
    joints = np.asarray(hand.joints, float)
    if joints.shape == (21, 3) and np.isfinite(joints).all():
        side, confidence = side_from_joints(joints)
        if side in SIDES and confidence >= min_confidence:
            return side, False
    return UNKNOWN, False


class HandTracker:
    """
    Track ids and smoothing for the hands (and their objects) of a frame sequence.

    Parameters
    ----------
    config : TrackerConfig, optional

    """

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self._hands: list[_HandTrack] = []
        self._objects: list[_ObjectTrack] = []
        self._next_hand = 1
        self._next_object = 1
        self._last_stamp: float | None = None

    @property
    def live_hand_ids(self) -> list[int]:
        """Ids of the hand tracks still alive (seen within ``max_gap``)."""
        return [t.track_id for t in self._hands]

    def reset(self) -> None:
        """End every track (ids keep counting up)."""
        self._hands, self._objects = [], []
        self._last_stamp = None

    def update(self, frame: FrameReconstruction | list[Reconstruction] | Reconstruction,
               stamp: float) -> list[TrackedHand]:
        """
        Add one frame; returns its found hands with their tracks, in the frame's order.

        Parameters
        ----------
        frame : FrameReconstruction, list of Reconstruction or Reconstruction
            The frame's hands (those with ``found`` False are skipped).
        stamp : float
            The frame's time (s), e.g. its image header stamp.

        Raises
        ------
        ValueError
            On a non-finite stamp or a found hand without a (3,) root.

        """
        stamp = float(stamp)
        if not math.isfinite(stamp):
            raise ValueError(f'stamp must be finite, got {stamp}')
        if isinstance(frame, Reconstruction):
            hands = [frame]
        elif isinstance(frame, FrameReconstruction):
            hands = list(frame.hands)
        else:
            hands = list(frame)
        found = [(i, h) for i, h in enumerate(hands) if h.found]
        for _, hand in found:
            if np.asarray(hand.root).shape != (3,):
                raise ValueError('a found hand needs a (3,) root')
        if self._last_stamp is not None and stamp < self._last_stamp:
            self.reset()
        self._last_stamp = stamp
        self._expire(stamp)

        sides = [observed_side(h, self.config.min_side_confidence) for _, h in found]
        hand_tracks = self._match_hands(found, sides, stamp)
        object_ids, centers = self._match_objects(found, stamp)
        out = []
        for k, ((index, hand), (side, _)) in enumerate(zip(found, sides, strict=True)):
            track = hand_tracks[k]
            track.observations += 1
            track.last_stamp = stamp
            if side in SIDES:
                track.side_votes[side] += 1
                track.last_side = side
            root = track.root_filter(np.asarray(hand.root, float), stamp)
            track.root = root
            joints = np.asarray(hand.joints, float)
            if joints.shape == (21, 3):
                joints = track.joints_filter(joints, stamp)
            out.append(TrackedHand(track.track_id, index, stamp, track.side, joints, root,
                                   object_ids[k], centers[k], hand, track.observations,
                                   track.first_stamp))
        return out

    # -- internals ---------------------------------------------------------------------------
    def _expire(self, stamp: float) -> None:
        gap = self.config.max_gap
        self._hands = [t for t in self._hands if stamp - t.last_stamp <= gap]
        self._objects = [t for t in self._objects if stamp - t.last_stamp <= gap]

    def _match_hands(self, found, sides, stamp) -> list[_HandTrack]:
        roots = np.array([np.asarray(h.root, float) for _, h in found]).reshape(-1, 3)
        track_roots = np.array([t.root for t in self._hands]).reshape(-1, 3)
        # A detector's side joins a track of the other side only if that track's side is
        # established, and then at a cost of half the gate (a same-side track wins).
        contradicts = np.array([[by_detector and side in SIDES and t.side in SIDES
                                 and side != t.side for side, by_detector in sides]
                                for t in self._hands], bool).reshape(len(self._hands),
                                                                     len(found))
        votes = self.config.cross_side_votes
        established = np.array([votes > 0 and t.side in SIDES and
                                t.side_votes[t.side] - t.side_votes[flip_side(t.side)] >= votes
                                for t in self._hands], bool)
        forbidden = contradicts & ~established[:, None]
        penalty = np.where(contradicts, 0.5 * self.config.hand_gate, 0.0)
        pairs = {obs: trk for trk, obs in
                 _assign(track_roots, roots, self.config.hand_gate, forbidden, penalty)}
        result = []
        for k in range(len(found)):
            if k in pairs:
                result.append(self._hands[pairs[k]])
                continue
            one_euro = self.config.one_euro
            track = _HandTrack(self._next_hand, stamp, stamp, roots[k],
                               OneEuroFilter(one_euro), OneEuroFilter(one_euro))
            self._next_hand += 1
            self._hands.append(track)
            result.append(track)
        return result

    def _match_objects(self, found, stamp) -> tuple[list[int | None], list[np.ndarray]]:
        has_object = [h.object_mesh is not None and np.asarray(h.object_center).shape == (3,)
                      for _, h in found]
        ids: list[int | None] = [None] * len(found)
        centers = [np.zeros(0) for _ in found]
        members = [k for k in range(len(found)) if has_object[k]]
        if not members:
            return ids, centers
        # Merge the frame's object centres that lie together (one object, two hands).
        groups: list[list[int]] = []
        for k in members:
            c = np.asarray(found[k][1].object_center, float)
            for group in groups:
                if np.linalg.norm(np.asarray(found[group[0]][1].object_center) - c) \
                        <= self.config.object_merge:
                    group.append(k)
                    break
            else:
                groups.append([k])
        group_centers = np.array([np.mean([found[k][1].object_center for k in g], axis=0)
                                  for g in groups])
        track_centers = np.array([t.center for t in self._objects]).reshape(-1, 3)
        pairs = {obs: trk for trk, obs in
                 _assign(track_centers, group_centers, self.config.object_gate)}
        for g, group in enumerate(groups):
            if g in pairs:
                track = self._objects[pairs[g]]
            else:
                track = _ObjectTrack(self._next_object, stamp, group_centers[g],
                                     OneEuroFilter(self.config.one_euro))
                self._next_object += 1
                self._objects.append(track)
            track.last_stamp = stamp
            track.center = track.center_filter(group_centers[g], stamp)
            for k in group:
                ids[k] = track.track_id
                centers[k] = track.center.copy()
        return ids, centers


def with_tracks(frame: FrameReconstruction, tracked: list[TrackedHand]) -> FrameReconstruction:
    """
    ``frame`` with each tracked hand's identity, side and smoothed joints, root and centre.

    Parameters
    ----------
    frame : FrameReconstruction
        What ``HandTracker.update`` was given.
    tracked : list of TrackedHand
        Its output (``index`` points into ``frame.hands``).

    Returns
    -------
    FrameReconstruction with the same meshes; hands the tracker did not see are unchanged.

    """
    hands = list(frame.hands)
    for track in tracked:
        if not 0 <= track.index < len(hands):
            raise ValueError(f'tracked hand index {track.index} is not in the frame')
        hand = hands[track.index]
        object_id = -1 if track.object_id is None else int(track.object_id)
        center = hand.object_center if track.object_center is None else track.object_center
        hands[track.index] = replace(hand, joints=np.asarray(track.joints),
                                     root=np.asarray(track.root), object_center=center,
                                     side=track.side, track_id=int(track.track_id),
                                     object_track_id=object_id)
    return FrameReconstruction(hands, dict(frame.timings))
