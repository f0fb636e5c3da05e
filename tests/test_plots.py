import json

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


def _plot_curves(tmp_path, output, *extra):
    return main(["plot", "curves", "--run", str(trained_run("lightgcn")), "--output", str(output), *extra])


@pytest.mark.parametrize("what", ["curves", "embeddings"])
@pytest.mark.parametrize("name", ["x.txt", "x.pt", "x.json", "rep", "folder"])
def test_plot_refuses_unknown_formats_and_folders_in_one_line(tmp_path, capsys, name, what):
    (tmp_path / "folder").mkdir()
    with pytest.raises(SystemExit) as e:  # checked before the run is read: this one does not exist
        main(["plot", what, "--run", str(tmp_path / "not-a-run"), "--output", str(tmp_path / name)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path / name}: ")
    assert err.rstrip().endswith(".png, .pdf or .svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"] and not any((tmp_path / "folder").iterdir())


@pytest.mark.parametrize("suffix, magic", [("png", PNG), ("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_plot_writes_the_format_of_its_suffix_and_prints_that_path(tmp_path, capsys, suffix, magic):
    out = tmp_path / f"c.{suffix}"
    assert _plot_curves(tmp_path, out) == 0
    assert out.read_bytes().startswith(magic)
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left beside it


def test_plot_replaces_an_existing_file_only_with_overwrite(tmp_path, capsys):
    out = tmp_path / "c.png"
    out.write_bytes(b"the user's own figure")
    with pytest.raises(SystemExit) as e:
        _plot_curves(tmp_path, out)
    assert e.value.code == 2
    assert capsys.readouterr().err == f"error: {out}: exists; pass --overwrite to replace it\n"
    assert out.read_bytes() == b"the user's own figure"
    assert _plot_curves(tmp_path, out, "--overwrite") == 0
    assert_png(out)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A run as `contrastrec demo --quick --models mf` writes it (data made in memory, never a file)."""
    from contrastrec.demo import run_demo

    root = tmp_path_factory.mktemp("demo")
    run_demo(output=str(root), quick=True, models=["mf"], print_fn=lambda s: None)
    assert [p.name for p in root.iterdir()] == ["mf"]  # the demo writes inside its folder only
    return root / "mf"


def test_plot_embeddings_and_evaluate_of_a_demo_run(demo_run, tmp_path, capsys):
    assert main(["plot", "embeddings", "--run", str(demo_run), "--output", str(tmp_path / "e.png")]) == 0
    assert_png(tmp_path / "e.png")
    capsys.readouterr()
    assert main(["evaluate", "--run", str(demo_run)]) == 0
    results = json.loads((demo_run / "results.json").read_text())
    assert json.loads(capsys.readouterr().out)["test"] == pytest.approx(results["test"])


def test_a_demo_run_whose_recipe_no_longer_matches_is_refused(demo_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "mf"
    shutil.copytree(demo_run, run)
    info = json.loads((run / "dataset.json").read_text())
    info["synthetic"]["args"]["interactions_per_user"] += 5  # as if the generator had changed
    (run / "dataset.json").write_text(json.dumps(info))
    assert main(["plot", "embeddings", "--run", str(run), "--output", str(tmp_path / "e.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'dataset.json'}: the synthetic data regenerated from its recipe does not match")
    assert not (tmp_path / "e.png").exists()
