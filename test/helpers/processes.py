"""Run nodes as separate processes and spin a test node until a condition holds."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

REPO = pathlib.Path(__file__).resolve().parents[2]
FASTDDS_PROFILE = REPO / 'config' / 'fastdds_localhost.xml'


def node_env() -> dict:
    """The environment for node processes: loopback DDS, the shipped Fast DDS profile."""
    env = dict(os.environ)
    env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(FASTDDS_PROFILE)
    env['PYTHONUNBUFFERED'] = '1'
    return env


def start_process(args: list[str], log_path: pathlib.Path, env: dict | None = None,
                  cwd: pathlib.Path = REPO) -> subprocess.Popen:
    """Start ``python args...`` with ``node_env()`` (or ``env``), output to ``log_path``."""
    log = open(log_path, 'w')  # noqa: SIM115 - closed with the process by stop_process
    process = subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
                               env=node_env() if env is None else env, cwd=cwd)
    process.log_file = log
    process.log_path = log_path
    return process


def start_node(module: str, log_path: pathlib.Path, *ros_args: str) -> subprocess.Popen:
    """Start ``python -m module --ros-args ros_args...``."""
    return start_process(['-m', module, '--ros-args', *ros_args], log_path)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGINT the process (as Ctrl-C would), wait, and return its exit status."""
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    process.log_file.close()
    return process.returncode


def process_log(process: subprocess.Popen) -> str:
    """What the process printed so far."""
    if not process.log_file.closed:
        process.log_file.flush()
    return pathlib.Path(process.log_path).read_text()


class RosTestNode:
    """An rclpy node in its own context, spun by hand from the test."""

    def __init__(self, name: str, namespace: str = ''):
        os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(FASTDDS_PROFILE))
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition, timeout: float) -> bool:
        """Spin until ``condition()`` is true or ``timeout`` seconds pass; return condition()."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return bool(condition())

    def spin_for(self, seconds: float) -> None:
        """Spin for ``seconds``."""
        self.spin_until(lambda: False, seconds)

    def close(self) -> None:
        """Destroy the node and shut its context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def call_service(test_node: RosTestNode, client, request, timeout: float = 60.0):
    """Call a service from the test node and spin until the answer (AssertionError if none)."""
    assert client.wait_for_service(timeout_sec=timeout), f'{client.srv_name} did not appear'
    future = client.call_async(request)
    assert test_node.spin_until(future.done, timeout), f'{client.srv_name}: no answer'
    return future.result()
