"""Report figures keep their titles inside the figure, however narrow the figure."""

from __future__ import annotations

import pytest

from usbench.figures import _pyplot, fitted_title


@pytest.mark.parametrize(
    ("width", "title", "fontsize"),
    [
        (2.9, "lpips:mode=paired,net=vgg per generated image (n = 16+ per box)", 9),
        (5.2, "classifier gain on lus-phantom:n_per_class=16 (mean ± std over folds)", 9),
        (3.0, "sd15_hybrid (quick) on folder:/data/my_us_images, seed 1234", 10),
    ],
)
def test_titles_fit_inside_the_figure(width, title, fontsize):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width, 3.2))
    ax.boxplot([[0.1, 0.2, 0.3]])
    ax.set_title(fitted_title(title, fig, fontsize), fontsize=fontsize)
    fig.tight_layout()
    fig.canvas.draw()
    box = ax.title.get_window_extent(fig.canvas.get_renderer())
    figure_box = fig.bbox
    plt.close(fig)
    assert box.x0 >= figure_box.x0 and box.x1 <= figure_box.x1
    assert box.y1 <= figure_box.y1
    assert fitted_title(title, fig, fontsize).replace("\n", " ") == title
