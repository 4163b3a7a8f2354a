"""Tests for cnnvision.plotting: figures with the right axes, clear errors on bad input."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")  # headless, whatever MPLBACKEND says

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnnvision import plotting  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def warnings_are_errors():
    """A warning would reach stderr in a notebook (nbgrader scores that cell 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.get_images()]


def _texts(ax):
    return [text.get_text() for text in ax.texts]


# ------------------------------------------------------------------ show_images
def test_show_images_batch_of_grey_images():
    batch = RNG.integers(0, 256, size=(10, 28, 28), dtype=np.uint8)
    fig = plotting.show_images(batch, titles=[f"#{i}" for i in range(10)], ncols=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 10, "spare grid cells must be removed"
    assert [ax.get_title() for ax in fig.axes] == [f"#{i}" for i in range(10)]
    for ax, image in zip(fig.axes, batch, strict=True):
        assert not ax.axison
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), image)
        assert ax.get_images()[0].get_cmap().name == "gray"
    columns = {round(ax.get_position().x0, 3) for ax in fig.axes}
    assert len(columns) == 4


def test_show_images_list_of_mixed_sizes_and_colours():
    images = [
        RNG.random((20, 30, 3)),
        RNG.integers(0, 256, size=(8, 8), dtype=np.uint8),
        RNG.integers(0, 256, size=(16, 12, 1), dtype=np.uint8),
    ]
    fig = plotting.show_images(images, suptitle="mixed")
    assert len(_image_axes(fig)) == 3
    assert fig.axes[0].get_images()[0].get_array().shape == (20, 30, 3)
    assert fig.axes[2].get_images()[0].get_array().shape == (16, 12)
    assert fig._suptitle.get_text() == "mixed"


def test_show_images_accepts_a_tensor_like():
    class FakeTensor:
        def numpy(self):
            return np.zeros((2, 4, 4), dtype=np.float32)

    assert len(plotting.show_images(FakeTensor()).axes) == 2


def test_show_images_shared_scale():
    fig = plotting.show_images([np.full((3, 3), 10, np.uint8)], vmin=0, vmax=255)
    assert fig.axes[0].get_images()[0].get_clim() == (0, 255)


@pytest.mark.parametrize(
    ("images", "error", "match"),
    [
        (np.zeros((28, 28)), ValueError, r"looks like one image.*\[image\]"),
        (np.zeros((28, 28, 3)), ValueError, r"looks like one image"),
        (np.zeros((2, 3, 28, 28, 1)), ValueError, r"\(N, H, W\)"),
        ([np.zeros((3, 28, 28))], ValueError, r"images\[0\].*channels-first"),
        ([np.zeros((4, 4)), np.zeros(4)], ValueError, r"images\[1\].*\(H, W\)"),
        ([], ValueError, "no image"),
        ("cat.jpg", TypeError, "list of images"),
        ([np.array([["a", "b"]])], TypeError, "expected numbers"),
        ([np.array([[0.0, np.nan]])], ValueError, "NaN"),
        ([np.full((2, 2, 3), 2.0)], ValueError, r"\[0, 1\].*255"),
        ([np.full((2, 2, 3), -1, dtype=np.int16)], ValueError, r"\[0, 255\]"),
        ([np.zeros((0, 4))], ValueError, "empty"),
    ],
)
def test_show_images_rejects_bad_images(images, error, match):
    with pytest.raises(error, match=match):
        plotting.show_images(images)


def test_show_images_rejects_bad_titles_and_ncols():
    batch = np.zeros((3, 4, 4))
    with pytest.raises(ValueError, match="expected 3 titles"):
        plotting.show_images(batch, titles=["a", "b"])
    with pytest.raises(TypeError, match="list of 3 strings"):
        plotting.show_images(batch, titles="abc")
    for ncols in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="ncols: expected a positive integer"):
            plotting.show_images(batch, ncols=ncols)


# ------------------------------------------------------------ show_feature_maps
def test_show_feature_maps_one_axes_per_channel():
    maps = RNG.normal(size=(12, 12, 6)).astype(np.float32)
    fig = plotting.show_feature_maps(maps, ncols=3)
    assert len(_image_axes(fig)) == 6
    assert [ax.get_title() for ax in fig.axes] == [f"map {c}" for c in range(6)]
    np.testing.assert_array_equal(fig.axes[4].get_images()[0].get_array(), maps[..., 4])


def test_show_feature_maps_batch_of_one_and_max_maps():
    maps = RNG.normal(size=(1, 5, 7, 20))
    fig = plotting.show_feature_maps(maps, max_maps=8)
    assert len(fig.axes) == 8
    np.testing.assert_array_equal(fig.axes[7].get_images()[0].get_array(), maps[0, ..., 7])


@pytest.mark.parametrize(
    ("maps", "match"),
    [
        (np.zeros((2, 5, 5, 3)), r"\(H, W, C\).*maps\[i\]"),
        (np.zeros((5, 5)), r"maps\[\.\.\., None\]"),
        (np.zeros((5, 5, 0)), "empty"),
        (np.full((2, 2, 2), np.inf), "NaN or infinite"),
    ],
)
def test_show_feature_maps_rejects_bad_stacks(maps, match):
    with pytest.raises(ValueError, match=match):
        plotting.show_feature_maps(maps)


def test_show_feature_maps_rejects_bad_max_maps():
    with pytest.raises(ValueError, match="max_maps"):
        plotting.show_feature_maps(np.zeros((4, 4, 3)), max_maps=0)


# ------------------------------------------------------------------ plot_history
HISTORY = {
    "loss": [1.0, 0.6, 0.4],
    "accuracy": [0.5, 0.7, 0.8],
    "val_loss": [1.1, 0.8, 0.7],
    "val_accuracy": [0.45, 0.6, 0.65],
}


def test_plot_history_dict_train_and_validation():
    fig = plotting.plot_history(HISTORY)
    assert len(fig.axes) == 2
    for ax, metric in zip(fig.axes, ("loss", "accuracy"), strict=True):
        assert ax.get_title() == metric
        train, validation = ax.get_lines()
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(train.get_ydata(), HISTORY[metric])
        np.testing.assert_allclose(validation.get_ydata(), HISTORY[f"val_{metric}"])
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]


def test_plot_history_accepts_an_object_with_a_history_dict():
    class FitResult:  # what keras.callbacks.History looks like from outside
        history = {"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}

    fig = plotting.plot_history(FitResult(), metrics=("loss",))
    assert len(fig.axes[0].get_lines()) == 2


@pytest.mark.slow
def test_plot_history_accepts_a_keras_history_object():
    import keras

    history = keras.callbacks.History()
    history.history = {"loss": [0.9, 0.5]}
    fig = plotting.plot_history(history, metrics=("loss",))
    assert len(fig.axes) == 1
    assert len(fig.axes[0].get_lines()) == 1, "no validation curve without val_loss"


def test_plot_history_single_metric_as_string():
    assert len(plotting.plot_history(HISTORY, metrics="accuracy").axes) == 1


@pytest.mark.parametrize(
    ("history", "metrics", "error", "match"),
    [
        ({"loss": [1.0]}, ("loss", "accuracy"), ValueError, r"no 'accuracy'; it has 'loss'"),
        ({"loss": [1.0, 0.5], "val_loss": [1.0]}, ("loss",), ValueError, "one validation value"),
        ({"loss": []}, ("loss",), ValueError, "no epoch"),
        ({"loss": [[1.0, 2.0]]}, ("loss",), ValueError, "one value per epoch"),
        ({"loss": [1.0]}, (), ValueError, "at least one metric"),
        ([1.0, 0.5], ("loss",), TypeError, "History"),
    ],
)
def test_plot_history_rejects_bad_input(history, metrics, error, match):
    with pytest.raises(error, match=match):
        plotting.plot_history(history, metrics=metrics)


# ---------------------------------------------------------- show_kernel / values
def test_show_kernel_annotates_every_weight():
    kernel = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    fig = plotting.show_kernel(kernel, fmt="{:g}", title="Sobel x")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert _texts(ax) == ["-1", "0", "1", "-2", "0", "2", "-1", "0", "1"]
    assert ax.get_images()[0].get_clim() == (-2.0, 2.0), "scale must be symmetric around 0"
    assert ax.get_title() == "Sobel x"


def test_show_kernel_scale_is_symmetric_for_one_sided_weights():
    fig = plotting.show_kernel(np.array([[0.0, 1.0], [2.0, 4.0]]))
    assert fig.axes[0].get_images()[0].get_clim() == (-4.0, 4.0)


def test_show_kernel_text_colour_follows_the_cell():
    fig = plotting.show_kernel(np.array([[-1.0, 0.0]]))
    colours = [text.get_color() for text in fig.axes[0].texts]
    assert colours == ["white", "black"], "dark blue cell needs white text, white cell black"


def test_show_values_integers_and_existing_axes():
    fig, (left, right) = plt.subplots(1, 2)
    crop = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    returned = plotting.show_values(crop, ax=right, vmin=0, vmax=255)
    assert returned is fig
    assert _texts(right)[:3] == ["0", "20", "40"] and len(right.texts) == 12
    assert not left.texts


def test_show_values_large_grid_is_not_annotated():
    fig = plotting.show_values(np.zeros((40, 40)))
    assert not fig.axes[0].texts


@pytest.mark.parametrize(
    ("kernel", "match"),
    [
        (np.zeros((3, 3, 1, 8)), r"kernel\[:, :, c, f\]"),
        (np.zeros((3, 3, 2)), r"kernel\[:, :, c\]"),
        (np.zeros(3), r"2-D filter"),
        (np.zeros((0, 3)), "empty"),
        (np.array([[np.nan]]), "NaN"),
    ],
)
def test_show_kernel_rejects_bad_shapes(kernel, match):
    with pytest.raises(ValueError, match=match):
        plotting.show_kernel(kernel)


def test_show_values_rejects_bad_shapes():
    with pytest.raises(ValueError, match="2-D array"):
        plotting.show_values(np.zeros((2, 2, 2)))


def test_library_never_calls_show(monkeypatch):
    def refuse():
        raise AssertionError("plt.show() called inside the library")

    monkeypatch.setattr(plt, "show", refuse)
    plotting.show_images(np.zeros((2, 4, 4)))
    plotting.show_feature_maps(np.zeros((4, 4, 2)))
    plotting.plot_history({"loss": [1.0]}, metrics=("loss",))
    plotting.show_kernel(np.eye(3))


def test_figures_render_headless(tmp_path):
    fig = plotting.show_images(RNG.random((3, 8, 8, 3)), titles=["a", "b", "c"])
    fig.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 1000


def test_show_as_jpeg_displays_a_jpeg_and_closes_the_figure(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    photo = np.random.default_rng(0).integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    fig = plotting.show_images([photo, photo])
    size = plotting.show_as_jpeg(fig, quality=80)
    assert len(shown) == 1 and shown[0].format == "jpeg" and shown[0].data[:2] == b"\xff\xd8"
    assert size == len(shown[0].data)
    assert not plt.fignum_exists(fig.number)
    with pytest.raises(TypeError, match="Figure"):
        plotting.show_as_jpeg(photo)
    with pytest.raises(ValueError, match="quality"):
        plotting.show_as_jpeg(plotting.show_images([photo]), quality=0)
