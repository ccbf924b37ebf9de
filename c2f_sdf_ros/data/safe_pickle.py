"""
Restricted unpickling of the dataset pickles: ObMan's meta files and MANO's model files.

Both are pickles a user downloads, so neither is read with ``pickle.load``: each has a
``pickle.Unpickler`` subclass whose ``find_class`` resolves only an explicit allow-list of
globals, so a file can never run code. This module holds both allow-lists, the one loader
that opens such a file and names it in every error (:func:`load_restricted`), and the
inert records that stand in for the classes a MANO file pickles but that are never
imported (``chumpy`` arrays, ``scipy.sparse`` matrices), with :func:`record_to_array`
turning them into dense numpy arrays.
"""

from __future__ import annotations

import copyreg
import os
import pathlib
import pickle
from typing import Any

import numpy as np

__all__ = [
    'ManoUnpickler',
    'ObmanMetaUnpickler',
    'RestrictedUnpickler',
    'latin1_encode',
    'load_restricted',
    'numpy_globals',
    'record_to_array',
]


def latin1_encode(text, encoding='latin1'):
    """``_codecs.encode`` restricted to latin-1 (how Python 3 pickles bytes, protocol <= 2)."""
    if encoding not in ('latin1', 'latin-1') or not isinstance(text, str):
        raise pickle.UnpicklingError(f'refusing _codecs.encode with encoding {encoding!r}')
    return text.encode('latin1')


def numpy_globals() -> dict[tuple[str, str], object]:
    """
    (module, name) -> object for numpy arrays, dtypes and scalars, sets and bytes.

    numpy's helpers are taken from what numpy itself pickles, so both the numpy 1 names
    (``numpy.core.*``, in released files) and the numpy 2 ones resolve to them.
    """
    reconstruct = np.ndarray(0).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    from_buffer = np.zeros(1).__reduce_ex__(5)[0]  # protocol-5 arrays
    allowed: dict[tuple[str, str], object] = {}
    for core in ('numpy.core', 'numpy._core'):
        allowed[f'{core}.multiarray', '_reconstruct'] = reconstruct
        allowed[f'{core}.multiarray', 'scalar'] = scalar
        allowed[f'{core}.numeric', '_frombuffer'] = from_buffer
    allowed['numpy', 'ndarray'] = np.ndarray
    allowed['numpy', 'dtype'] = np.dtype
    allowed['_codecs', 'encode'] = latin1_encode
    for builtins in ('builtins', '__builtin__'):  # Python 3 and Python 2 names
        for name, value in (('set', set), ('frozenset', frozenset)):
            allowed[builtins, name] = value
    return allowed


# --------------------------------------------------------------------------------------
# Inert stand-ins for the classes of a MANO file


class _PickledRecord:
    """
    An inert stand-in for an unpickled instance of a class that is never imported.

    It accepts any constructor arguments and any ``BUILD`` state and only records them,
    so that nothing of the original class runs.
    """

    kind = 'object'
    pickled_name = ''

    def __new__(cls, *args, **kwargs):
        record = super().__new__(cls)
        record.args = args
        record.kwargs = kwargs
        record.state = None
        return record

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def state_dict(self) -> dict:
        """The pickled state as one dict (``(dict, slots)`` pairs are merged)."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2:
            merged = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            return merged
        return dict(state) if isinstance(state, dict) else {}


class _ChumpyRecord(_PickledRecord):
    """The state of a pickled ``chumpy`` object (its array is the ``x`` entry)."""

    kind = 'chumpy'


class _SparseRecord(_PickledRecord):
    """The state of a pickled ``scipy.sparse`` csc or csr matrix."""

    kind = 'sparse'
    sparse_format = ''


def _record_class(base: type, pickled_name: str, **attributes) -> type:
    """A stand-in class that remembers which pickled global it replaces."""
    return type(base.__name__, (base,), {'pickled_name': pickled_name, **attributes})


def record_to_array(value, name: str) -> np.ndarray:
    """
    Turn an unpickled value of a MANO file into a dense numpy array.

    Parameters
    ----------
    value : object
        A plain array or list, a chumpy array (its ``x``) or a csc / csr matrix.
    name : str
        The key it was stored under, for error messages.

    Returns
    -------
    np.ndarray
        The dense array, numeric.

    Raises
    ------
    ValueError
        If the value is no numeric array, or a record whose state is not what chumpy or
        scipy pickle.
    """
    if isinstance(value, _ChumpyRecord):
        state = value.state_dict()
        if 'x' not in state:
            raise ValueError(f'MANO pickle: {name!r} is a chumpy object ({value.pickled_name})'
                             ' without an "x" value; expected a plain chumpy.Ch array')
        return record_to_array(state['x'], name)
    if isinstance(value, _SparseRecord):
        return _sparse_to_dense(value, name)
    if isinstance(value, _PickledRecord):
        raise ValueError(f'MANO pickle: cannot read {name!r} ({value.pickled_name})')
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f'MANO pickle: {name!r} is not an array ({error})') from error
    if array.dtype == object:
        raise ValueError(f'MANO pickle: {name!r} is not a numeric array')
    return array


def _sparse_to_dense(record: _SparseRecord, name: str) -> np.ndarray:
    state = record.state_dict()
    try:
        shape = tuple(int(n) for n in state.get('_shape', state.get('shape')))
        data = np.asarray(record_to_array(state['data'], name), np.float64).ravel()
        indices = np.asarray(record_to_array(state['indices'], name), np.int64).ravel()
        indptr = np.asarray(record_to_array(state['indptr'], name), np.int64).ravel()
    except (KeyError, TypeError) as error:
        raise ValueError(f'MANO pickle: {name!r} is a sparse matrix with an unexpected '
                         f'state ({error!r})') from error
    if len(shape) != 2:
        raise ValueError(f'MANO pickle: {name!r} has a sparse shape {shape}')
    # csc: indptr runs over columns and indices are rows; csr the other way round.
    outer, inner = (shape[1], shape[0]) if record.sparse_format == 'csc' else shape
    if (indptr.shape != (outer + 1,) or data.shape != indices.shape
            or indptr[-1] != data.size or (indices.size and (indices.min() < 0
                                                               or indices.max() >= inner))):
        raise ValueError(f'MANO pickle: {name!r} is an inconsistent sparse matrix')
    dense = np.zeros((outer, inner), np.float64)
    outer_index = np.repeat(np.arange(outer), np.diff(indptr))
    np.add.at(dense, (outer_index, indices), data)
    return dense.T.copy() if record.sparse_format == 'csc' else dense


# --------------------------------------------------------------------------------------
# The unpicklers


class RestrictedUnpickler(pickle.Unpickler):
    """
    An unpickler that resolves only the globals of its class's ``allowed`` mapping.

    Dicts, lists, tuples, strings and numbers need no global. Subclasses set ``allowed``
    ((module, name) -> object) and ``refusal`` (why the rest is refused, for the message);
    any other global raises :class:`pickle.UnpicklingError` naming it, before anything runs.
    """

    allowed: dict[tuple[str, str], Any] = {}
    refusal = 'it is not on the allow-list'

    def resolve(self, module: str, name: str):
        """The object standing for ``module.name``, or None when it is not allowed."""
        return self.allowed.get((module, name))

    def find_class(self, module: str, name: str):
        """The allowed object named ``module.name``; UnpicklingError for anything else."""
        found = self.resolve(module, name)
        if found is None:
            raise pickle.UnpicklingError(
                f'refusing to unpickle global {module}.{name}: {self.refusal}')
        return found


def _obman_meta_globals() -> dict[tuple[str, str], object]:
    allowed = numpy_globals()
    for builtins in ('builtins', '__builtin__'):
        allowed[builtins, 'bytearray'] = bytearray
    return allowed


class ObmanMetaUnpickler(RestrictedUnpickler):
    """
    Unpickler of ObMan meta files: numpy arrays and scalars and plain containers only.

    numpy arrays, dtypes and scalars, ``set``/``frozenset``/``bytearray`` and a
    latin-1-only ``_codecs.encode`` (how Python 3 writes bytes at protocol 2) are allowed.
    Open Python 2 files with ``encoding='latin1'`` (as :func:`load_restricted` does).
    """

    allowed = _obman_meta_globals()
    refusal = ('an ObMan meta file may only hold numpy arrays, numpy scalars and plain '
               'containers')


def _mano_globals() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = numpy_globals()
    for module in ('copy_reg', 'copyreg'):
        allowed[module, '_reconstructor'] = copyreg._reconstructor
    for module in ('__builtin__', 'builtins'):
        allowed[module, 'object'] = object
    for fmt in ('csc', 'csr'):
        name = f'{fmt}_matrix'
        for module in (f'scipy.sparse.{fmt}', f'scipy.sparse._{fmt}', 'scipy.sparse'):
            allowed[module, name] = _record_class(_SparseRecord, f'{module}.{name}',
                                                  sparse_format=fmt)
    return allowed


class ManoUnpickler(RestrictedUnpickler):
    """
    Unpickler of MANO model files, without chumpy or scipy.

    numpy array reconstruction, ``copyreg._reconstructor``, plain builtins and a
    latin-1-only ``_codecs.encode`` resolve to the real objects; scipy csc/csr matrices
    and every ``chumpy`` class resolve to inert records of their state
    (see :func:`record_to_array`).
    """

    allowed = _mano_globals()
    refusal = ('only numpy arrays, scipy sparse matrices and chumpy arrays are allowed in '
               'a MANO model file')

    def resolve(self, module: str, name: str):
        """Allowed globals, and an inert record class for any ``chumpy`` class."""
        found = super().resolve(module, name)
        if found is None and (module == 'chumpy' or module.startswith('chumpy.')):
            found = _record_class(_ChumpyRecord, f'{module}.{name}')
        return found


def load_restricted(path: str | os.PathLike, unpickler: type[RestrictedUnpickler],
                    what: str) -> object:
    """
    Unpickle the file ``path`` with ``unpickler`` (Python 2 strings read as latin-1).

    Parameters
    ----------
    path : path
        The pickle file.
    unpickler : type
        A :class:`RestrictedUnpickler` subclass, e.g. :class:`ObmanMetaUnpickler`.
    what : str
        What the file is (``'ObMan meta file'``), for error messages.

    Returns
    -------
    object
        What the file holds; no check of its type is made here.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    pickle.UnpicklingError
        Naming ``path``: when the pickle references a global outside the allow-list, or
        is corrupt or truncated.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{what} not found: {path}')
    with path.open('rb') as stream:
        try:
            return unpickler(stream, encoding='latin1').load()
        except pickle.UnpicklingError as error:
            raise pickle.UnpicklingError(f'{path}: {error}') from error
        # A corrupt pickle fails in many ways inside the unpickler.
        except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                UnicodeDecodeError) as error:
            raise pickle.UnpicklingError(
                f'{path}: not a readable {what} ({error!r})') from error
