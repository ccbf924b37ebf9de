"""
Ray-cast RGB-D rendering of triangle meshes and a structured-light depth sensor model.

``render`` casts one ray per pixel centre with Open3D's ``RaycastingScene`` and returns the
colour image (Lambert + Blinn-Phong shading under a random light, random background and
colour sensor effects), the clean optical-axis depth, a label mask and the hit normals.
``apply_depth_sensor`` turns clean depth into what a RealSense-like sensor delivers: depth
dependent noise, invalid pixels at depth edges, occlusion shadows, dropouts and holes,
millimetre quantisation. All randomness comes from the caller's ``numpy.random.Generator``,
drawn in a fixed order, so a seed reproduces a frame bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import open3d as o3d
from scipy import ndimage, special
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics

# Typical factory colour-stream intrinsics of these cameras (rounded, principal point at the
# image centre), not the calibration of any specific unit: good enough to render plausible
# frames; real data must use the camera's own camera_info.
CAMERA_PRESETS: dict[str, CameraIntrinsics] = {
    'd435_640x480': CameraIntrinsics(640, 480, 615.0, 615.0, 319.5, 239.5),
    'd435_1280x720': CameraIntrinsics(1280, 720, 922.5, 922.5, 639.5, 359.5),
    # The D415 colour sensor has a narrower field of view than the D435's, so longer focal
    # lengths at the same resolution.
    'd415_640x480': CameraIntrinsics(640, 480, 640.0, 640.0, 319.5, 239.5),
    'd415_1280x720': CameraIntrinsics(1280, 720, 960.0, 960.0, 639.5, 359.5),
    'azure_kinect_1280x720': CameraIntrinsics(1280, 720, 605.0, 605.0, 639.5, 359.5),
}

# Mask values of RenderResult.mask.
LABEL_BACKGROUND = 0
LABEL_HAND = 1
LABEL_OBJECT = 2

# Standard normal quantiles at the centres of 2**16 equal-probability bins: indexing it with
# uniform uint16 draws gives Gaussian noise about 3x faster than Generator.standard_normal,
# which matters for millions of colour-noise samples per frame (the tails stop at 4.3 sigma).
_NORMAL_TABLE = special.ndtri((np.arange(2**16) + 0.5) / 2**16).astype(np.float32)


def _gaussian_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Float32 standard normal samples of ``shape``, from ``rng``."""
    return _NORMAL_TABLE[rng.integers(0, 2**16, size=shape, dtype=np.uint16)]


@dataclass(frozen=True, eq=False)
class UvTexture:
    """
    An image on a mesh by texture coordinates, times a per-channel tint.

    Attributes
    ----------
    image : (H, W, 3) float array
        Reflectance in [0, 1]; row 0 is v = 0 (the glTF convention).
    corner_uvs : (F, 3, 2) float array
        (u, v) of each face's three corners, one row per mesh face; the image repeats
        outside [0, 1].
    tint : (3,) floats
        Factor on the image's channels; the product is clipped to [0, 1].

    Raises
    ------
    ValueError
        On arrays of the wrong shape or values outside the ranges above.

    """

    image: np.ndarray
    corner_uvs: np.ndarray
    tint: tuple = (1.0, 1.0, 1.0)

    def __post_init__(self):
        image = np.asarray(self.image, dtype=np.float32)
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
            raise ValueError(f'image must be (H, W, 3), got {image.shape}')
        if not np.all(np.isfinite(image)) or image.min() < 0.0 or image.max() > 1.0:
            raise ValueError('image values must lie in [0, 1]')
        uvs = np.asarray(self.corner_uvs, dtype=np.float64)
        if uvs.ndim != 3 or uvs.shape[1:] != (3, 2) or not np.all(np.isfinite(uvs)):
            raise ValueError(f'corner_uvs must be finite (F, 3, 2), got {uvs.shape}')
        tint = np.asarray(self.tint, dtype=np.float64)
        if tint.shape != (3,) or not np.all(np.isfinite(tint)) or tint.min() < 0.0:
            raise ValueError(f'tint must be 3 non-negative factors, got {self.tint!r}')
        object.__setattr__(self, 'image', image)
        object.__setattr__(self, 'corner_uvs', uvs)
        object.__setattr__(self, 'tint', tuple(float(t) for t in tint))


Albedo = (tuple[float, float, float] | np.ndarray | Callable[[np.ndarray], np.ndarray]
          | UvTexture)


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """
    Pose of a camera at ``eye`` looking at ``target``.

    Parameters
    ----------
    eye, target : (3,) array-like
        Camera centre and the point it looks at, world frame.
    up : (3,) array-like
        World direction that appears upwards in the image.

    Returns
    -------
    (4, 4) float64 world_T_camera of the optical frame: z forward (towards ``target``),
    x right and y down in the image.

    Raises
    ------
    ValueError
        If ``eye`` equals ``target`` or ``up`` is parallel to the viewing direction.

    """
    eye = np.asarray(eye, dtype=np.float64).reshape(3)
    target = np.asarray(target, dtype=np.float64).reshape(3)
    up = np.asarray(up, dtype=np.float64).reshape(3)
    forward = target - eye
    distance = np.linalg.norm(forward)
    if not np.isfinite(distance) or distance < 1e-12:
        raise ValueError(f'eye and target must differ, got {eye} and {target}')
    z = forward / distance
    right = np.cross(z, up)
    norm = np.linalg.norm(right)
    if not norm > 1e-9 * np.linalg.norm(up):
        raise ValueError(f'up {up} is parallel to the viewing direction {z}')
    x = right / norm
    # y = z cross x makes (x, y, z) right-handed; with x = z cross up it points "down".
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
    return pose


@dataclass(frozen=True)
class SceneMesh:
    """
    A mesh to render.

    Attributes
    ----------
    mesh : trimesh.Trimesh
        Triangles in the world frame, metres.
    label : int
        Value written to the mask where this mesh is visible: 0 background, 1 hand,
        2 object (other objects and the table use 0).
    albedo : (3,) floats, (V, 3) float array, callable or UvTexture
        Reflectance in [0, 1]: one RGB for the whole mesh, one RGB per vertex (interpolated
        barycentrically), ``f(points_world (N, 3)) -> (N, 3)`` evaluated at the hit
        points (procedural textures), or an image by texture coordinates.
    smooth : bool
        Shade with vertex normals interpolated across each triangle (a coarse mesh of a
        smooth surface) instead of the triangle's own normal.

    Raises
    ------
    ValueError
        On a mesh without triangles, a label outside 0..255 or an albedo of the wrong shape.

    """

    mesh: trimesh.Trimesh
    label: int = LABEL_BACKGROUND
    albedo: Albedo = (0.7, 0.7, 0.7)
    smooth: bool = False

    def __post_init__(self):
        if len(self.mesh.faces) == 0:
            raise ValueError('a SceneMesh needs at least one triangle')
        if not 0 <= int(self.label) <= 255:
            raise ValueError(f'label must fit the uint8 mask, got {self.label}')
        object.__setattr__(self, 'label', int(self.label))
        if callable(self.albedo):
            return
        if isinstance(self.albedo, UvTexture):
            if len(self.albedo.corner_uvs) != len(self.mesh.faces):
                raise ValueError(f'the texture has UVs for {len(self.albedo.corner_uvs)} '
                                 f'faces, the mesh {len(self.mesh.faces)}')
            return
        albedo = np.asarray(self.albedo, dtype=np.float64)
        if albedo.shape == (3,):
            pass
        elif albedo.shape == (len(self.mesh.vertices), 3):
            albedo = albedo.copy()
            albedo.flags.writeable = False
        else:
            raise ValueError(f'albedo must be (3,), ({len(self.mesh.vertices)}, 3) or a '
                             f'callable, got shape {albedo.shape}')
        if not np.all(np.isfinite(albedo)) or albedo.min() < 0.0 or albedo.max() > 1.0:
            raise ValueError('albedo values must lie in [0, 1]')
        object.__setattr__(self, 'albedo', tuple(albedo) if albedo.shape == (3,) else albedo)


@dataclass(frozen=True)
class RenderResult:
    """
    One rendered frame.

    Attributes
    ----------
    color : (H, W, 3) uint8
        RGB image with colour sensor effects.
    depth : (H, W) float32
        Clean depth along the optical axis in metres; 0 where no ray hit.
    mask : (H, W) uint8
        ``SceneMesh.label`` of the visible mesh; 0 where no ray hit.
    normals : (H, W, 3) float32
        Unit world-frame normals of the hit triangles (interpolated on ``smooth`` meshes),
        turned to face the camera; 0 where no ray hit.

    """

    color: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    normals: np.ndarray


def _check_pose(world_T_camera) -> np.ndarray:
    pose = np.asarray(world_T_camera, dtype=np.float64)
    if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
        raise ValueError(f'world_T_camera must be a finite (4, 4) matrix, got {pose.shape}')
    R = pose[:3, :3]
    if not np.allclose(R.T @ R, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise ValueError('world_T_camera rotation is not a proper rotation matrix')
    return pose


def camera_rays(camera: CameraIntrinsics, world_T_camera) -> np.ndarray:
    """
    One ray per pixel centre, in the layout ``RaycastingScene.cast_rays`` takes.

    Directions are ``R @ ((u - cx) / fx, (v - cy) / fy, 1)`` and deliberately not
    normalised: the ray parameter of a hit is then its depth along the optical axis.

    Returns
    -------
    (H, W, 6) float32 array of (origin, direction), world frame.

    """
    pose = _check_pose(world_T_camera)
    u = ((np.arange(camera.width) - camera.cx) / camera.fx).astype(np.float32)
    v = ((np.arange(camera.height) - camera.cy) / camera.fy).astype(np.float32)
    R = pose[:3, :3].astype(np.float32)
    rays = np.empty((camera.height, camera.width, 6), dtype=np.float32)
    # R @ (u, v, 1) = u * R[:, 0] + v * R[:, 1] + R[:, 2], one (H, W) plane per component
    # (numpy is slow on trailing axes of length 3).
    for c in range(3):
        rays[..., c] = pose[c, 3]
        np.add(u[None, :] * R[c, 0], (v * R[c, 1] + R[c, 2])[:, None], out=rays[..., 3 + c])
    return rays


def _hit_albedo(scene_mesh: SceneMesh, faces: np.ndarray, uvs: np.ndarray, eye: np.ndarray,
                t_hit: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(N, 3) float32 albedo of N hits on one mesh (triangle ids, barycentric uvs, rays)."""
    albedo = scene_mesh.albedo
    if callable(albedo):
        # Hit points in float64 so that procedural textures can use fine world coordinates.
        points = eye.astype(np.float64) + t_hit[:, None].astype(np.float64) * directions
        values = np.asarray(albedo(points), dtype=np.float32)
        if values.shape != (len(points), 3):
            raise ValueError(f'albedo callable must return ({len(points)}, 3), got '
                             f'{values.shape}')
        return np.clip(np.nan_to_num(values), 0.0, 1.0)
    # Open3D's barycentric (u, v) weight the triangle's second and third vertex.
    w = np.concatenate([1.0 - uvs.sum(axis=1, keepdims=True), uvs], axis=1)
    if isinstance(albedo, UvTexture):
        texture = np.einsum('nc,ncd->nd', w, albedo.corner_uvs[faces])
        height, width = albedo.image.shape[:2]
        # Nearest texel; the image repeats (glTF's default wrap).
        col = np.minimum((np.mod(texture[:, 0], 1.0) * width).astype(np.int64), width - 1)
        row = np.minimum((np.mod(texture[:, 1], 1.0) * height).astype(np.int64), height - 1)
        tint = np.asarray(albedo.tint, dtype=np.float32)
        return np.clip(albedo.image[row, col] * tint, 0.0, 1.0)
    corners = albedo[scene_mesh.mesh.faces[faces]].astype(np.float32)  # (N, 3 corners, 3)
    return np.einsum('nc,ncd->nd', w, corners)


def _bilinear_upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinearly resize a small (h, w, C) grid to (height, width, C), corners aligned."""
    def weights(n_out: int, n_in: int) -> np.ndarray:
        x = np.linspace(0.0, n_in - 1.0, n_out)
        lo = np.minimum(np.floor(x).astype(int), n_in - 2)
        frac = x - lo
        m = np.zeros((n_out, n_in), dtype=np.float32)
        m[np.arange(n_out), lo] = 1.0 - frac
        m[np.arange(n_out), lo + 1] = frac
        return m

    gh, gw, channels = grid.shape
    # Separable: resize the rows, then one (height, gh) x (gh, width * C) matrix product.
    rows = np.einsum('xj,ijc->ixc', weights(width, gw), grid.astype(np.float32))
    return (weights(height, gh) @ rows.reshape(gh, width * channels)).reshape(
        height, width, channels)


def _random_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1]: a gradient between two random colours plus blotches."""
    c0, c1 = rng.uniform(0.15, 0.85, size=(2, 3))
    angle = rng.uniform(0.0, 2.0 * np.pi)
    blotches = rng.normal(0.0, 0.03, size=(6, 8, 3))
    # Both parts live on a coarse grid: bilinear upsampling reproduces a linear gradient
    # exactly and turns the grid noise into smooth low-frequency blotches (per-pixel noise
    # comes from the colour sensor model).
    y, x = np.meshgrid(np.linspace(0.0, 1.0, 6), np.linspace(0.0, 1.0, 8), indexing='ij')
    t = np.cos(angle) * x + np.sin(angle) * y
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    grid = c0 + (c1 - c0) * t[..., None] + blotches
    return _bilinear_upsample(grid, height, width)


def render(meshes: list[SceneMesh], camera: CameraIntrinsics, world_T_camera,
           rng: np.random.Generator, background: np.ndarray | None = None) -> RenderResult:
    """
    Ray-cast ``meshes`` into an RGB-D frame.

    Parameters
    ----------
    meshes : list of SceneMesh
        The scene, world frame; may be empty.
    camera : CameraIntrinsics
        Pinhole intrinsics (distortion is ignored: the image is rendered rectified).
    world_T_camera : (4, 4) array-like
        Camera pose, optical frame (see ``look_at``).
    rng : numpy.random.Generator
        Source of the lighting, background and colour-noise randomness.
    background : (H, W, 3) uint8, optional
        Image shown where no ray hits; a random gradient when omitted.

    Returns
    -------
    RenderResult

    Raises
    ------
    ValueError
        On a bad pose, background or albedo.

    """
    h, w = camera.height, camera.width
    if background is not None:
        background = np.asarray(background)
        if background.shape != (h, w, 3) or background.dtype != np.uint8:
            raise ValueError(f'background must be uint8 ({h}, {w}, 3), got '
                             f'{background.dtype} {background.shape}')
    rays = camera_rays(camera, world_T_camera)
    eye = rays[0, 0, :3]

    scene = o3d.t.geometry.RaycastingScene()
    for scene_mesh in meshes:
        scene.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(scene_mesh.mesh.vertices, dtype=np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(scene_mesh.mesh.faces, dtype=np.uint32)))
    result = scene.cast_rays(o3d.core.Tensor(rays))
    # Work on the hit pixels only, as flat indices (take is much faster than masks), with
    # channels first ((3, N) rows) because numpy is slow on trailing axes of length 3.
    t_hit = result['t_hit'].numpy().reshape(-1)
    index = np.flatnonzero(np.isfinite(t_hit))
    t_hit = t_hit.take(index)
    geometry = result['geometry_ids'].numpy().reshape(-1).take(index)
    faces = result['primitive_ids'].numpy().reshape(-1).take(index).astype(np.int64)
    uvs = result['primitive_uvs'].numpy().reshape(-1, 2).take(index, axis=0)
    normals_all = result['primitive_normals'].numpy().reshape(-1, 3)
    normals_hit = np.stack([normals_all[:, c].take(index) for c in range(3)])
    rays_flat = rays.reshape(-1, 6)
    directions = np.stack([rays_flat[:, 3 + c].take(index) for c in range(3)])

    depth = np.zeros(h * w, dtype=np.float32)
    depth[index] = t_hit
    mask = np.zeros(h * w, dtype=np.uint8)
    if meshes:
        mask[index] = np.array([m.label for m in meshes], dtype=np.uint8)[geometry]

    # Light and material draws come first so that their order never depends on the scene.
    R = np.asarray(world_T_camera, dtype=np.float64)[:3, :3]
    # Direction towards the light: on the camera's side of the scene (z < 0 in the optical
    # frame) and from above (y < 0), as with a ceiling lamp behind the camera.
    light_cam = np.array([rng.uniform(-0.7, 0.7), rng.uniform(-1.0, -0.15), -1.0])
    light = (R @ (light_cam / np.linalg.norm(light_cam))).astype(np.float32)[:, None]
    ambient = np.float32(rng.uniform(0.25, 0.45))
    diffuse = np.float32(rng.uniform(0.55, 0.85))
    specular = np.float32(rng.uniform(0.03, 0.12))
    shininess = np.float32(rng.uniform(16.0, 48.0))

    for mesh_id, scene_mesh in enumerate(meshes):
        on_mesh = np.flatnonzero(geometry == mesh_id) if scene_mesh.smooth else []
        if len(on_mesh):
            corners = np.asarray(scene_mesh.mesh.vertex_normals, dtype=np.float32)[
                scene_mesh.mesh.faces[faces[on_mesh]]]
            weights = np.concatenate([1.0 - uvs[on_mesh].sum(axis=1, keepdims=True),
                                      uvs[on_mesh]], axis=1)
            smooth = np.einsum('nc,ncd->dn', weights, corners)
            normals_hit[:, on_mesh] = smooth / (np.sqrt((smooth * smooth).sum(axis=0))
                                                + np.float32(1e-12))
    view = directions / -np.sqrt((directions * directions).sum(axis=0))
    # Face normals follow the winding; a surface seen from behind (open meshes, the inside of
    # a mug) must still be lit from the camera side.
    normals_hit *= np.where((normals_hit * view).sum(axis=0) < 0.0, np.float32(-1.0),
                            np.float32(1.0))

    # Uniform colours by one lookup per channel; textured meshes overwrite their hits.
    uniform = np.array([m.albedo if isinstance(m.albedo, tuple) else (0.0, 0.0, 0.0)
                        for m in meshes] or [(0.0, 0.0, 0.0)], dtype=np.float32)
    albedo = np.stack([uniform[:, c].take(geometry) for c in range(3)])
    for mesh_id, scene_mesh in enumerate(meshes):
        if isinstance(scene_mesh.albedo, tuple):
            continue
        on_mesh = np.flatnonzero(geometry == mesh_id)
        if len(on_mesh):
            albedo[:, on_mesh] = _hit_albedo(scene_mesh, faces[on_mesh], uvs[on_mesh], eye,
                                             t_hit[on_mesh], directions[:, on_mesh].T).T
    n_dot_l = np.maximum((normals_hit * light).sum(axis=0), np.float32(0.0))
    half = light + view
    half /= np.sqrt((half * half).sum(axis=0)) + np.float32(1e-12)
    n_dot_h = np.maximum((normals_hit * half).sum(axis=0), np.float32(0.0))
    # White highlight, only on surfaces the light reaches.
    highlight = np.where(n_dot_l > 0, specular * n_dot_h ** shininess, np.float32(0.0))
    shaded = albedo * (ambient + diffuse * n_dot_l) + highlight

    if background is None:
        image = _random_background(h, w, rng)
    else:
        image = background.astype(np.float32) / np.float32(255.0)
    pixels = image.reshape(-1, 3)
    for c in range(3):
        pixels[index, c] = shaded[c]

    # Colour sensor: mild exposure and white-balance error, then read noise (~2 of 255).
    gain = (rng.uniform(0.88, 1.12) * rng.uniform(0.95, 1.05, size=3) * 255.0)
    image *= gain.astype(np.float32)
    image += np.float32(2.0) * _gaussian_noise(rng, image.shape)
    color = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    normals = np.zeros((h * w, 3), dtype=np.float32)
    for c in range(3):
        normals[index, c] = normals_hit[c]
    depth, mask, normals = depth.reshape(h, w), mask.reshape(h, w), normals.reshape(h, w, 3)
    return RenderResult(color=color, depth=depth, mask=mask, normals=normals)


@dataclass(frozen=True)
class DepthSensor:
    """
    Parameters of a structured-light / active-stereo depth sensor (RealSense D4xx-like).

    Attributes
    ----------
    sigma0, sigma2 : float
        Noise standard deviation ``sigma0 + sigma2 * z**2`` in metres (stereo depth error
        grows with the square of the distance).
    min_depth, max_depth : float
        Measurable range in metres; depth outside it is invalid.
    edge_threshold : float
        Depth jump in metres within a 3x3 neighbourhood that makes a pixel a depth edge.
    edge_invalid_probability : float
        Chance that an edge pixel is invalid (where a real sensor gives flying pixels or
        nothing).
    shadow_min_px, shadow_max_px : int
        Width range, per image row, of the occlusion shadow: background pixels on
        ``shadow_side`` of a nearer surface that the projector or second imager cannot see.
    shadow_side : str
        'left' (RealSense D4xx: depth is in the left imager's frame) or 'right'.
    dropout_fraction : float
        Fraction of pixels lost at random (speckle).
    max_holes : int
        Up to this many small elliptical holes per image (specular spots, low texture).
    hole_radius_px : (float, float)
        Range of the holes' semi-axes in pixels.
    quantisation : float
        Depth step in metres (1 mm like a uint16 millimetre image).

    """

    sigma0: float = 0.0005
    sigma2: float = 0.0012
    min_depth: float = 0.1
    max_depth: float = 3.0
    edge_threshold: float = 0.02
    edge_invalid_probability: float = 0.6
    shadow_min_px: int = 1
    shadow_max_px: int = 3
    shadow_side: str = 'left'
    dropout_fraction: float = 0.01
    max_holes: int = 3
    hole_radius_px: tuple[float, float] = (2.0, 6.0)
    quantisation: float = 0.001

    def __post_init__(self):
        if self.sigma0 < 0 or self.sigma2 < 0:
            raise ValueError('noise sigmas must be non-negative')
        if not 0 <= self.min_depth < self.max_depth:
            raise ValueError(f'need 0 <= min_depth < max_depth, got {self.min_depth}, '
                             f'{self.max_depth}')
        if self.edge_threshold <= 0:
            raise ValueError('edge_threshold must be positive')
        for name in ('edge_invalid_probability', 'dropout_fraction'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must lie in [0, 1]')
        if not 0 <= self.shadow_min_px <= self.shadow_max_px:
            raise ValueError('need 0 <= shadow_min_px <= shadow_max_px')
        if self.shadow_side not in ('left', 'right'):
            raise ValueError(f"shadow_side must be 'left' or 'right', got {self.shadow_side}")
        if self.max_holes < 0 or not 0 < self.hole_radius_px[0] <= self.hole_radius_px[1]:
            raise ValueError('need max_holes >= 0 and 0 < hole_radius_px[0] <= [1]')
        if self.quantisation <= 0:
            raise ValueError('quantisation must be positive')


def depth_edges(depth: np.ndarray, threshold: float) -> np.ndarray:
    """
    Pixels whose 3x3 neighbourhood spans a depth jump larger than ``threshold``.

    Invalid (0) pixels count as far away, so silhouettes against empty space are edges.

    Returns
    -------
    (H, W) bool array.

    """
    far = np.float32(1e4)
    z = np.where(depth > 0, depth, far).astype(np.float32)
    return (ndimage.maximum_filter(z, size=3, mode='nearest')
            - ndimage.minimum_filter(z, size=3, mode='nearest')) > threshold


def apply_depth_sensor(depth_clean: np.ndarray, rng: np.random.Generator,
                       sensor: DepthSensor = DepthSensor()) -> np.ndarray:  # noqa: B008
    """
    Simulate what a depth sensor measures of a clean depth image.

    Parameters
    ----------
    depth_clean : (H, W) float array
        Exact optical-axis depth in metres, 0 where nothing was hit.
    rng : numpy.random.Generator
        Source of the noise; the draws do not depend on the image content.
    sensor : DepthSensor
        Sensor parameters.

    Returns
    -------
    (H, W) float32 depth in metres on whole multiples of ``sensor.quantisation``; 0 where
    invalid (no surface, out of range, edge, shadow, dropout, hole). Never NaN.

    Raises
    ------
    ValueError
        If ``depth_clean`` is not 2-D.

    """
    clean = np.asarray(depth_clean, dtype=np.float32)
    if clean.ndim != 2:
        raise ValueError(f'depth must be (H, W), got {clean.shape}')
    h, w = clean.shape
    valid = np.isfinite(clean) & (clean > 0)
    clean = np.where(valid, clean, np.float32(0.0))

    # Every draw has a fixed size so that the stream position never depends on content.
    noise = _gaussian_noise(rng, (h, w))
    edge_draw = rng.random((h, w), dtype=np.float32)
    shadow_width = rng.integers(sensor.shadow_min_px, sensor.shadow_max_px + 1, size=h)
    dropout_draw = rng.random((h, w), dtype=np.float32)
    n_holes = int(rng.integers(0, sensor.max_holes + 1))
    hole_params = rng.random((sensor.max_holes, 5))[:n_holes]

    sigma = np.float32(sensor.sigma0) + np.float32(sensor.sigma2) * clean * clean
    depth = clean + noise * sigma
    steps = np.rint(depth / np.float32(sensor.quantisation))
    # float32 step count over float32 steps per metre, as depth_mm_to_m decodes millimetres:
    # a 1 mm result survives a millimetre PNG round trip bit for bit.
    depth = steps.astype(np.float32) / np.float32(1.0 / sensor.quantisation)
    valid &= (depth >= sensor.min_depth) & (depth <= sensor.max_depth)

    valid &= ~(depth_edges(clean, sensor.edge_threshold)
               & (edge_draw < sensor.edge_invalid_probability))

    # Occlusion shadow: a pixel is shadowed when a surface nearer by more than the edge
    # threshold lies within the row's shadow width on the occluder's side of it.
    z = np.where(clean > 0, clean, np.float32(1e4))
    shadow = np.zeros((h, w), dtype=bool)
    for step in range(1, min(sensor.shadow_max_px, w - 1) + 1):
        in_band = (shadow_width >= step)[:, None]
        if sensor.shadow_side == 'left':
            shadow[:, :-step] |= in_band & (z[:, :-step] - z[:, step:] > sensor.edge_threshold)
        else:
            shadow[:, step:] |= in_band & (z[:, step:] - z[:, :-step] > sensor.edge_threshold)
    valid &= ~shadow

    valid &= dropout_draw >= sensor.dropout_fraction

    lo, hi = sensor.hole_radius_px
    for cu, cv, ru, rv, angle in hole_params:
        cu, cv = cu * (w - 1), cv * (h - 1)
        ru, rv = lo + ru * (hi - lo), lo + rv * (hi - lo)
        angle *= np.pi
        reach = int(np.ceil(max(ru, rv)))
        u0, u1 = max(int(cu) - reach, 0), min(int(cu) + reach + 2, w)
        v0, v1 = max(int(cv) - reach, 0), min(int(cv) + reach + 2, h)
        vv, uu = np.mgrid[v0:v1, u0:u1]
        du, dv = uu - cu, vv - cv
        a = (du * np.cos(angle) + dv * np.sin(angle)) / ru
        b = (-du * np.sin(angle) + dv * np.cos(angle)) / rv
        valid[v0:v1, u0:u1] &= a * a + b * b > 1.0

    return np.where(valid, depth, np.float32(0.0)).astype(np.float32)
