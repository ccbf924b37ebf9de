"""The evaluation's two-pass meshing: a second lattice over the tight box of each inside."""

import numpy as np
import pytest
import torch

from c2f_sdf_ros.reconstruct.meshing import field_meshes, narrow_band_grid, tight_box_meshes

CENTRE = torch.tensor([0.2, -0.1, 0.05])


def two_spheres(points, fields=(0, 1)):
    """Field 0: a sphere of radius 0.25; field 1: one of 0.1 (the 'object')."""
    distance = (points - CENTRE).norm(dim=-1)
    both = torch.stack([distance - 0.25, distance - 0.1], -1)
    return both[:, list(fields)]


def radius_error(mesh, radius):
    return np.abs(np.linalg.norm(mesh.vertices - CENTRE.numpy(), axis=1) - radius).max()


def test_the_second_pass_meshes_each_surface_finer_than_the_cube_lattice():
    values, _ = narrow_band_grid(two_spheres, 24, start=12)
    coarse = field_meshes(values, lambda v: v)
    tight, count = tight_box_meshes(two_spheres, 2, 24, start=12)
    for radius, one, two in zip((0.25, 0.1), coarse, tight, strict=True):
        # The box around the inside is a fraction of the cube: cells several times finer.
        assert radius_error(two, radius) < 0.5 * radius_error(one, radius)
        assert radius_error(two, radius) < 0.01
        assert len(two.vertices) > 2 * len(one.vertices)
    assert count > 0


def test_a_field_without_inside_has_no_mesh():
    def hand_only(points, fields=(0, 1)):
        out = two_spheres(points)
        out[:, 1] = 1.0
        return out[:, list(fields)]
    meshes, _ = tight_box_meshes(hand_only, 2, 16, start=8)
    assert meshes[0] is not None and meshes[1] is None


def test_a_fine_lattice_over_a_small_box_queries_a_thin_shell_with_the_same_values_there():
    # A lattice spanning a box of half-size 0.15 (as the second pass does): the clamp-wide
    # band would query most of it; a band of a few cells queries a shell and still gets
    # every value next to the surface exactly.
    half = 0.15

    def in_box(points, fields=(0,)):
        return two_spheres(CENTRE + points * half, fields)

    wide, wide_count = narrow_band_grid(in_box, 64, start=16, band_cells=1e9,
                                        spacing_scale=half)
    thin, thin_count = narrow_band_grid(in_box, 64, start=16, spacing_scale=half)
    assert thin_count < 0.7 * wide_count
    cell = 2.0 / 63 * half
    near = np.abs(wide) < 2 * cell
    np.testing.assert_allclose(thin[near], wide[near], atol=1e-6)
    assert (np.sign(thin) == np.sign(wide)).all()


def test_a_band_narrower_than_a_cell_diagonal_is_refused():
    with pytest.raises(ValueError, match='band_cells'):
        narrow_band_grid(two_spheres, 16, start=8, band_cells=1.0)
