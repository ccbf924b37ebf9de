"""
Frame to meshes, without ROS: ``Reconstructor.reconstruct(color, depth_m, K)``.

Stages (each timed): ``localise`` (rough root from the full frame), ``encoder`` (crop,
encoder and heads; run ``refine_iterations`` extra times, each re-centring the crop on
the predicted wrist), ``coarse`` (SER voxel selection from the heatmap, skeleton and the
coarse SDF of the depth points), ``queries`` (fine SDF on the sparse or dense lattice),
``marching_cubes`` (meshes, largest component, back to the camera frame) and
``contacts``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
import os
import time

import numpy as np
import torch
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.mesh import surface_distance
from c2f_sdf_ros.geometry.mirror import (
    mirror_camera,
    mirror_image,
    mirror_mesh,
    mirror_points,
    needs_mirror,
)
from c2f_sdf_ros.geometry.rgbd import check_rgbd
from c2f_sdf_ros.model.c2f_sdf import BRANCHES, C2FSDF, Encoding
from c2f_sdf_ros.model.checkpoint import SHIPPED_WEIGHTS, load_model, resolve_device
from c2f_sdf_ros.model.inference import freeze_for_inference
from c2f_sdf_ros.model.inputs import (
    input_config,
    make_sample,
    model_input,
    normalise,
    to_camera,
)
from c2f_sdf_ros.reconstruct import ser

# Contacts live in reconstruct/contacts.py; the part names stay importable from here.
from c2f_sdf_ros.reconstruct.contacts import (  # noqa: F401
    JOINT_PARTS,
    PART_INDEX,
    PART_LITTLE,
    PART_MIDDLE,
    PART_PALM,
    PART_RING,
    PART_THUMB,
    Contacts,
    find_contacts,
    lattice_cell,
)
from c2f_sdf_ros.reconstruct.depth_align import (
    FINE_MAX_GAP,
    depth_gaps,
    depth_offset,
    gap_offset,
    points_mask,
    ray_shift,
)
from c2f_sdf_ros.reconstruct.hand_finder import FinderConfig, HandFinder, HandSeed
from c2f_sdf_ros.reconstruct.held_object import HeldObjectConfig, find_held_object
from c2f_sdf_ros.reconstruct.meshing import (
    dense_grid,
    field_meshes,
    narrow_band_grid,
    tight_box_meshes,
)

# Weights trained without outside joints take a detector's only beyond this depth (m).
LEGACY_GUIDANCE_MIN_DEPTH = 1.0

# How the fine SDF is sampled: 'ser' (sparse, the node's default), 'dense' (every lattice
# point, the reference), 'narrow_band' (coarse lattice refined near the surface) or
# 'tight' (narrow band, then a second pass over the tight box of each inside, as the
# reference code evaluates).
LATTICES = ('ser', 'dense', 'narrow_band', 'tight')
# The most reconstruction error a contact decision allows for, whatever the lattice (m).
MAX_CONTACT_TOLERANCE = 0.03
STAGES = ('localise', 'encoder', 'coarse', 'queries', 'marching_cubes', 'object',
          'contacts')


@dataclass(frozen=True)
class ReconstructorConfig:
    """
    Settings of the frame-to-mesh pipeline.

    Attributes
    ----------
    resolution : int
        Lattice side over the normalised cube (128 as the paper; a multiple of the
        heatmap size).
    lattice : str
        One of ``LATTICES``: 'ser' sparse queries, 'dense' the whole lattice,
        'narrow_band' a coarse-to-fine lattice, 'tight' that plus a second pass over the
        tight box of each surface's inside (what the papers' evaluation meshes).
    ser : SerConfig
        SER settings.
    refine_iterations : int
        Extra encoder passes that move the crop onto the predicted wrist, for a hand whose
        root is a guess (the skin/depth fallback); a detector's measured wrist is kept.
    contact_distance : float
        Contact distance (m) on exact surfaces (``reconstruct.contacts.find_contacts``).
    contact_cells : float
        Reconstruction error allowed on top of it, in lattice cells (5.1 mm each at 128):
        a hand part is in contact when its reconstructed surface comes within
        ``contact_distance + contact_cells * cell`` of the object's (docs/reconstruction.md),
        the allowance capped at ``MAX_CONTACT_TOLERANCE`` (coarse lattices, e.g. 32^3, would
        otherwise call 10 cm a touch).
    query_batch : int
        SDF queries per model call.
    bf16 : bool
        bfloat16 autocast for the queries (faster on CPUs with AMX and on GPUs; changes
        surfaces by well under a lattice cell).
    seed : int
        Seeds the depth-point sampling, so a frame gives the same meshes every time.
    finder : FinderConfig
        Which hand detector, how many hands, the least score.
    held_object : HeldObjectConfig or None
        Check the object against the depth around the hand (the held cluster; nothing
        held: no object); None keeps the model's object as it is (the papers' protocol).
    guidance_min_depth : float or None
        A detected hand farther than this (m) guides the decoders with its measured joints
        instead of the joint head's. 0: always the detector's joints; a large value: never.
        None (default): from the weights. Weights trained with joints perturbed like a
        detector's guiding their decoders (``train.guidance``) take the detector's joints
        always (0); older weights only beyond 1 m: they saw hands at 0.35-1.0 m only and
        beyond that their joint head is lost (docs/reconstruction.md has the measurements),
        while nearer their decoders had never seen joints other than their head's.
    depth_align : bool
        Move each hand, then its object, along the viewing ray onto the depth measured on
        it (``reconstruct.depth_align``); the papers' protocol turns it off.
    object_max_shift : float
        With ``held_object`` on, an object more than 4 cm (``FINE_MAX_GAP``) off its held
        cluster's measured depth is first moved along the ray onto it, by up to this much
        (m); then every object is moved by at most 4 cm onto any surface it matches.

    """

    resolution: int = 128
    lattice: str = 'ser'
    ser: ser.SerConfig = field(default_factory=ser.SerConfig)
    refine_iterations: int = 2
    contact_distance: float = 0.005
    contact_cells: float = 5.0
    query_batch: int = 32768
    bf16: bool = False
    seed: int = 0
    finder: FinderConfig = field(default_factory=FinderConfig)
    held_object: HeldObjectConfig | None = field(default_factory=HeldObjectConfig)
    guidance_min_depth: float | None = None
    depth_align: bool = True
    object_max_shift: float = 0.15

    def __post_init__(self):
        if self.lattice not in LATTICES:
            raise ValueError(f'lattice must be one of {LATTICES}, got {self.lattice!r}')
        if self.resolution < 8 or self.resolution > 512:
            raise ValueError(f'resolution must be in [8, 512], got {self.resolution}')
        if not 0 <= self.refine_iterations <= 10:
            raise ValueError('refine_iterations must be in [0, 10]')
        if self.guidance_min_depth is not None and not self.guidance_min_depth >= 0:
            raise ValueError(f'guidance_min_depth must be >= 0, got {self.guidance_min_depth}')
        if self.contact_distance < 0 or self.query_batch < 1:
            raise ValueError('contact_distance >= 0 and query_batch >= 1 required')
        if not 0 < self.object_max_shift <= 1.0:
            raise ValueError(f'object_max_shift must be in (0, 1] m, got '
                             f'{self.object_max_shift}')
        if not 0 <= self.contact_cells <= 20:
            raise ValueError(f'contact_cells must be in [0, 20], got {self.contact_cells}')

    def contact_tolerance(self, cell: float) -> float:
        """The reconstruction error (m) a contact decision allows on a lattice of ``cell``."""
        return min(self.contact_cells * cell, MAX_CONTACT_TOLERANCE)


@dataclass
class Reconstruction:
    """
    What one frame gives, camera optical frame, metres.

    ``found`` is False when no hand was seen; then meshes are None and arrays empty.
    """

    found: bool
    hand_mesh: trimesh.Trimesh | None = None
    object_mesh: trimesh.Trimesh | None = None
    joints: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    root: np.ndarray = field(default_factory=lambda: np.zeros(0))
    object_center: np.ndarray = field(default_factory=lambda: np.zeros(0))
    contacts: Contacts = field(default_factory=Contacts.empty)
    hand_confidence: float = 0.0
    object_confidence: float = 0.0
    hand_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    object_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    seed: HandSeed | None = None
    timings: dict[str, float] = field(default_factory=dict)
    queries: int = 0
    side: str = 'unknown'        # 'left', 'right' or 'unknown' (non-mirrored camera)
    track_id: int = -1           # identity across frames (reconstruct.tracking); -1: none
    object_track_id: int = -1

    @property
    def total_seconds(self) -> float:
        """Sum of the stage times."""
        return float(sum(self.timings.values()))


@dataclass
class FrameReconstruction:
    """
    Every hand of one frame, each with the object it holds, camera optical frame.

    ``hands`` is empty when no hand was found. ``timings`` sums each stage over the hands
    (the localisation once); ``queries`` is the frame's SDF query count.
    """

    hands: list[Reconstruction] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def queries(self) -> int:
        """SDF queries of all hands."""
        return int(sum(hand.queries for hand in self.hands))

    @property
    def total_seconds(self) -> float:
        """Sum of the stage times."""
        return float(sum(self.timings.values()))


def _within(mesh: trimesh.Trimesh, points: np.ndarray, distance: float,
            most: int = 2000) -> bool:
    """Whether one of ``points`` (at most ``most``, evenly picked) is near ``mesh``'s surface."""
    points = np.asarray(points, float).reshape(-1, 3)
    if len(points) == 0 or len(mesh.faces) == 0:
        return False
    points = points[::max(1, len(points) // most)]
    return bool(surface_distance(mesh, points).min() <= distance)


class Reconstructor:
    """
    The package's main job: RGB-D frame -> hand and object meshes.

    Parameters
    ----------
    weights : str or path, optional
        Checkpoint prefix (``.safetensors`` + ``.json``); the shipped weights by default.
    device : str
        'auto', 'cpu' or 'cuda[:N]'.
    config : ReconstructorConfig, optional
    threads : int
        CPU threads for torch (0: leave torch's default).

    """

    def __init__(self, weights: str | os.PathLike | None = None, device: str = 'auto',
                 config: ReconstructorConfig | None = None, threads: int = 0):
        self.config = config or ReconstructorConfig()
        self.device = resolve_device(device)
        if threads:
            torch.set_num_threads(threads)
        self.weights = str(weights or SHIPPED_WEIGHTS)
        model, self.info = load_model(self.weights, str(self.device))
        self.model: C2FSDF = freeze_for_inference(model)
        m = model.config
        if self.config.resolution % m.heatmap_size:
            raise ValueError(f'resolution {self.config.resolution} must be a multiple of '
                             f'the heatmap size {m.heatmap_size}')
        # How these weights want frames cropped: the checkpoint's inputs block.
        self.crop = input_config(m, self.info)
        guidance = self.info.get('train', {}).get('guidance', {})
        self.trained_with_guidance = guidance.get('probability', 0.0) > 0
        self.finder = HandFinder(self.config.finder)

    def with_config(self, config: ReconstructorConfig) -> Reconstructor:
        """The same loaded model under other settings (no second copy of the weights)."""
        if config.resolution % self.model.config.heatmap_size:
            raise ValueError(f'resolution {config.resolution} must be a multiple of the '
                             f'heatmap size {self.model.config.heatmap_size}')
        other = copy.copy(self)
        other.config = config
        if config.finder != self.config.finder:
            other.finder = HandFinder(config.finder)
        return other

    # -- helpers ----------------------------------------------------------------------------
    def _to_camera(self, normalised: np.ndarray, root: np.ndarray) -> np.ndarray:
        return to_camera(normalised, root, self.crop.norm_scale)

    @torch.no_grad()
    def _encode(self, color, depth, camera, root, rng, joints=None) -> Encoding:
        sample = make_sample(color, depth, camera, root, self.crop, rng)
        guidance = None
        if joints is not None:   # measured joints guide the decoders instead of the head's
            guidance = torch.from_numpy(normalise(joints, root, self.crop.norm_scale)).float()
            guidance = guidance[None].to(self.device)
        return self.model.encode(model_input(sample, self.device), guidance)

    def _query_fn(self, encoding: Encoding):
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16,
                                  enabled=self.config.bf16)

        def query(points: torch.Tensor, fields: tuple[int, ...] = (0, 1)) -> torch.Tensor:
            branches = tuple(BRANCHES[f] for f in fields)
            with autocast:
                out = self.model.query(encoding, points[None], coarse=False,
                                       branches=branches)
            return torch.stack([out[f'fine_{b}'][0] for b in branches], -1).float()
        return query

    # -- pipeline ---------------------------------------------------------------------------
    def _stopwatch(self, timings: dict[str, float]):
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            if self.device.type == 'cuda':
                torch.cuda.synchronize(self.device)
            now = time.perf_counter()
            timings[stage] += now - clock
            clock = now
        return lap

    @torch.no_grad()
    def reconstruct_frame(self, color: np.ndarray, depth: np.ndarray, K: np.ndarray,
                          rng: np.random.Generator | None = None) -> FrameReconstruction:
        """
        Every hand the finder sees (at most ``finder.max_hands``), each in its own crop.

        Parameters are those of ``reconstruct``. Returns the hands, best detection first
        (none: no hand in the frame), with the frame's stage times.
        """
        depth = check_rgbd(color, depth, K)
        camera = CameraIntrinsics.from_matrix(K, color.shape[1], color.shape[0])
        timings = dict.fromkeys(STAGES, 0.0)
        lap = self._stopwatch(timings)
        seeds = self.finder.find(color, depth, camera)
        lap('localise')
        if rng is None:
            rng = np.random.default_rng(self.config.seed)
        hands = [self._reconstruct_seed(color, depth, camera, seed, rng) for seed in seeds]
        for hand in hands:
            for stage, seconds in hand.timings.items():
                timings[stage] += seconds
        return FrameReconstruction(hands, timings)

    @torch.no_grad()
    def reconstruct(self, color: np.ndarray, depth: np.ndarray, K: np.ndarray,
                    root: np.ndarray | None = None,
                    rng: np.random.Generator | None = None,
                    side: str = 'unknown') -> Reconstruction:
        """
        Reconstruct one hand and its object in one frame.

        Parameters
        ----------
        color : (H, W, 3) uint8
            RGB image.
        depth : (H, W) float
            Depth in metres aligned to color; 0 or NaN = missing.
        K : (3, 3) array
            Intrinsics of color (and depth).
        root : (3,) array, optional
            A known hand root (camera frame); skips the finder (evaluation with ground
            truth, or a root from another tracker). Otherwise the best hand found.
        rng : numpy Generator, optional
            Depth-point sampling; by default seeded with ``config.seed`` so a frame gives
            the same meshes every time.
        side : str
            With ``root``: the hand's side ('left', 'right' or 'unknown'), so that weights
            trained on one side (``CropConfig.canonical_side``) see the other one mirrored.

        Returns
        -------
        Reconstruction; ``found`` False when no hand is in the frame.

        Raises
        ------
        c2f_sdf_ros.geometry.rgbd.FrameError
            On malformed input, with the reason (see ``check_rgbd``).

        """
        depth = check_rgbd(color, depth, K)
        camera = CameraIntrinsics.from_matrix(K, color.shape[1], color.shape[0])
        timings = dict.fromkeys(STAGES, 0.0)
        if root is None:
            lap = self._stopwatch(timings)
            seeds = self.finder.find(color, depth, camera)[:1]
            lap('localise')
            if not seeds:
                return Reconstruction(False, timings=timings)
            seed = seeds[0]
        else:
            seed = HandSeed(np.asarray(root, float), np.full(4, np.nan), 1.0, side)
        if rng is None:
            rng = np.random.default_rng(self.config.seed)
        return self._reconstruct_seed(color, depth, camera, seed, rng, timings)

    def _reconstruct_seed(self, color: np.ndarray, depth: np.ndarray, camera: CameraIntrinsics,
                          seed: HandSeed, rng: np.random.Generator,
                          timings: dict[str, float] | None = None) -> Reconstruction:
        """One hand from its seed; ``timings`` carries earlier stages' times (or None)."""
        config = self.config
        timings = dict(timings) if timings is not None else dict.fromkeys(STAGES, 0.0)
        lap = self._stopwatch(timings)
        root = np.asarray(seed.root, float)
        seed_joints = seed.joints
        # Weights trained on one side only (the reference trains right hands) see a hand
        # of the other side in the mirrored frame; what they predict is mirrored back
        # right after meshing, so every later stage works in the real frame.
        mirror = needs_mirror(seed.side, self.crop.canonical_side)
        frame = color, depth, camera
        if mirror:
            color, depth, camera = mirror_image(color), mirror_image(depth), mirror_camera(camera)
            root = mirror_points(root)
            seed_joints = None if seed_joints is None else mirror_points(seed_joints)
        # A detector's wrist is measured: keep the crop there. A blob centroid is a guess
        # that the model's own wrist prediction improves.
        refine = 0 if seed.detected_joints else config.refine_iterations
        for _ in range(refine):
            encoding = self._encode(color, depth, camera, root, rng)
            root = self._to_camera(encoding.joints[0, 0].float().cpu().numpy(), root)
        guidance = None
        min_depth = config.guidance_min_depth
        if min_depth is None:
            min_depth = 0.0 if self.trained_with_guidance else LEGACY_GUIDANCE_MIN_DEPTH
        if seed.detected_joints and root[2] > min_depth:
            guidance = seed_joints
        encoding = self._encode(color, depth, camera, root, rng, guidance)
        lap('encoder')

        joints = encoding.joints[0].float().cpu().numpy()
        center = encoding.object_center[0].float().cpu().numpy()
        valid = encoding.point_valid[0].cpu().numpy() if encoding.point_valid is not None \
            else np.ones(encoding.points.shape[1], bool)
        points = encoding.points[0].float().cpu().numpy()[valid]
        point_sdf = None if encoding.point_sdf is None else \
            encoding.point_sdf[0].float().cpu().numpy()[valid]
        mask = None
        if config.lattice == 'ser':
            merged = ser.semantic_heatmap(encoding.heatmap[0].float().cpu().numpy(), joints,
                                          points, point_sdf, center, config.ser)
            mask = ser.voxel_mask(merged, config.ser)
        lap('coarse')

        query = self._query_fn(encoding)
        meshes = None
        if config.lattice == 'tight':
            meshes, count = tight_box_meshes(query, 2, config.resolution,
                                             start=min(32, config.resolution),
                                             batch=config.query_batch, device=self.device)
        elif mask is not None:
            values, count = ser.sparse_grid(query, mask, config.resolution, config.ser,
                                            config.query_batch, device=self.device)
        elif config.lattice == 'narrow_band':
            values, count = narrow_band_grid(query, config.resolution,
                                             start=min(32, config.resolution),
                                             batch=config.query_batch, device=self.device)
        else:
            values, count = dense_grid(query, config.resolution, config.query_batch,
                                       self.device)
        lap('queries')

        if meshes is None:
            hand_mesh, object_mesh = field_meshes(values, lambda v: self._to_camera(v, root))
        else:
            hand_mesh, object_mesh = (
                None if mesh is None else trimesh.Trimesh(
                    self._to_camera(mesh.vertices, root), mesh.faces, process=False)
                for mesh in meshes)
        if mirror:
            # Normalised coordinates around the mirrored root, x negated, are those around
            # the real root: joints, centre and points mirror back like the root itself.
            hand_mesh, object_mesh = (
                None if mesh is None else trimesh.Trimesh(
                    *mirror_mesh(mesh.vertices, mesh.faces), process=False)
                for mesh in (hand_mesh, object_mesh))
            root = mirror_points(root)
            joints, center, points = mirror_points(joints), mirror_points(center), \
                mirror_points(points)
            color, depth, camera = frame
        lap('marching_cubes')

        object_shift = np.zeros(3)
        if config.depth_align and hand_mesh is not None:
            # Move the reconstruction (its root) along the viewing ray onto the measured
            # hand surface; the object moves with it until it is registered on its own.
            shift = ray_shift(hand_mesh.vertices, -depth_offset(hand_mesh, depth, camera))
            root = root + shift
            for mesh in (hand_mesh, object_mesh):
                if mesh is not None:
                    mesh.apply_translation(shift)
        joints_cam = self._to_camera(joints, root)
        held_points = None
        if config.held_object is not None and object_mesh is not None:
            held = find_held_object(depth, camera, hand_mesh, joints_cam, object_mesh,
                                    config.held_object)
            object_mesh, held_points = held.mesh, held.points
        if config.depth_align and object_mesh is not None:
            # One render of the object serves both steps unless the first moves it.
            gaps, pixels = depth_gaps(object_mesh, depth, camera)
            if held_points is not None and len(held_points):
                # The model can put the object several centimetres off along the ray
                # (behind the hand it holds), beyond what the fine step below accepts as
                # the same surface. The held cluster is the object's measured surface:
                # an object that far from it is first moved onto it, compared only there.
                # Nearer, the fine step alone decides (on renders, moving every object
                # onto its cluster cost F_o@10 0.008, docs/reconstruction.md). A held
                # object stays in the hand: a move that takes it out of touch means the
                # cluster holds more than the object (a table left in it), and is not made.
                on_cluster = points_mask(held_points, camera,
                                         grow=config.held_object.stride // 2 + 1)
                coarse = gap_offset(gaps[on_cluster[pixels[:, 0], pixels[:, 1]]],
                                    config.object_max_shift)
                shift = ray_shift(object_mesh.vertices, -coarse)
                if abs(coarse) > FINE_MAX_GAP and (hand_mesh is None or _within(
                        hand_mesh, np.asarray(object_mesh.vertices) + shift,
                        config.held_object.touch_distance)):
                    object_shift = shift
                    object_mesh.apply_translation(object_shift)
                    gaps, _ = depth_gaps(object_mesh, depth, camera)  # it moved
            fine = ray_shift(object_mesh.vertices, -gap_offset(gaps))
            object_mesh.apply_translation(fine)
            object_shift = object_shift + fine
        lap('object')
        contacts = Contacts.empty()
        if hand_mesh is not None and object_mesh is not None:
            cell = lattice_cell(config.resolution, self.crop.norm_scale)
            contacts = find_contacts(hand_mesh, object_mesh, joints_cam,
                                     config.contact_distance, config.contact_tolerance(cell))
        lap('contacts')

        hand_points = object_points = np.zeros((0, 3))
        object_confidence = 0.0
        if point_sdf is not None:
            hand_points = self._to_camera(points[point_sdf[:, 0] <= config.ser.hand_point_sdf],
                                          root)
            object_points = self._to_camera(
                points[point_sdf[:, 1] <= config.ser.object_point_sdf], root)
            object_confidence = float(len(object_points) / max(1, len(points)))
        return Reconstruction(
            True, hand_mesh, object_mesh, joints_cam, root,
            self._to_camera(center, root) + object_shift,
            contacts, seed.score if hand_mesh is not None else 0.0,
            object_confidence if object_mesh is not None else 0.0,
            hand_points, object_points, seed, timings, count, seed.side)
