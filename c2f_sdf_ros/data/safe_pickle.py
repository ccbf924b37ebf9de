"""
The globals a pickle of plain numpy data may reference, for restricted unpicklers.

Dataset annotations (ObMan's meta files) and model files (MANO's) are pickles. They are
read with ``pickle.Unpickler`` subclasses whose ``find_class`` resolves only an explicit
allow-list, so a file can never run code; this module holds the part both lists share.
"""

from __future__ import annotations

import pickle

import numpy as np


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
