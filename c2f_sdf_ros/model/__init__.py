"""The coarse-to-fine SDF model (C2F-SDF) in plain torch: encoder, decoders, 3D PIFu, heads."""
