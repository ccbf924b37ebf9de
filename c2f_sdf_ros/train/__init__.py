"""Training: losses, data batching, the training loop (no ROS)."""
