"""Time conv2d three ways on CPU: the solution's loop version, its vectorised
version, and ``tf.nn.conv2d``: ``python -m autograder.bench``.

The numpy functions come from the solution notebook
(``solutions/convolution/convolution.ipynb``): its solution cells are executed,
as ``tests/notebook_code.py`` does for the unit tests (imported here by path).
Not a timed test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np

import cnnvision  # noqa: F401 - silences TensorFlow; import before it

REPO_ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"x": (32, 28, 28, 16), "w": (3, 3, 16, 32)}


def solution_functions(chapter: str = "convolution") -> dict:
    """The namespace of the chapter's solution cells (with the notebook's setup imports)."""
    spec = importlib.util.spec_from_file_location("notebook_code", REPO_ROOT / "tests" / "notebook_code.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_namespace(chapter, prelude="import math\nimport numpy as np\n")


def best_of(function, repeats: int) -> float:
    """The shortest of ``repeats`` wall-clock timings of ``function()``, in seconds."""
    function()  # warm-up: first-call costs (TF kernels, numpy buffers) are not measured
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timings per function, best kept (default 5)")
    parser.add_argument("--padding", default="same", choices=["same", "valid"])
    args = parser.parse_args(argv)

    import tensorflow as tf

    functions = solution_functions()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPES["x"]).astype(np.float32)
    w = rng.standard_normal(SHAPES["w"]).astype(np.float32)
    with tf.device("/CPU:0"):
        reference = tf.nn.conv2d(x, w, 1, args.padding.upper()).numpy()
        loop = functions["conv2d"](x, w, padding=args.padding)
        fast = functions["conv2d_fast"](x, w, padding=args.padding)
        for name, got in (("conv2d", loop), ("conv2d_fast", fast)):
            if not np.allclose(got, reference, rtol=1e-4, atol=1e-4):
                print(f"{name} disagrees with tf.nn.conv2d: the timing would mean nothing.")
                return 1
        timings = {
            "conv2d (loop)": best_of(lambda: functions["conv2d"](x, w, padding=args.padding), args.repeats),
            "conv2d_fast": best_of(lambda: functions["conv2d_fast"](x, w, padding=args.padding), args.repeats),
            "tf.nn.conv2d (CPU)": best_of(lambda: tf.nn.conv2d(x, w, 1, args.padding.upper()).numpy(), args.repeats),
        }
    print(f"x {SHAPES['x']}, w {SHAPES['w']}, padding={args.padding!r}, best of {args.repeats}:")
    for name, seconds in timings.items():
        print(f"  {name:20s} {seconds * 1e3:9.2f} ms")
    t_loop, t_fast, t_tf = timings.values()
    print(f"  loop / fast = {t_loop / t_fast:.1f}x, fast / tf = {t_fast / t_tf:.2f}x, loop / tf = {t_loop / t_tf:.1f}x")
    within = t_fast <= 3 * t_tf
    print(f"  conv2d_fast is {'within' if within else 'NOT within'} 3x of tf.nn.conv2d.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
