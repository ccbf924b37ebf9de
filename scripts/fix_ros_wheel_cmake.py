"""
Point the ROS 2 wheels' exported CMake targets at this interpreter's include dirs.

The ``ros-*-msgs`` wheels from PyPI export ``*__rosidl_generator_pyExport.cmake`` files that
name their build image's Python and numpy include directories, which do not exist here, so
building any interface package against them fails with "includes non-existent path". This
rewrites those paths to the running interpreter's. Idempotent; run after installing wheels.
"""

import pathlib
import re
import sys
import sysconfig

import numpy

# Include dirs as the wheel build image wrote them (manylinux's /opt/python/cpXY-cpXY/...).
_PYTHON_INCLUDE = re.compile(r'/opt/python/cp\d+-cp\d+\w*/include/python\d+\.\d+\w*')
_NUMPY_INCLUDE = re.compile(
    r'/opt/python/cp\d+-cp\d+\w*/lib/python\d+\.\d+/site-packages/numpy/(_core|core)/include')


def fix_file(path: pathlib.Path, python_include: str, numpy_include: str) -> bool:
    """Rewrite one export file; return True if it changed."""
    text = path.read_text()
    fixed = _NUMPY_INCLUDE.sub(numpy_include, text)
    fixed = _PYTHON_INCLUDE.sub(python_include, fixed)
    if fixed == text:
        return False
    path.write_text(fixed)
    return True


def main() -> int:
    """Fix every export file under this environment's prefix."""
    prefix = pathlib.Path(sys.prefix)
    python_include = sysconfig.get_paths()['include']
    numpy_include = numpy.get_include()
    changed = [
        path for path in sorted(prefix.glob('share/*/cmake/*__rosidl_generator_pyExport.cmake'))
        if fix_file(path, python_include, numpy_include)]
    for path in changed:
        print(f'fixed include paths in {path.relative_to(prefix)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
