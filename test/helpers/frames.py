"""Frame folders for tests: the package's test pattern, whose frames encode their index."""

from c2f_sdf_ros.data.pattern import D435_640X480 as D435_640
from c2f_sdf_ros.data.pattern import pattern_frame as make_frame
from c2f_sdf_ros.data.pattern import pattern_frame_index as frame_index
from c2f_sdf_ros.data.pattern import write_pattern_folder as make_frame_folder

__all__ = ['D435_640', 'frame_index', 'make_frame', 'make_frame_folder']
