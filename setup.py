"""
pip install of the c2f_sdf_ros Python code and its ``c2f-sdf`` command.

The messages in msg/ are built by CMake (colcon on a ROS 2 install, or the README's setup
script here); this file installs the Python code that uses them.
"""

from setuptools import find_packages, setup

setup(
    # Not 'c2f_sdf_ros': CMake installs the generated interfaces as a distribution of that
    # name, and pip would delete them when (re)installing one of the same name.
    name='c2f-sdf',
    version='0.1.0',
    description='Hand and held-object reconstruction from RGB-D (C2F-SDF) for ROS 2',
    license='MIT',
    python_requires='>=3.10',
    packages=find_packages(include=('c2f_sdf_ros', 'c2f_sdf_ros.*')),
    package_data={'c2f_sdf_ros': ['weights/*.safetensors', 'weights/*.json']},
    # open3d is needed too: `open3d` or the smaller `open3d-cpu` (requirements.txt) both
    # provide it, so it is not named here.
    install_requires=['numpy', 'pyyaml', 'pillow', 'trimesh', 'scipy', 'scikit-image',
                      'matplotlib'],
    extras_require={'test': ['pytest', 'ruff']},
    entry_points={
        'console_scripts': [
            'c2f-sdf = c2f_sdf_ros.cli:main',
        ],
    },
)
