"""
The managed (lifecycle) variant of the reconstruction node.

Same parameters, topics and work as ``reconstruction_node`` (``ReconstructionRunner``), on
the ROS 2 lifecycle (``rclpy.lifecycle``; a lifecycle manager or ``ros2 lifecycle set``
drives it through ``<node>/change_state``):

============  ======================================================================
transition    what happens
============  ======================================================================
configure     loads the weights, creates the publishers (a bad value: failure, the
              node stays unconfigured and says why)
activate      subscribes to the camera and starts the worker
deactivate    unsubscribes, lets the worker finish its frame (unpublished), stops it
              and clears the markers (DELETEALL)
cleanup       destroys the publishers and releases the model
shutdown      what deactivate and cleanup do, from any state
============  ======================================================================

Parameters can be set in every state; model settings in ``RUNTIME_PARAMETERS`` apply from
the next frame, the others (read-only) at start.
"""

from __future__ import annotations

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from c2f_sdf_ros.ros.node_main import run_node
from c2f_sdf_ros.ros.parameters import ConfigurationError
from c2f_sdf_ros.ros.reconstruction_node import (
    NODE_NAME,
    PARAMETERS,
    declare_reconstruction_parameters,
)

__all__ = ['PARAMETERS', 'ReconstructionLifecycleNode', 'main']


class ReconstructionLifecycleNode(LifecycleNode):
    """The reconstruction node under lifecycle management (see the module docstring)."""

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.params, self.runner = declare_reconstruction_parameters(self)
        self.get_logger().info('unconfigured; configure loads the weights')

    def _release(self) -> None:
        self.runner.close()
        self.runner.release()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the weights, create the publishers."""
        try:
            self.runner.load()
        except ConfigurationError as error:
            self.get_logger().error(f'configure failed: {error}')
            return TransitionCallbackReturn.FAILURE
        self.runner.open()
        self.get_logger().info(f'configured: {self.runner.describe()}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe and start the worker."""
        self.runner.start()
        self.get_logger().info(f'active: {self.runner.describe()}')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe, stop the worker, clear the markers."""
        self.runner.stop(clear=True)
        self.get_logger().info(f'inactive: {self.runner.status_values()}')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy the publishers, release the model."""
        self._release()
        self.get_logger().info('unconfigured: model released')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop (with DELETEALL) and release, from whatever state."""
        self.runner.stop(clear=True)
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """After a failed transition: stop and release, back to unconfigured."""
        self.runner.stop(clear=True)
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Stop and clear the markers while the context is up, release, destroy."""
        self.runner.shut_down(super().destroy_node)


def main(args: list[str] | None = None) -> int:
    """Run the managed node (``ros2 run c2f_sdf_ros reconstruction_lifecycle_node``)."""
    return run_node(ReconstructionLifecycleNode, args, publish_on_stop=True)


if __name__ == '__main__':
    raise SystemExit(main())
