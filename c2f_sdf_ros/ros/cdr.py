"""
ROS messages to their wire bytes (XCDR1, little endian), with numpy arrays for big sequences.

rclpy builds a Python object per element of a message sequence: a 6k-vertex mesh as a
``TRIANGLE_LIST`` marker is 36k ``geometry_msgs/Point`` objects, which take longer to make
and to convert for publishing than the model takes to mesh them. This module writes the
same bytes rclpy would (``rclpy.serialization.serialize_message``) from the message's type
description, and takes a sequence of a *flat* message type (every member, nested ones
included, of one numeric type: ``Point`` is 3 float64, ``ColorRGBA`` 4 float32,
``MeshTriangle`` 3 uint32) as one numpy array wrapped in ``Packed``. ``Publisher.publish``
accepts the bytes as they are.

A ``Packed`` value is an empty list to everything but this module, so a message holding one
must be published through ``serialize`` (or turned into plain objects by ``unpack``).
"""

from __future__ import annotations

import array
import importlib
import struct
from typing import Any

import numpy as np
from rosidl_parser.definition import (
    AbstractNestedType,
    AbstractString,
    AbstractWString,
    Array,
    BasicType,
    NamespacedType,
)

# The encapsulation header of little-endian plain CDR, as rmw_fastrtps writes it.
CDR_LE_HEADER = b'\x00\x01\x00\x00'
# rosidl basic type -> struct / numpy type code.
BASIC_CODES = {
    'boolean': '?', 'octet': 'B', 'char': 'B', 'float': 'f', 'double': 'd',
    'int8': 'b', 'uint8': 'B', 'int16': 'h', 'uint16': 'H', 'int32': 'i', 'uint32': 'I',
    'int64': 'q', 'uint64': 'Q',
}


class Packed(list):
    """
    A sequence of a flat message type given as one numpy array (one row per element).

    It is an empty list to rclpy and to the message classes, so the message type checks
    pass; ``serialize`` writes ``array`` and ``unpack`` turns it into message objects.

    Parameters
    ----------
    array : (N, k) array-like
        One row of ``k`` values per element, in the element's field order (``Point``: x,
        y, z); converted to the element's numeric type when serialized.

    """

    __slots__ = ('array',)

    def __init__(self, values):
        super().__init__()
        values = np.asarray(values)
        if values.ndim != 2:
            values = values.reshape(len(values), -1) if values.size else values.reshape(0, 0)
        self.array = values

    def __repr__(self) -> str:
        return f'Packed({self.array.shape[0]}x{self.array.shape[1]} {self.array.dtype})'


def _message_class(namespaced: NamespacedType) -> type:
    module = importlib.import_module('.'.join(namespaced.namespaces))
    return getattr(module, namespaced.name)


def _fields(message_class: type) -> list[tuple[str, Any]]:
    names = list(message_class.get_fields_and_field_types())
    return list(zip(names, message_class.SLOT_TYPES, strict=True))


def flat_layout(message_class: type) -> tuple[str, int] | None:
    """
    (type code, number of values) of a message type made of one numeric type, else None.

    ``geometry_msgs/Point`` is ('d', 3), ``shape_msgs/MeshTriangle`` ('I', 3).
    """
    codes: list[str] = []
    for _, slot in _fields(message_class):
        size = 1
        if isinstance(slot, Array):
            slot, size = slot.value_type, slot.size
        if isinstance(slot, BasicType) and slot.typename in BASIC_CODES \
                and slot.typename not in ('boolean', 'char', 'octet'):
            codes += [BASIC_CODES[slot.typename]] * size
        elif isinstance(slot, NamespacedType):
            inner = flat_layout(_message_class(slot))
            if inner is None:
                return None
            codes += [inner[0]] * (inner[1] * size)
        else:
            return None
    if not codes or len(set(codes)) != 1:
        return None
    return codes[0], len(codes)


class _Writer:
    """A growing CDR buffer; alignment counts from the end of the encapsulation header."""

    def __init__(self):
        self.buffer = bytearray(CDR_LE_HEADER)

    def align(self, size: int) -> None:
        padding = -(len(self.buffer) - 4) % size
        if padding:
            self.buffer += bytes(padding)

    def basic(self, code: str, value) -> None:
        size = struct.calcsize(code)
        self.align(size)
        if isinstance(value, bytes | bytearray):   # octet
            value = value[0]
        elif isinstance(value, str):                # char
            value = ord(value)
        self.buffer += struct.pack('<' + code, value)

    def count(self, n: int) -> None:
        self.basic('I', n)

    def string(self, value: str) -> None:
        data = value.encode('utf-8') + b'\x00'
        self.count(len(data))
        self.buffer += data

    def numbers(self, code: str, values) -> None:
        size = struct.calcsize(code)
        if isinstance(values, bytes | bytearray) and size == 1:
            data = bytes(values)
        elif isinstance(values, array.array) and values.typecode == code and \
                values.itemsize == size:
            data = values.tobytes()   # native order: little endian on every ROS 2 platform
        else:
            data = np.asarray(values, dtype='<' + code).tobytes()
        if data:
            self.align(size)
            self.buffer += data


def _write_value(writer: _Writer, slot, value) -> None:
    if isinstance(slot, BasicType):
        writer.basic(BASIC_CODES[slot.typename], value)
    elif isinstance(slot, AbstractString):
        writer.string(value)
    elif isinstance(slot, NamespacedType):
        _write_message(writer, value)
    elif isinstance(slot, AbstractNestedType):
        element = slot.value_type
        if not isinstance(slot, Array):
            writer.count(len(value.array) if isinstance(value, Packed) else len(value))
        if isinstance(element, BasicType):
            writer.numbers(BASIC_CODES[element.typename], value)
        elif isinstance(value, Packed):
            layout = flat_layout(_message_class(element))
            if layout is None:
                raise TypeError(f'{element.name} is not a flat message type; it cannot be '
                                'Packed')
            code, width = layout
            if len(value.array) and value.array.shape[1:] != (width,):
                raise ValueError(f'Packed {element.name} needs (N, {width}) values, got '
                                 f'{value.array.shape}')
            writer.numbers(code, value.array)
        else:
            for item in value:
                _write_value(writer, element, item)
    elif isinstance(slot, AbstractWString):
        raise TypeError('wstring fields are not supported')
    else:
        raise TypeError(f'unsupported field type {slot!r}')


def _write_message(writer: _Writer, message) -> None:
    for name, slot in _fields(type(message)):
        _write_value(writer, slot, getattr(message, name))


def serialize(message) -> bytes:
    """
    The message's CDR bytes, as ``rclpy.serialization.serialize_message`` writes them.

    ``Packed`` sequences are written from their arrays. Publish the result with
    ``publisher.publish(data)``; ``rclpy.serialization.deserialize_message`` reads it back.
    """
    writer = _Writer()
    _write_message(writer, message)
    return bytes(writer.buffer)


def _from_flat(message_class: type, values: list):
    """A message object of a flat type from its values in field order (consumed)."""
    message = message_class()
    for name, slot in _fields(message_class):
        if isinstance(slot, Array):
            inner = slot.value_type
            if isinstance(inner, BasicType):
                setattr(message, name, np.array([values.pop(0) for _ in range(slot.size)],
                                                dtype=getattr(message, name).dtype))
            else:
                setattr(message, name, [_from_flat(_message_class(inner), values)
                                        for _ in range(slot.size)])
        elif isinstance(slot, BasicType):
            kind = type(getattr(message, name))
            setattr(message, name, kind(values.pop(0)))
        else:
            setattr(message, name, _from_flat(_message_class(slot), values))
    return message


def unpack(message):
    """
    Replace every ``Packed`` sequence in ``message`` (recursively) by message objects.

    Slow for big sequences (what ``Packed`` avoids); for callers that want plain messages.
    Returns ``message``.
    """
    for name, slot in _fields(type(message)):
        value = getattr(message, name)
        if isinstance(value, Packed):
            element = _message_class(slot.value_type)
            setattr(message, name, [_from_flat(element, row) for row in value.array.tolist()])
        elif isinstance(slot, NamespacedType):
            unpack(value)
        elif isinstance(slot, AbstractNestedType) and isinstance(slot.value_type,
                                                                 NamespacedType):
            for item in value:
                unpack(item)
    return message
