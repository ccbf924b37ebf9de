"""
Where the bundled sample frames are: ``data/sample`` in a checkout, ``share/`` when installed.

A source checkout (and the editable pip install made from it) has them next to the code.
A colcon install copies them to ``share/c2f_sdf_ros/sample`` (CMakeLists.txt), which the
ament index finds. ``ament_index_python`` is optional here: without it (or without an
installed package) only the checkout is looked at.
"""

from __future__ import annotations

import pathlib

PACKAGE = 'c2f_sdf_ros'
SOURCE_SAMPLE = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'sample'


def installed_sample() -> pathlib.Path | None:
    """``share/c2f_sdf_ros/sample`` of the package the ament index finds, or None."""
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        return None
    try:
        return pathlib.Path(get_package_share_directory(PACKAGE)) / 'sample'
    except (PackageNotFoundError, ValueError):
        return None


def find_bundled_frames() -> pathlib.Path:
    """
    The folder of the bundled sample frames.

    The checkout's ``data/sample`` when this code runs from a checkout, else the installed
    copy. When neither exists, the checkout path, so that the error names a real place.
    """
    if (SOURCE_SAMPLE / 'camera.yaml').is_file():
        return SOURCE_SAMPLE
    installed = installed_sample()
    if installed is not None and (installed / 'camera.yaml').is_file():
        return installed
    return SOURCE_SAMPLE


BUNDLED_FRAMES = find_bundled_frames()
