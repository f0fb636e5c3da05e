import matplotlib.image as mpimg
import numpy as np
import pytest

from contrastrec.cli import main
from contrastrec.plots import angle_density, circle_projection, plot_curves, plot_embeddings

from tests.serving.runs import trained_run

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_projection_and_density():
    rng = np.random.default_rng(0)
    p = circle_projection(rng.normal(size=(500, 8)))
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0)
    grid = np.linspace(-np.pi, np.pi, 721)
    d = angle_density(p, grid)
    assert np.trapezoid(d, grid) == pytest.approx(1.0, abs=0.02)  # a density over the circle
    with pytest.raises(ValueError):
        circle_projection(np.ones((5, 1)))


def test_embeddings_side_by_side(tmp_path):
    out = plot_embeddings([trained_run("lightgcn"), trained_run("sasrec")], tmp_path / "emb.png", max_points=200)
    assert_png(out)
    img = mpimg.imread(out)
    assert img.shape[1] > img.shape[0]  # two columns side by side


def test_curves_and_cli(tmp_path, capsys):
    assert_png(plot_curves(trained_run("lightgcn"), tmp_path / "c.png"))
    assert main(["plot", "curves", "--run", str(trained_run("sasrec")), "--output", str(tmp_path / "s.png")]) == 0
    assert_png(tmp_path / "s.png")
    assert main(["plot", "embeddings", "--run", str(trained_run("sasrec")), "--output", str(tmp_path / "e.png")]) == 0
    assert_png(tmp_path / "e.png")
    assert "wrote" in capsys.readouterr().out
