"""
A demonstration as a record: per-track hand and object trajectories, contacts and grasps.

``Demonstration.add(stamp, tracked_hands)`` takes each frame's ``TrackedHand`` list (from
``reconstruct.tracking.HandTracker``), ``add_frames(stamp, {track_id: TrackFrame})`` frames
tracked elsewhere (the recorder node: the reconstruction node's track ids);
``grasps()`` finds the grasp events; ``to_dict()`` / ``write_json(path)`` give the record
(schema in docs/demonstrations.md) and ``summary_line()`` one line such as ``2 grasps:
right hand grasped object 1 at 1.20 s with thumb+index+middle, released at 3.40 s; ...``,
``track_summary()`` one per track, contacts without a grasp included.

A frame of a track is **in grasp contact** when at least ``min_parts`` hand parts touch its
object (``Contacts.touching``; the thumb required if ``require_thumb``). A grasp starts
after ``onset_frames`` such frames in a row, at the first of them, and ends after
``release_frames`` frames in a row without (a frame with another object, or no object,
counts as without), at the first of those; grasps shorter than ``min_duration`` are
dropped. At onset, the wrist and joints are also given in the object's box frame (its
oriented bounding box then: origin at the box centre, axes along its edges), the hand pose
relative to the object that a robot can replay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
import json
import os
import pathlib

import numpy as np
import trimesh

from c2f_sdf_ros.reconstruct.contacts import PART_NAMES, PART_THUMB
from c2f_sdf_ros.reconstruct.tracking import TrackedHand

FORMAT = 'c2f_sdf_ros/demonstration/v1'


@dataclass(frozen=True)
class GraspConfig:
    """
    When contact is a grasp.

    Attributes
    ----------
    min_parts : int
        Hand parts (palm and fingers) that must touch the object in a frame.
    require_thumb : bool
        The thumb must be one of them.
    onset_frames : int
        Consecutive contact frames that start a grasp (hysteresis).
    release_frames : int
        Consecutive frames without contact that end it.
    min_duration : float
        Shorter grasps (s) are dropped.

    """

    min_parts: int = 2
    require_thumb: bool = False
    onset_frames: int = 1
    release_frames: int = 1
    min_duration: float = 0.0

    def __post_init__(self):
        if not 1 <= self.min_parts <= len(PART_NAMES):
            raise ValueError(f'min_parts must be in [1, {len(PART_NAMES)}], got '
                             f'{self.min_parts}')
        if self.onset_frames < 1 or self.release_frames < 1:
            raise ValueError('onset_frames and release_frames must be >= 1')
        if not self.min_duration >= 0:
            raise ValueError(f'min_duration must be >= 0, got {self.min_duration}')


@dataclass
class TrackFrame:
    """One frame of one hand track (camera optical frame, metres)."""

    stamp: float
    side: str
    root: np.ndarray                  # (3,)
    joints: np.ndarray                # (21, 3)
    object_id: int | None
    object_center: np.ndarray | None  # (3,)
    object_box: np.ndarray | None     # (4, 4) camera_T_box
    object_extents: np.ndarray | None  # (3,) box edge lengths
    touching: tuple[int, ...]         # PART_* in contact
    gaps: np.ndarray                  # (6,) per-part gap (m), inf when unknown

    def __post_init__(self):
        # Checked here, once, so that a bad frame fails where it is added and not when the
        # record is written at the end of a long recording.
        self.stamp = float(self.stamp)
        self.root = _array(self.root, (3,), 'root')
        self.joints = _array(self.joints, (21, 3), 'joints')
        self.gaps = _array(self.gaps, (len(PART_NAMES),), 'gaps', finite=False)
        if np.isnan(self.gaps).any():
            raise ValueError('gaps must not be NaN (inf: unknown)')
        if self.object_id is None:
            if self.object_center is not None or self.object_box is not None or self.touching:
                raise ValueError('a frame without an object has no centre, box or contacts')
        else:
            self.object_id = int(self.object_id)
            self.object_center = _array(self.object_center, (3,), 'object_center')
        if (self.object_box is None) != (self.object_extents is None):
            raise ValueError('object_box and object_extents go together')
        if self.object_box is not None:
            self.object_box = _array(self.object_box, (4, 4), 'object_box')
            self.object_extents = _array(self.object_extents, (3,), 'object_extents')
        touching = tuple(sorted({int(p) for p in self.touching}))
        if touching and not 0 <= touching[0] <= touching[-1] < len(PART_NAMES):
            raise ValueError(f'touching parts must be in [0, {len(PART_NAMES)}), got '
                             f'{touching}')
        self.touching = touching

    def in_contact(self, config: GraspConfig) -> bool:
        """Whether this frame is in grasp contact with its object under ``config``."""
        if self.object_id is None or len(self.touching) < config.min_parts:
            return False
        return PART_THUMB in self.touching or not config.require_thumb


@dataclass
class Grasp:
    """
    One grasp: a hand track holding one object from ``onset`` to ``release`` (s).

    ``release`` is None when no release was seen: the hand still held it when the record
    ended, or its track ended (``end``: the track's last frame then). ``onset_parts``
    touch at onset, ``parts`` at any time during the grasp. ``wrist_in_object`` (3,) and
    ``joints_in_object`` (21, 3) are the onset pose in the object's box frame
    (``object_box`` (4, 4) camera_T_box and ``object_extents`` at onset).
    """

    track_id: int
    side: str
    object_id: int
    onset: float
    release: float | None
    end: float
    onset_parts: tuple[int, ...]
    parts: tuple[int, ...]
    object_box: np.ndarray
    object_extents: np.ndarray
    wrist_in_object: np.ndarray
    joints_in_object: np.ndarray

    @property
    def duration(self) -> float:
        """Seconds from onset to release (to the record's last frame while held)."""
        return (self.release if self.release is not None else self.end) - self.onset


def object_box(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """
    Oriented bounding box of a mesh: (4, 4) camera_T_box (a proper rotation) and extents.

    The same box as the ROS message's ``box_pose``/``box_size``.
    """
    box = mesh.bounding_box_oriented
    transform = np.array(box.primitive.transform, float)
    if np.linalg.det(transform[:3, :3]) < 0:      # keep a proper rotation (flip one axis)
        transform[:3, 2] *= -1.0
    return transform, np.array(box.primitive.extents, float)


def to_box_frame(camera_T_box: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) in the box frame."""
    rotation, origin = camera_T_box[:3, :3], camera_T_box[:3, 3]
    return (np.asarray(points, float) - origin) @ rotation


def track_frame(stamp: float, tracked: TrackedHand) -> TrackFrame:
    """
    The record of one tracked hand in the frame at ``stamp``.

    Its object box is the oriented bounding box of the hand's object mesh; its contacts
    and gaps are the hand's ``Contacts`` (none without an object).
    """
    hand = tracked.hand
    has_object = tracked.object_id is not None
    box = extents = None
    if has_object and hand.object_mesh is not None:
        box, extents = object_box(hand.object_mesh)
    return TrackFrame(stamp, tracked.side, tracked.root, tracked.joints, tracked.object_id,
                      tracked.object_center if has_object else None, box, extents,
                      hand.contacts.touching if has_object else (), hand.contacts.gaps)


def detect_grasps(frames: list[TrackFrame], config: GraspConfig) -> list[tuple[int, int | None]]:
    """
    Grasps of one track as (onset frame index, release frame index or None).

    The hysteresis and minimum duration of ``config`` (module docstring) are applied.
    """
    events: list[tuple[int, int | None]] = []
    onset: int | None = None    # first frame of the grasp in progress
    run_start, run = 0, 0       # the run of frames that would start (or end) a grasp
    i = 0
    while i < len(frames):
        frame = frames[i]
        held = frame.in_contact(config)
        if onset is None:       # looking for onset_frames contact frames on one object
            if held and run and frame.object_id == frames[run_start].object_id:
                run += 1
            elif held:
                run_start, run = i, 1
            else:
                run = 0
            if run >= config.onset_frames:
                onset, run = run_start, 0
        elif held and frame.object_id == frames[onset].object_id:
            run = 0
        else:                   # looking for release_frames frames without that object
            run_start, run = (run_start, run + 1) if run else (i, 1)
            if run >= config.release_frames:
                events.append((onset, run_start))
                onset, run = None, 0
                i = run_start   # those frames may hold another object: look again
                continue
        i += 1
    if onset is not None:
        events.append((onset, None))
    kept = []
    for start, stop in events:
        end = frames[stop].stamp if stop is not None else frames[-1].stamp
        if end - frames[start].stamp >= config.min_duration:
            kept.append((start, stop))
    return kept


class Demonstration:
    """
    Per-sequence record of tracked hands, their objects, contacts and grasps.

    Parameters
    ----------
    config : GraspConfig, optional
    source : str
        Where the frames came from (a bag, a folder, a topic), written into the record.
    frame_id : str
        The camera frame the coordinates are in.

    """

    def __init__(self, config: GraspConfig | None = None, source: str = '',
                 frame_id: str = ''):
        self.config = config or GraspConfig()
        self.source = source
        self.frame_id = frame_id
        self.tracks: dict[int, list[TrackFrame]] = {}
        self.stamps: list[float] = []

    def add(self, stamp: float, hands: list[TrackedHand]) -> None:
        """
        Record one frame's tracked hands (an empty list: a frame without hands).

        Raises
        ------
        ValueError
            On a stamp earlier than the previous frame's or not finite.

        """
        self.add_frames(stamp, {tracked.track_id: track_frame(stamp, tracked)
                                for tracked in hands})

    def add_frames(self, stamp: float, frames: Mapping[int, TrackFrame]) -> None:
        """
        Record one frame given as hand track id -> ``TrackFrame`` (empty: no hands).

        For hands tracked elsewhere, e.g. the reconstruction node's messages with their
        track ids.

        Raises
        ------
        ValueError
            On a stamp earlier than the previous frame's or not finite, or a frame whose
            own stamp is another.

        """
        stamp = float(stamp)
        if not np.isfinite(stamp):
            raise ValueError(f'stamp must be finite, got {stamp}')
        if self.stamps and stamp < self.stamps[-1]:
            raise ValueError(f'stamps must not decrease: {stamp} after {self.stamps[-1]}')
        for track_id, frame in frames.items():
            if frame.stamp != stamp:
                raise ValueError(f'track {track_id}: its stamp {frame.stamp} differs from '
                                 f'the frame stamp {stamp}')
        self.stamps.append(stamp)
        for track_id, frame in frames.items():
            self.tracks.setdefault(int(track_id), []).append(frame)

    # -- derived -----------------------------------------------------------------------------
    def grasps(self) -> list[Grasp]:
        """Every grasp of every track, by onset time."""
        out = []
        for track_id, frames in self.tracks.items():
            for start, stop in detect_grasps(frames, self.config):
                first = frames[start]
                held = frames[start:stop]
                parts = sorted({p for f in held if f.object_id == first.object_id
                                for p in f.touching})
                box = first.object_box if first.object_box is not None else np.eye(4)
                extents = first.object_extents if first.object_extents is not None \
                    else np.zeros(3)
                out.append(Grasp(
                    track_id, _track_side(frames), int(first.object_id), first.stamp,
                    frames[stop].stamp if stop is not None else None, frames[-1].stamp,
                    first.touching, tuple(parts), box, extents,
                    to_box_frame(box, first.root), to_box_frame(box, first.joints)))
        return sorted(out, key=lambda g: (g.onset, g.track_id))

    def summary_line(self) -> str:
        """One line: the grasps, times relative to the first frame."""
        grasps = self.grasps()
        start = self.stamps[0] if self.stamps else 0.0
        span = (self.stamps[-1] - start) if self.stamps else 0.0
        if not grasps:
            return (f'no grasps: {len(self.tracks)} hand track(s) over {span:.2f} s, '
                    f'{len(self.stamps)} frames')
        items = []
        for g in grasps:
            # "right hand", or "right hand 3" (track id) when two right hands grasp.
            name = f'{g.side} hand' if g.side != 'unknown' else 'hand'
            if g.side == 'unknown' or len({h.track_id for h in grasps
                                           if h.side == g.side}) > 1:
                name += f' {g.track_id}'
            parts = '+'.join(PART_NAMES[p] for p in g.onset_parts)
            if g.release is not None:
                release = f'released at {g.release - start:.2f} s'
            elif g.end < self.stamps[-1]:
                release = f'hand lost at {g.end - start:.2f} s while holding'
            else:
                release = 'still holding at the end'
            items.append(f'{name} grasped object {g.object_id} at {g.onset - start:.2f} s '
                         f'with {parts}, {release}')
        count = f'{len(grasps)} grasp' + ('s' if len(grasps) > 1 else '')
        return f'{count}: ' + '; '.join(items)

    def track_summary(self, label: Callable[[float], str] | None = None) -> str:
        """
        One line, one item per hand track: its grasps, or its contacts, or 'no contact'.

        For example ``track 1 (right): 1 grasp, onset at 1.20 s with thumb+index+middle,
        released at 3.40 s; track 2 (left): contact in 2 frames, first at 0.50 s (index), no
        grasp``. Unlike ``summary_line()`` a track whose hand touched its object without a
        grasp (one part, or too short) is reported too.

        Parameters
        ----------
        label : callable, optional
            Stamp -> how a frame is named, e.g. ``'frame 000012'``; default the seconds
            from the first frame (``'1.20 s'``).

        """
        start = self.stamps[0] if self.stamps else 0.0
        if label is None:
            def label(stamp: float) -> str:
                return f'{stamp - start:.2f} s'
        if not self.tracks:
            return f'no hands in {len(self.stamps)} frames'
        grasps = self.grasps()
        items = []
        for track_id, frames in sorted(self.tracks.items()):
            own = [g for g in grasps if g.track_id == track_id]
            touched = [f for f in frames if f.touching]
            if own:
                text = f'{len(own)} grasp' + ('s' if len(own) > 1 else '') + ', ' + \
                    ', then '.join(_grasp_phrase(g, self.stamps[-1], label) for g in own)
            elif touched:
                parts = '+'.join(PART_NAMES[p] for p in sorted({p for f in touched
                                                                for p in f.touching}))
                count = f'{len(touched)} frame' + ('s' if len(touched) > 1 else '')
                text = (f'contact in {count}, first at {label(touched[0].stamp)} ({parts}), '
                        'no grasp')
            else:
                text = 'no contact'
            items.append(f'track {track_id} ({_track_side(frames)}): {text}')
        return '; '.join(items)

    def to_dict(self) -> dict:
        """The record as JSON-ready data (docs/data-format.md, "Demonstration records")."""
        tracks = []
        for track_id, frames in sorted(self.tracks.items()):
            tracks.append({
                'track_id': track_id, 'side': _track_side(frames),
                'first_stamp': frames[0].stamp, 'last_stamp': frames[-1].stamp,
                'frames': [_frame_dict(f) for f in frames]})
        grasps = [{
            'track_id': g.track_id, 'side': g.side, 'object_id': g.object_id,
            'onset': g.onset, 'release': g.release, 'end': g.end, 'duration': g.duration,
            'onset_parts': [PART_NAMES[p] for p in g.onset_parts],
            'parts': [PART_NAMES[p] for p in g.parts],
            'object_box': {'camera_T_box': g.object_box.tolist(),
                           'extents': g.object_extents.tolist()},
            'wrist_in_object': g.wrist_in_object.tolist(),
            'joints_in_object': g.joints_in_object.tolist(),
        } for g in self.grasps()]
        return {
            'format': FORMAT, 'source': self.source, 'frame_id': self.frame_id,
            'units': {'length': 'm', 'time': 's'},
            'part_names': list(PART_NAMES),
            'grasp_config': asdict(self.config),
            'start': self.stamps[0] if self.stamps else None,
            'end': self.stamps[-1] if self.stamps else None,
            'frame_count': len(self.stamps),
            'tracks': tracks, 'grasps': grasps, 'summary': self.summary_line(),
        }

    def write_json(self, path: str | os.PathLike) -> pathlib.Path:
        """
        Write ``to_dict()`` as one JSON file (parents created); returns the path.

        The file is written beside ``path`` under a temporary name and renamed onto it, so
        that a reader (or a recorder stopped mid-write) never sees half a record: ``path``
        holds the previous record or the new one.
        """
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + '\n'
        # The process id keeps two processes writing one record off each other's file;
        # open() gives it the usual permissions (the umask's), which os.replace keeps.
        temporary = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
        try:
            with open(temporary, 'w', encoding='utf-8') as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return path


def _array(values, shape: tuple[int, ...], name: str, finite: bool = True) -> np.ndarray:
    """``values`` as a float array of ``shape``; ValueError otherwise (or if not finite)."""
    array = np.asarray(values, float)
    if array.shape != shape:
        raise ValueError(f'{name} must have shape {shape}, got {array.shape}')
    if finite and not np.isfinite(array).all():
        raise ValueError(f'{name} must be finite')
    return array


def _track_side(frames: list[TrackFrame]) -> str:
    """The side the track ended with (the tracker's majority vote)."""
    return frames[-1].side


def _grasp_phrase(grasp: Grasp, last_stamp: float, label: Callable[[float], str]) -> str:
    """'onset at X with parts, released at Y' (or held to the end, or lost) of one grasp."""
    parts = '+'.join(PART_NAMES[p] for p in grasp.onset_parts)
    if grasp.release is not None:
        end = f'released at {label(grasp.release)}'
    elif grasp.end < last_stamp:     # the track ended while the hand held the object
        end = f'hand lost after {label(grasp.end)}'
    else:
        end = 'held to the end'
    return f'onset at {label(grasp.onset)} with {parts}, {end}'


def _vector(values) -> list | None:
    return None if values is None else np.asarray(values, float).tolist()


def _frame_dict(frame: TrackFrame) -> dict:
    gaps = {name: (round(1000.0 * float(g), 2) if np.isfinite(g) else None)
            for name, g in zip(PART_NAMES, frame.gaps, strict=True)}
    return {
        'stamp': frame.stamp, 'side': frame.side, 'root': _vector(frame.root),
        'joints': _vector(frame.joints), 'object_id': frame.object_id,
        'object_center': _vector(frame.object_center),
        'object_box': None if frame.object_box is None else {
            'camera_T_box': frame.object_box.tolist(),
            'extents': frame.object_extents.tolist()},
        'contacts': [PART_NAMES[p] for p in frame.touching],
        'gaps_mm': gaps if frame.object_id is not None else None,
    }
