"""Node parameters declared from one table: descriptors, ranges, choices, validation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
import math

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
    ParameterException,
)
from rclpy.node import Node
from rclpy.parameter import Parameter


class ConfigurationError(ValueError):
    """A node cannot start with the parameters it was given; the message says why."""


@dataclass(frozen=True)
class ParameterSpec:
    """
    One row of a node's parameter table: enough to declare, describe and check it.

    ``declare_parameters`` declares every row with its descriptor (what ``ros2 param
    describe`` shows) and refuses a value ``check`` rejects, at start and at runtime.

    Attributes
    ----------
    name : str
        Parameter name.
    default : bool, int, float or str
        Default value; its type is the parameter's type.
    description : str
        What it does, shown by ``ros2 param describe``.
    choices : tuple of str
        Allowed values of a string parameter (empty: any).
    low, high : float, optional
        Inclusive range of a numeric parameter.
    read_only : bool
        Whether it can only be set at start.

    """

    name: str
    default: bool | int | float | str
    description: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    read_only: bool = True

    def descriptor(self) -> ParameterDescriptor:
        """The ROS parameter descriptor (type comes from the default at declaration)."""
        descriptor = ParameterDescriptor(name=self.name, description=self.description,
                                         read_only=self.read_only)
        if self.choices:
            descriptor.additional_constraints = f'one of: {", ".join(self.choices)}'
        if isinstance(self.default, bool) or (self.low is None and self.high is None):
            return descriptor
        if isinstance(self.default, int):
            descriptor.integer_range = [IntegerRange(
                from_value=int(self.low), to_value=int(self.high), step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(self.low), to_value=float(self.high), step=0.0)]
        return descriptor

    def check(self, value) -> str | None:
        """Return why ``value`` is not allowed, or None if it is."""
        if self.choices and value not in self.choices:
            return f'{self.name} must be one of {", ".join(self.choices)}; got {value!r}'
        if isinstance(value, float) and not math.isfinite(value):
            return f'{self.name} must be finite; got {value}'
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if (self.low is not None and value < self.low) or \
                    (self.high is not None and value > self.high):
                return f'{self.name} must be in [{self.low}, {self.high}]; got {value}'
        return None


def declare_parameters(node: Node, specs: Sequence[ParameterSpec],
                       validate: Callable[[Mapping[str, object]], str | None] | None = None
                       ) -> dict:
    """
    Declare ``specs`` on ``node`` and return their values by name.

    Values given at start (YAML, ``-p``, launch) are checked against the ranges and choices,
    and later changes to parameters that are not read-only are checked the same way, then
    by ``validate(changes)`` (name -> new value; returns why they are refused, or None).
    A refused change is answered ``SetParametersResult(successful=False, reason=...)``
    (what ``ros2 param set`` prints); read-only parameters are refused by rclpy.

    Raises
    ------
    ConfigurationError
        Naming the parameter, when a value is of the wrong type or out of range.

    """
    by_name = {spec.name: spec for spec in specs}
    values = {}
    for spec in specs:
        try:
            node.declare_parameter(spec.name, spec.default, spec.descriptor())
        except InvalidParameterTypeException as error:
            kind = type(spec.default).__name__
            raise ConfigurationError(
                f'parameter {spec.name} must be of type {kind} (e.g. {spec.default!r}): '
                f'{error}') from error
        except (InvalidParameterValueException, ParameterException) as error:
            raise ConfigurationError(f'parameter {spec.name}: {error}') from error
        value = node.get_parameter(spec.name).value
        problem = spec.check(value)
        if problem:
            raise ConfigurationError(problem)
        values[spec.name] = value

    def on_set(parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            spec = by_name.get(parameter.name)
            problem = spec.check(parameter.value) if spec else None
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        if validate is not None:
            problem = validate({parameter.name: parameter.value for parameter in parameters
                                if parameter.name in by_name})
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values
