"""
The cache folder of the dataset readers: one ``.npy`` of SDF samples per frame.

Computing a frame's SDF samples from its meshes takes about 0.1 s, so the readers
(DexYCB, ObMan) keep them in a cache folder. Data loader workers may compute the same
frame at once, so every file is written aside and renamed into place
(:func:`write_atomic`): a reader never sees half a file.
"""

from __future__ import annotations

from collections.abc import Callable
import io
import os
import pathlib
import tempfile

import numpy as np

from c2f_sdf_ros.data.sdf_samples import SDF_COLUMNS

__all__ = ['cached_sdf_samples', 'write_atomic']


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """
    Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The folder is created if needed. Concurrent writers of the same path each rename a
    complete file into place, so the last one wins and no reader sees a partial file.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def cached_sdf_samples(path: str | os.PathLike | None, rows: int,
                       compute: Callable[[], np.ndarray]) -> np.ndarray:
    """
    A frame's SDF samples from the cache file ``path``, or computed and stored there.

    Parameters
    ----------
    path : path or None
        The frame's ``.npy`` in the cache folder; None computes without caching.
    rows : int
        The number of samples a frame has (``2 * near + uniform`` of ``sample_sdf``).
    compute : callable
        ``compute()`` returns the frame's (rows, 5) float32 samples (``sample_sdf``).

    Returns
    -------
    np.ndarray
        (rows, 5) float32 samples ``[x, y, z, sdf_hand, sdf_object]``.

    Raises
    ------
    ValueError
        If the cached file is not a (rows, 5) float32 array (written with other settings,
        damaged, or a pickle), or ``compute`` returns one that is not.
    """
    expected = (rows, len(SDF_COLUMNS))
    if path is not None:
        path = pathlib.Path(path)
        if path.is_file():
            # Never unpickle: a cache folder may come from elsewhere, and pickles run code.
            try:
                samples = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as error:
                raise ValueError(f'{path}: not a cached array of SDF samples ({error}); '
                                 'delete the file') from error
            if samples.shape != expected or samples.dtype != np.float32:
                raise ValueError(f'{path}: cached SDF samples must be float32 {expected}, '
                                 f'got {samples.dtype} {samples.shape}; delete the file')
            return samples
    samples = compute()
    if samples.shape != expected or samples.dtype != np.float32:
        raise ValueError(f'computed SDF samples must be float32 {expected}, got '
                         f'{samples.dtype} {samples.shape}')
    if path is not None:
        buffer = io.BytesIO()
        np.save(buffer, samples)
        write_atomic(path, buffer.getvalue())
    return samples
