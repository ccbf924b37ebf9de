"""
ROS 2 layer: nodes, message conversions, synchronisation.

Modules here may import rclpy and message packages; the rest of c2f_sdf_ros never does.
``image_codec`` and ``sync`` are plain numpy/Python so that they are tested without ROS;
``launch_helpers`` needs ``launch`` / ``launch_ros`` (full ROS 2 installs) and only the
launch files import it.
"""
