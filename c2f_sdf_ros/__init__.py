"""Hand and held-object reconstruction from RGB-D with the coarse-to-fine SDF model."""

from pkgutil import extend_path

# The interfaces generated from msg/ (c2f_sdf_ros.msg) are installed by CMake into a prefix's
# site-packages/c2f_sdf_ros, while the Python code may come from a source checkout (the
# README's editable install). Joining every c2f_sdf_ros directory on sys.path makes both
# halves one package; in a colcon install both are in the same directory and this is a no-op.
__path__ = extend_path(__path__, __name__)

__version__ = '0.1.0'
