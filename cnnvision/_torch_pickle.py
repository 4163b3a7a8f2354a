"""Read a legacy (pre-zip) PyTorch ``state_dict`` file into numpy arrays, without torch.

A ``.pth`` file is a Python pickle, and unpickling runs whatever functions the
file names: never call a plain ``pickle.load`` on downloaded weights.  The
unpickler below resolves only the few names a saved tensor dictionary needs
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the
``torch.*Storage`` types) to harmless stand-ins, and refuses every other
name before anything runs.

The legacy layout (what ``torch.save(..., _use_new_zipfile_serialization=False)``
writes) is a sequence of pickles followed by raw data:

1. the magic number, 2. the protocol version (1001), 3. a dict of system
information (byte order, type sizes), 4. the object itself, whose storages are
*persistent ids* ``("storage", StorageType, key, location, numel, view)``,
5. the list of storage keys, in the order their bytes follow, 6. for every key
an 8-byte little-endian element count, then the elements themselves.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

# torch storage type name -> numpy dtype of one element (little-endian).
STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file names a Python object that a tensor dictionary never needs."""


class TorchFileFormatError(ValueError):
    """The file is not a legacy PyTorch tensor dictionary, or it is damaged."""


@dataclass(frozen=True)
class _StorageType:
    name: str
    dtype: np.dtype


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype
    numel: int
    view: tuple | None  # (view_key, offset, size) for legacy storage views


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple
    strides: tuple


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_ignored):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: records where the data lies."""
    if not isinstance(storage, _StorageRef):
        raise TorchFileFormatError("a tensor in the file does not point to a storage")
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _allowed_global(module: str, name: str):
    if (module, name) == ("collections", "OrderedDict"):
        return collections.OrderedDict
    if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
        return _rebuild_tensor_v2
    if module == "torch" and name in STORAGE_DTYPES:
        return _StorageType(name, STORAGE_DTYPES[name])
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names a tensor dictionary needs."""

    def find_class(self, module, name):
        allowed = _allowed_global(module, name)
        if allowed is None:
            raise UnsafePickleError(
                f"Refusing to load {module}.{name}: a PyTorch weights file only needs "
                "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch.*Storage "
                "types. This file asks for something else, so it is either not a plain "
                "weights file or it has been tampered with; it was not executed."
            )
        return allowed

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and len(saved_id) == 6 and saved_id[0] == "storage"):
            raise TorchFileFormatError(f"unexpected persistent id in the file: {saved_id!r:.80}")
        _, storage_type, key, _location, numel, view = saved_id
        if not isinstance(storage_type, _StorageType):
            raise TorchFileFormatError(f"unexpected storage type {storage_type!r:.80}")
        return _StorageRef(str(key), storage_type.dtype, int(numel), view)


class _NoGlobalsUnpickler(pickle.Unpickler):
    """For the header pickles, which hold only numbers, strings and dicts."""

    def find_class(self, module, name):
        raise UnsafePickleError(
            f"Refusing to load {module}.{name} from a header of the file; it was not executed."
        )


def _read_header(handle) -> None:
    magic = _NoGlobalsUnpickler(handle).load()
    if magic != LEGACY_MAGIC_NUMBER:
        raise TorchFileFormatError(
            "not a legacy PyTorch file (wrong magic number); files saved by torch >= 1.6 "
            "are zip archives, which this reader does not handle"
        )
    protocol = _NoGlobalsUnpickler(handle).load()
    if protocol != LEGACY_PROTOCOL_VERSION:
        raise TorchFileFormatError(f"unsupported legacy protocol version {protocol!r}")
    sys_info = _NoGlobalsUnpickler(handle).load()
    if not (isinstance(sys_info, dict) and sys_info.get("little_endian", False)):
        raise TorchFileFormatError("only little-endian files are supported")


def _read_storages(handle, keys, wanted: dict[str, _StorageRef]) -> dict[str, np.ndarray]:
    storages = {}
    for key in keys:
        (count,) = struct.unpack("<q", _read_exactly(handle, 8))
        ref = wanted.get(key)
        if ref is None:
            raise TorchFileFormatError(f"storage {key!r} is listed but no tensor uses it")
        raw = _read_exactly(handle, count * ref.dtype.itemsize)
        storages[key] = np.frombuffer(raw, dtype=ref.dtype, count=count)
    return storages


def _read_exactly(handle, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise TorchFileFormatError(
            f"the file ends early (wanted {size} more bytes, found {len(data)}): it is truncated"
        )
    return data


def _materialise(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    """A contiguous native-order copy of the tensor described by ``ref``."""
    flat = storages[ref.storage.key]
    if ref.storage.view is not None:
        _view_key, view_offset, view_size = ref.storage.view
        flat = flat[int(view_offset) : int(view_offset) + int(view_size)]
    if not ref.shape:
        return np.array(flat[ref.offset], dtype=flat.dtype.newbyteorder("="))
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.strides, strict=True))
    if ref.offset < 0 or min(ref.strides) < 0 or last >= flat.size:
        raise TorchFileFormatError("a tensor points outside its storage: the file is damaged")
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset :], shape=ref.shape, strides=tuple(s * itemsize for s in ref.strides),
        writeable=False,
    )
    return np.ascontiguousarray(view, dtype=flat.dtype.newbyteorder("="))


def load_state_dict(path: str | Path) -> collections.OrderedDict:
    """Read a legacy PyTorch ``state_dict`` file as ``OrderedDict[name -> np.ndarray]``.

    Raises :class:`UnsafePickleError` (nothing executed) when the file names any
    other Python object, :class:`TorchFileFormatError` when it is not a legacy
    tensor file or is truncated.
    """
    with open(path, "rb") as handle:
        _read_header(handle)
        state = _RestrictedUnpickler(handle).load()
        keys = _NoGlobalsUnpickler(handle).load()
        if not isinstance(state, dict) or not isinstance(keys, list):
            raise TorchFileFormatError("the file does not hold a dictionary of tensors")
        refs = {name: ref for name, ref in state.items() if isinstance(ref, _TensorRef)}
        if len(refs) != len(state):
            raise TorchFileFormatError("the dictionary holds values that are not tensors")
        wanted = {ref.storage.key: ref.storage for ref in refs.values()}
        storages = _read_storages(handle, keys, wanted)
    missing = set(wanted) - set(storages)
    if missing:
        raise TorchFileFormatError(f"storages missing from the file: {sorted(missing)[:5]}")
    return collections.OrderedDict(
        (name, _materialise(ref, storages)) for name, ref in refs.items()
    )
