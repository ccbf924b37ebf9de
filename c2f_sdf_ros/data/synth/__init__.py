"""
Synthetic RGB-D frames of a hand grasping an object, with exact ground truth.

Analytic signed distances (``sdf``) for a procedural articulated hand (``hand``) and
object families (``objects``), grasps closed until contact (``grasp``), ray-cast RGB-D
rendering with a depth sensor model (``render``), and the frame writer (``generate``).
"""
