"""Figures the chapters share: image grids, feature maps, training curves, kernels.

Every function returns the :class:`matplotlib.figure.Figure` it drew and never
calls ``plt.show()``, so it works headless (``MPLBACKEND=Agg``), in scripts
(call ``plt.show()`` yourself) and in notebooks, where pyplot shows the figure
at the end of the cell.  In a notebook, assign the result (``fig = ...``) or
end the line with ``;`` so the figure is not displayed a second time as the
cell's value.

Bad input raises ``ValueError`` (or ``TypeError``) naming the shape, dtype or
range that was expected.  Nothing is written to stderr: values matplotlib
would clip with a logged warning are refused instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

CELL_INCHES = 1.8  # size of one image in a grid
MAX_ANNOTATED = 16  # annotate the values of grids up to 16 x 16


# ------------------------------------------------------------------- validation
def _as_array(value, name: str) -> np.ndarray:
    """``value`` as a numeric numpy array (TensorFlow tensors accepted)."""
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype == bool:
        return array.astype(np.uint8)
    if not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name}: expected numbers, got an array of dtype {array.dtype}.")
    if np.iscomplexobj(array):
        raise TypeError(f"{name}: expected real numbers, got complex values.")
    return array


def _check_finite(array: np.ndarray, name: str) -> None:
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or infinite values; expected finite numbers.")


def _check_image(image, name: str) -> np.ndarray:
    """One image: (H, W) grey, (H, W, 1) grey, (H, W, 3) RGB or (H, W, 4) RGBA."""
    image = _as_array(image, name)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise ValueError(
            f"{name}: expected shape (H, W) for grey or (H, W, 3) for RGB, "
            f"got {image.shape}. A batch (N, H, W, C) goes to show_images as a whole; "
            "channels-first (C, H, W) must be transposed to (H, W, C)."
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name}: empty image of shape {image.shape}.")
    _check_finite(image, name)
    if image.ndim == 3:
        _check_colour_range(image, name)
    return image


def _check_colour_range(image: np.ndarray, name: str) -> None:
    """Colour images are shown as they are: floats in [0, 1] or integers in [0, 255]."""
    low, high = float(image.min()), float(image.max())
    if np.issubdtype(image.dtype, np.floating):
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"{name}: colour images of floats must lie in [0, 1], got values in "
                f"[{low:.4g}, {high:.4g}]. Divide 0..255 images by 255, or rescale with "
                "(x - x.min()) / (x.max() - x.min())."
            )
    elif low < 0 or high > 255:
        raise ValueError(
            f"{name}: colour images of integers must lie in [0, 255], got [{low:g}, {high:g}]."
        )


def _as_image_list(images) -> list[np.ndarray]:
    """A batch array (N, H, W[, C]) or a sequence of images, as a list of checked images."""
    if hasattr(images, "numpy") and callable(images.numpy):
        images = images.numpy()
    if isinstance(images, np.ndarray):
        if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] == 3):
            raise ValueError(
                f"images: expected a batch (N, H, W) or (N, H, W, C) or a list of images, "
                f"got an array of shape {images.shape}, which looks like one image. "
                "To show a single image pass [image]."
            )
        if images.ndim not in (3, 4):
            raise ValueError(
                f"images: expected a batch of shape (N, H, W) or (N, H, W, C), got {images.shape}."
            )
        images = list(images)
    elif not isinstance(images, Sequence) or isinstance(images, (str, bytes)):
        raise TypeError(
            f"images: expected a list of images or an array (N, H, W[, C]), "
            f"got {type(images).__name__}."
        )
    if len(images) == 0:
        raise ValueError("images: got no image to show.")
    return [_check_image(image, f"images[{index}]") for index, image in enumerate(images)]


def _check_titles(titles, count: int) -> list[str] | None:
    if titles is None:
        return None
    if isinstance(titles, (str, bytes)) or not isinstance(titles, Sequence | np.ndarray):
        raise TypeError(f"titles: expected a list of {count} strings, got {type(titles).__name__}.")
    if len(titles) != count:
        raise ValueError(f"titles: expected {count} titles (one per image), got {len(titles)}.")
    return [str(title) for title in titles]


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}.")
    return int(value)


# ------------------------------------------------------------------------ grids
def _grid(count: int, ncols: int, figsize, cell: float = CELL_INCHES):
    """A figure with ``count`` axes laid out on ``ncols`` columns; spare axes removed."""
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    if figsize is None:
        figsize = (cell * ncols, cell * nrows + 0.3)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    flat = list(axes.ravel())
    for spare in flat[count:]:
        fig.delaxes(spare)
    return fig, flat[:count]


def _finish(fig: Figure, suptitle: str | None) -> Figure:
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_images(
    images,
    titles=None,
    ncols: int = 8,
    cmap: str = "gray",
    figsize=None,
    suptitle: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """Show images on a grid, axes off, with an optional title above each.

    ``images``: a batch array (N, H, W) or (N, H, W, 3), or a list of images of
    any sizes, each (H, W) grey or (H, W, 3) RGB (uint8 in 0..255 or floats in
    0..1).  Grey images use ``cmap``; by default each is stretched to its own
    min..max, pass ``vmin``/``vmax`` (e.g. 0 and 255) to share one scale.
    Returns the Figure, with one axes per image.
    """
    image_list = _as_image_list(images)
    title_list = _check_titles(titles, len(image_list))
    ncols = _check_positive_int(ncols, "ncols")
    fig, axes = _grid(len(image_list), ncols, figsize)
    for index, (ax, image) in enumerate(zip(axes, image_list, strict=True)):
        if image.ndim == 2:
            ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        else:
            ax.imshow(image, interpolation="nearest")
        ax.set_axis_off()
        if title_list is not None:
            ax.set_title(title_list[index], fontsize=9)
    return _finish(fig, suptitle)


def show_feature_maps(
    maps,
    ncols: int = 8,
    max_maps: int | None = None,
    cmap: str = "viridis",
    figsize=None,
    suptitle: str | None = None,
) -> Figure:
    """Show the channels of one feature-map stack (H, W, C), one small image each.

    A batch of one (1, H, W, C), as a Keras model returns it, is accepted.
    Each map is stretched to its own min..max and titled with its channel
    index.  ``max_maps`` keeps the first channels only.
    """
    stack = _as_array(maps, "maps")
    if stack.ndim == 4 and stack.shape[0] == 1:
        stack = stack[0]
    if stack.ndim != 3:
        hint = (
            " Pick one image of the batch first: maps[i]." if stack.ndim == 4
            else " A single map (H, W) can be shown with maps[..., None]." if stack.ndim == 2
            else ""
        )
        raise ValueError(
            f"maps: expected a stack of shape (H, W, C) (channels last), got {stack.shape}.{hint}"
        )
    if 0 in stack.shape:
        raise ValueError(f"maps: empty stack of shape {stack.shape}.")
    _check_finite(stack, "maps")
    channels = stack.shape[-1]
    if max_maps is not None:
        channels = min(channels, _check_positive_int(max_maps, "max_maps"))
    images = [stack[..., channel] for channel in range(channels)]
    titles = [f"map {channel}" for channel in range(channels)]
    return show_images(images, titles=titles, ncols=ncols, cmap=cmap, figsize=figsize,
                       suptitle=suptitle)


# ---------------------------------------------------------------- training curves
def _history_dict(history_or_dict) -> dict[str, np.ndarray]:
    history = getattr(history_or_dict, "history", history_or_dict)
    if not isinstance(history, Mapping):
        raise TypeError(
            "plot_history: expected what model.fit returns (a keras History) or its "
            f".history dict, got {type(history_or_dict).__name__}."
        )
    curves = {}
    for key, values in history.items():
        curve = _as_array(values, f"history[{key!r}]").astype(np.float64)
        if curve.ndim != 1:
            raise ValueError(
                f"history[{key!r}]: expected one value per epoch (a 1-D list), got shape "
                f"{curve.shape}."
            )
        curves[str(key)] = curve
    return curves


def plot_history(history_or_dict, metrics=("loss", "accuracy"), figsize=None,
                 suptitle: str | None = None) -> Figure:
    """Training curves: one panel per metric, training and validation values per epoch.

    Takes what ``model.fit`` returns (a ``keras.callbacks.History``) or its
    ``.history`` dict.  ``val_<metric>`` is drawn when present.  Asking for a
    metric the history lacks raises ``ValueError`` listing what it has.
    """
    curves = _history_dict(history_or_dict)
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics: expected at least one metric name, e.g. ('loss',).")
    missing = [metric for metric in metrics if metric not in curves]
    if missing:
        raise ValueError(
            f"plot_history: the history has no {', '.join(map(repr, missing))}; it has "
            f"{', '.join(map(repr, curves)) or 'nothing'}. Pass metrics=... with names from that "
            "list (compile the model with metrics=['accuracy'] to record accuracy)."
        )
    fig, axes = _grid(len(metrics), len(metrics), figsize or (4.2 * len(metrics), 3.2))
    for ax, metric in zip(axes, metrics, strict=True):
        _plot_curves(ax, metric, curves)
    return _finish(fig, suptitle)


def _plot_curves(ax, metric: str, curves: dict[str, np.ndarray]) -> None:
    train = curves[metric]
    if train.size == 0:
        raise ValueError(f"history[{metric!r}]: no epoch recorded.")
    epochs = np.arange(1, train.size + 1)
    ax.plot(epochs, train, marker="o", markersize=3, label="training")
    validation = curves.get(f"val_{metric}")
    if validation is not None:
        if validation.size != train.size:
            raise ValueError(
                f"history: {metric!r} has {train.size} epochs but 'val_{metric}' has "
                f"{validation.size}; expected one validation value per epoch."
            )
        ax.plot(epochs, validation, marker="s", markersize=3, label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(metric)
    ax.grid(alpha=0.3)
    if train.size <= 20:
        ax.set_xticks(epochs)
    ax.legend()


# -------------------------------------------------------------- annotated grids
def show_values(
    values,
    cmap: str = "gray",
    fmt: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    ax=None,
    annotate: bool | None = None,
    fontsize: float | None = None,
) -> Figure:
    """A small 2-D array drawn as coloured cells with each value written inside.

    Used for pixel crops ("what the computer sees") and kernels.  ``fmt`` is a
    format string such as ``"{:d}"`` or ``"{:.2f}"`` (default: integers as
    integers, floats with 2 significant digits).  ``annotate`` defaults to True
    up to 16 x 16 values; ``fontsize`` of the values defaults to 9 points up to
    8 x 8 values, 7 above.  Draws into ``ax`` when given.  Returns the Figure.
    """
    grid = _as_array(values, "values")
    if grid.ndim != 2 or 0 in grid.shape:
        raise ValueError(f"values: expected a non-empty 2-D array (rows, columns), got {grid.shape}.")
    _check_finite(grid, "values")
    if annotate is None:
        annotate = max(grid.shape) <= MAX_ANNOTATED
    if fmt is None:
        fmt = "{:d}" if np.issubdtype(grid.dtype, np.integer) else "{:.2g}"
    if ax is None:
        side = max(2.0, 0.42 * max(grid.shape))
        fig, ax = plt.subplots(figsize=(side * grid.shape[1] / max(grid.shape) + 0.4,
                                        side * grid.shape[0] / max(grid.shape) + 0.4))
    else:
        fig = ax.figure
    shown = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if annotate:
        _write_values(ax, grid, shown, fmt, fontsize)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return fig


def _write_values(ax, grid: np.ndarray, shown, fmt: str, fontsize: float | None = None) -> None:
    """Write each value in its cell, white on dark cells and black on light ones."""
    colours = shown.cmap(shown.norm(grid))
    luminance = colours[..., :3] @ np.array([0.299, 0.587, 0.114])
    size = fontsize or (9 if max(grid.shape) <= 8 else 7)
    for (row, column), value in np.ndenumerate(grid):
        text = fmt.format(value.item())
        ax.text(column, row, text, ha="center", va="center", fontsize=size,
                color="white" if luminance[row, column] < 0.5 else "black")


def show_kernel(kernel, fmt: str | None = None, cmap: str = "RdBu_r", title: str | None = None,
                ax=None) -> Figure:
    """A 2-D filter with its weights written in the cells.

    The colour scale is symmetric around 0 (red positive, blue negative), so
    a zero weight is always white.  A Keras kernel (kh, kw, 1, 1) must be
    sliced first: ``kernel[:, :, 0, 0]``.
    """
    weights = _as_array(kernel, "kernel")
    if weights.ndim != 2:
        hint = ""
        if weights.ndim == 4:
            hint = (" A Keras Conv2D kernel is (kh, kw, in_channels, filters): show one slice, "
                    "kernel[:, :, c, f].")
        elif weights.ndim == 3:
            hint = " Show one channel at a time: kernel[:, :, c]."
        raise ValueError(f"kernel: expected a 2-D filter (kh, kw), got shape {weights.shape}.{hint}")
    if weights.size == 0:
        raise ValueError(f"kernel: empty filter of shape {weights.shape}.")
    _check_finite(weights, "kernel")
    limit = float(np.abs(weights).max()) or 1.0
    return show_values(weights, cmap=cmap, fmt=fmt, vmin=-limit, vmax=limit, title=title, ax=ax)


def show_as_jpeg(fig: Figure, quality: int = 85, dpi: float | None = None) -> int:
    """Show ``fig`` in a notebook as a JPEG image, close it, and return the JPEG's size in bytes.

    Photos drawn by matplotlib weigh several times more as PNG (the inline default) than as
    JPEG; line plots are better left as PNG.
    """
    import io

    from IPython.display import Image, display

    if not isinstance(fig, Figure):
        raise TypeError(f"show_as_jpeg expects a matplotlib Figure, got {type(fig).__name__}")
    if not 1 <= int(quality) <= 95:
        raise ValueError(f"quality must be between 1 and 95, got {quality!r}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg", dpi=dpi, bbox_inches="tight", pil_kwargs={"quality": int(quality)})
    plt.close(fig)
    display(Image(data=buffer.getvalue(), format="jpeg"))
    return buffer.getbuffer().nbytes
