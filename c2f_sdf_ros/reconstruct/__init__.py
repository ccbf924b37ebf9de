"""Frame to meshes: model inference, lattices and marching cubes (ROS-free)."""
