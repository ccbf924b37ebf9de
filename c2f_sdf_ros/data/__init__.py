"""Datasets, frame folders and synthetic data (no ROS)."""
