"""Plain data between the grading worker and a kernel: no pickle, no code, bounded sizes.

A message is one JSON header and numpy arrays saved with ``allow_pickle=False``::

    8-byte length | header JSON | for each array: 8-byte length | .npy bytes

Values are tagged in the header: JSON's own ``None``, booleans, numbers and strings, and
``{"list": [...]}``, ``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}``, ``{"array": i}``
(a numpy array), ``{"scalar": i}`` (a numpy scalar), ``{"tensor": i}`` (a TensorFlow tensor,
sent as its values; a ``TensorShape`` goes as a tuple), ``{"bytes": s}`` and ``{"ref": id}``
(an object that stays on the side that made it: the other side holds only its number).

From the worker to the kernel only, a grader's function travels as ``{"function": [module,
name]}`` (a reference implementation, imported there), ``{"source": [code, name]}`` (a
function with ``__wire_source__``, numpy only) or ``{"partial": ...}`` (a ``functools.partial``
of one of those, its arguments plain data), and a grader's Keras model as ``{"keras_model":
[architecture JSON, weights]}`` (an optimizer as ``{"keras_optimizer": configuration}``). Anything else cannot be sent (:class:`Unsendable`); the kernel
keeps it and sends a reference. The worker's decoding never runs code: it builds containers,
numbers, strings and arrays, and asks the caller what a tensor or a reference becomes.
"""

from __future__ import annotations

import functools
import importlib
import io
import json
import math
import struct
import types

import numpy as np

MAX_MESSAGE_BYTES = 512 << 20  # more is a broken or hostile peer
MAX_DEPTH = 32
REFERENCE_PACKAGE = "autograder.reference."
_LENGTH = struct.Struct("!Q")


class Unsendable(TypeError):
    """A value that is not plain data."""


class WireError(ConnectionError):
    """The peer closed the connection or sent something that is not a message."""


def as_tensor(array):
    """A ``tf.constant`` of ``array``: what a tensor sent as its values becomes on arrival."""
    import tensorflow as tf

    return tf.constant(array)


def _tensor_values(value):
    """The values of a TensorFlow tensor (eager), or ``None`` for anything else."""
    kind = type(value)
    if kind.__module__.startswith("tensorflow") and hasattr(value, "numpy") and hasattr(value, "dtype"):
        try:
            return np.asarray(value.numpy())
        except Exception:  # noqa: BLE001 - a symbolic tensor has no values
            return None
    return None


def encode(value, blobs: list[bytes], refer=None, depth: int = 0, grader: bool = False):
    """The header form of ``value``; arrays are appended to ``blobs``. ``refer(obj)`` returns
    a reference number for a value that is not plain data (or raises :class:`Unsendable`).
    ``grader``: the worker's side, whose functions and Keras models may go to the kernel."""
    if depth > MAX_DEPTH:
        raise Unsendable("nested more than 32 levels deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is not bool:
        return value if type(value) is int else int(value)
    if isinstance(value, float):
        return {"float": repr(float(value))} if not math.isfinite(value) else float(value)
    if isinstance(value, (list, tuple)):
        tag = "tuple" if isinstance(value, tuple) else "list"
        return {tag: [encode(item, blobs, refer, depth + 1, grader) for item in value]}
    if isinstance(value, dict):
        return {"dict": [[encode(k, blobs, refer, depth + 1, grader),
                          encode(v, blobs, refer, depth + 1, grader)] for k, v in value.items()]}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        tag = "array" if isinstance(value, np.ndarray) else "scalar"
        return {tag: _add_array(array, blobs, refer, value)}
    if grader:
        form = _code_form(value, blobs, refer) or _keras_model_form(value, blobs)
        if form is not None:
            return form
    if (type(value).__name__ == "TensorShape" and type(value).__module__.startswith("tensorflow")
            and value.rank is not None):
        return {"tuple": [encode(dim, blobs) for dim in value.as_list()]}
    values = _tensor_values(value)
    if values is not None:
        return {"tensor": _add_array(values, blobs, refer, value)}
    if refer is None:
        raise Unsendable(f"a {type(value).__name__} is not plain data")
    return {"ref": refer(value)}


def _keras_model_form(value, blobs: list[bytes]) -> dict | None:
    """A grader's Keras model, sent to the kernel as its architecture (JSON) and its weights; a
    grader's Keras optimizer as its configuration (a new one, without state, is made there)."""
    module = type(value).__module__
    if not module.startswith("keras"):
        return None
    if ".optimizers." in module and hasattr(value, "get_config"):
        import keras

        return {"keras_optimizer": json.dumps(keras.optimizers.serialize(value))}
    if not (hasattr(value, "to_json") and hasattr(value, "get_weights")):
        return None
    weights = [_add_array(np.asarray(w), blobs, None, w) for w in value.get_weights()]
    return {"keras_model": [value.to_json(), weights]}


def _code_form(value, blobs: list[bytes], refer=None) -> dict | None:
    """A grader's function, sent to the kernel by name or source (never the other way); a
    partial of one, with its arguments (which may be the kernel's objects)."""
    source = getattr(value, "__wire_source__", None)
    if isinstance(source, str):
        return {"source": [source, value.__name__]}
    if isinstance(value, functools.partial):
        function = _code_form(value.func, blobs)
        if function is None:
            return None
        return {"partial": [function, encode(list(value.args), blobs, refer, grader=True),
                            encode(dict(value.keywords), blobs, refer, grader=True)]}
    module, name = getattr(value, "__module__", None) or "", getattr(value, "__qualname__", "")
    if (isinstance(value, types.FunctionType) and module.startswith(REFERENCE_PACKAGE)
            and name.isidentifier()):
        return {"function": [module, name]}
    return None


def _code(tag: str, body):
    """The function a code form names: a reference by import name, or numpy source."""
    if tag == "function":
        module, name = body
        if not str(module).startswith(REFERENCE_PACKAGE):
            raise WireError(f"not a reference implementation: {module}")
        return getattr(importlib.import_module(module), name)
    source, name = body
    namespace = {"np": np, "__name__": "grader"}
    exec(compile(source, f"<the grader's {name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]


def _add_array(array: np.ndarray, blobs: list[bytes], refer, original):
    buffer = io.BytesIO()
    try:
        np.save(buffer, array, allow_pickle=False)
    except ValueError:  # an array of Python objects
        if refer is None:
            raise Unsendable("an array of Python objects is not plain data") from None
        return {"ref": refer(original)}
    blobs.append(buffer.getvalue())
    return len(blobs) - 1


def decode(form, blobs: list[bytes], tensor=None, reference=None, depth: int = 0,
           code: bool = False):
    """The value of a header form (see :func:`encode`). ``tensor(array)`` builds a tensor
    (default: the array itself); ``reference(number)`` what a reference stands for. ``code``:
    accept the grader's functions (the kernel's side only: the worker never runs what a
    kernel sends)."""
    if depth > MAX_DEPTH:
        raise WireError("a message nested too deep")
    if form is None or isinstance(form, (bool, int, float, str)):
        return form
    if isinstance(form, dict) and len(form) == 1:
        (tag, body), = form.items()
        again = lambda item: decode(item, blobs, tensor, reference, depth + 1, code)  # noqa: E731
        if tag == "list":
            return [again(item) for item in body]
        if tag == "tuple":
            return tuple(again(item) for item in body)
        if tag == "dict":
            return {_hashable(again(k)): again(v) for k, v in body}
        if tag == "float":
            return float(body)
        if tag == "bytes":
            return bytes.fromhex(body)
        if tag in ("array", "scalar", "tensor") and isinstance(body, int):
            array = _load(blobs, body)
            if tag == "scalar":
                return array[()]
            return tensor(array) if tag == "tensor" and tensor else array
        if tag == "array" and isinstance(body, dict) and "ref" in body:  # an object array kept
            return again(body)
        if tag == "ref" and reference is not None:
            return reference(int(body))
        if tag in ("function", "source") and code and isinstance(body, list) and len(body) == 2:
            return _code(tag, body)
        if tag == "partial" and code and isinstance(body, list) and len(body) == 3:
            return functools.partial(again(body[0]), *again(body[1]), **again(body[2]))
        if tag == "keras_optimizer" and code and isinstance(body, str):
            import keras

            return keras.optimizers.deserialize(json.loads(body))
        if tag == "keras_model" and code and isinstance(body, list) and len(body) == 2:
            model = _keras_model_from_json(body[0])
            model.set_weights([_load(blobs, int(index)) for index in body[1]])
            return model
    raise WireError(f"not a value of the grader's protocol: {str(form)[:80]}")


def _keras_model_from_json(text: str):
    """``keras.models.model_from_json``, except that a Sequential model is built as its
    constructor builds it, calling each layer once. (Keras' ``from_config`` adds the layers one
    by one and rebuilds the graph at each: the first layers are then called several times and
    ``layer.output`` is a tensor of an older graph than ``model.outputs``, so a Grad-CAM that
    builds ``keras.Model(model.inputs, [layer.output, model.output])`` gets no gradient.)"""
    import keras

    config = json.loads(text)
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        return keras.models.model_from_json(text)
    inner = config.get("config") or {}
    layers = [keras.saving.deserialize_keras_object(layer) for layer in inner.get("layers", [])]
    model = keras.Sequential(layers, name=inner.get("name"), trainable=inner.get("trainable", True))
    shape = inner.get("build_input_shape")
    if not model.built and shape:
        model.build(tuple(shape))
    return model


def _hashable(key):
    try:
        hash(key)
    except TypeError:
        raise WireError("a dictionary key that cannot be a key") from None
    return key


def _load(blobs: list[bytes], index: int) -> np.ndarray:
    if not 0 <= index < len(blobs):
        raise WireError("a message refers to an array it does not carry")
    try:
        return np.load(io.BytesIO(blobs[index]), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:  # a pickle, a truncated or foreign file
        raise WireError(f"an array that cannot be read without running code: {error}") from None


def send(sock, header: dict, blobs: list[bytes]) -> None:
    """Send one message (``header`` must be JSON)."""
    text = json.dumps({**header, "blobs": len(blobs)}).encode()
    parts = [_LENGTH.pack(len(text)), text]
    for blob in blobs:
        parts += [_LENGTH.pack(len(blob)), blob]
    sock.sendall(b"".join(parts))


def _read_exactly(sock, count: int) -> bytes:
    chunks, left = [], count
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise WireError("the connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(sock, limit: int = MAX_MESSAGE_BYTES) -> tuple[dict, list[bytes]]:
    """One message: ``(header, blobs)``; at most ``limit`` bytes in all."""
    budget = limit

    def sized() -> bytes:
        nonlocal budget
        (length,) = _LENGTH.unpack(_read_exactly(sock, _LENGTH.size))
        budget -= length
        if budget < 0:
            raise WireError(f"a message larger than {limit >> 20} MB")
        return _read_exactly(sock, length)

    try:
        header = json.loads(sized())
    except ValueError as error:
        raise WireError(f"a message header that is not JSON: {error}") from None
    if not isinstance(header, dict) or not isinstance(header.get("blobs"), int):
        raise WireError("a message without its array count")
    return header, [sized() for _ in range(max(0, header["blobs"]))]
