"""Camera models and mesh utilities (numpy only, no ROS)."""
