"""
Compressed inputs (image_transport's compressed / compressedDepth) give the raw inputs' meshes.

Three reconstruction nodes in this process (one model each, same settings), fed the same
bundled frame over DDS: raw Image messages, PNG colour + compressedDepth, and JPEG colour +
compressedDepth. PNG and 16-bit PNG depth are lossless, so those meshes are identical.
"""

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from c2f_sdf_ros.msg import HandObjectReconstruction
from c2f_sdf_ros.ros import image_codec
from c2f_sdf_ros.ros.conversions import image_to_numpy, mesh_from_msg
from c2f_sdf_ros.ros.reconstruction_node import ReconstructionNode
from helpers.camera_topics import publish_triple, sample_triple

pytestmark = [pytest.mark.ros, pytest.mark.slow]
TEST_NAMESPACE = '/compressed_test'
# input name -> (color_transport, depth_transport, colour codec)
INPUTS = {'raw': ('raw', 'raw', None), 'png': ('compressed', 'compressedDepth', 'png'),
          'jpeg': ('compressed', 'compressedDepth', 'jpeg')}


def compressed(color: Image, depth: Image, codec: str):
    """The compressed messages of a raw color (rgb8) / depth (16UC1) pair."""
    color_msg = CompressedImage()
    color_msg.format, data = image_codec.encode_compressed_color(
        image_to_numpy(color), codec, quality=95)
    color_msg.data = data
    depth_msg = CompressedImage()
    depth_msg.format, data = image_codec.encode_compressed_depth(image_to_numpy(depth), '16UC1')
    depth_msg.data = data
    return color_msg, depth_msg


def test_compressed_inputs_reconstruct_the_same_meshes_as_raw(test_node):
    node = test_node.node
    color, depth, info = sample_triple(1)
    nodes, publishers, results = [], {}, {name: [] for name in INPUTS}
    try:
        for name, (color_transport, depth_transport, codec) in INPUTS.items():
            namespace = f'{TEST_NAMESPACE}/{name}'
            reconstruction = ReconstructionNode(
                context=test_node.context, namespace=namespace, parameter_overrides=[
                    Parameter('resolution', value=32), Parameter('detector', value='skin_depth'),
                    Parameter('color_transport', value=color_transport),
                    Parameter('depth_transport', value=depth_transport)])
            nodes.append(reconstruction)
            test_node.executor.add_node(reconstruction)
            suffix = ('/compressed', '/compressedDepth') if codec else ('', '')
            kind = CompressedImage if codec else Image
            publishers[name] = [
                node.create_publisher(kind, f'{namespace}/color/image_raw{suffix[0]}', 10),
                node.create_publisher(kind, f'{namespace}/aligned_depth_to_color/image_raw'
                                      f'{suffix[1]}', 10),
                node.create_publisher(CameraInfo, f'{namespace}/color/camera_info', 10)]
            node.create_subscription(HandObjectReconstruction, f'{namespace}/reconstruction',
                                     results[name].append, 10)
        cell = 4.0 / (nodes[0].runner.reconstructor.crop.norm_scale * 32)
        assert test_node.spin_until(lambda: all(
            p.get_subscription_count() >= 1 for group in publishers.values() for p in group),
            30.0)
        messages = {name: (color, depth) if codec is None else compressed(color, depth, codec)
                    for name, (_, _, codec) in INPUTS.items()}
        for _ in range(3):   # a triple can be lost while discovery completes
            stamp = node.get_clock().now().to_msg()
            for name, (color_msg, depth_msg) in messages.items():
                publish_triple(publishers[name], stamp, color_msg, depth_msg, info)
            if test_node.spin_until(lambda: all(results.values()), 120.0):
                break
        assert all(results.values()), {name: len(r) for name, r in results.items()}
    finally:
        for reconstruction in nodes:
            test_node.executor.remove_node(reconstruction)
            reconstruction.destroy_node()
    assert all(not n.dropped for n in nodes), [dict(n.dropped) for n in nodes]
    meshes = {}
    for name, [msg, *_] in results.items():
        assert msg.hands and msg.objects, name
        meshes[name] = [mesh_from_msg(item.mesh) for item in (*msg.hands, *msg.objects)]
    # Lossless: the very same meshes, vertex for vertex.
    for (raw_v, raw_f), (png_v, png_f) in zip(meshes['raw'], meshes['png'], strict=True):
        np.testing.assert_array_equal(png_v, raw_v)
        np.testing.assert_array_equal(png_f, raw_f)
    # JPEG changes colours slightly (and with them the skin/depth finder's root and the
    # encoder's input): the hand stays where the raw frame puts it, within a lattice cell
    # (the normalised cube [-1, 1] is 4 / norm_scale metres wide: 2 cm per cell at 32^3).
    raw_hand, jpeg_hand = meshes['raw'][0][0], meshes['jpeg'][0][0]
    distance = np.linalg.norm(jpeg_hand[:, None] - raw_hand[None], axis=2).min(axis=1)
    assert np.median(distance) < cell, (np.median(distance), cell)
