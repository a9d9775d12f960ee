"""The reproduce configuration: every error is one line, raised before any work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from salanalysis import cli
from salanalysis.config import config_from_dict, demo_config, dump_toml, load_config
from salanalysis.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture
def files(tmp_path, demo) -> Path:
    """A folder with a valid configuration over the demo files (relative paths)."""
    import shutil

    shutil.copy(demo.annotations, tmp_path / "ann.json")
    shutil.copy(demo.detections, tmp_path / "det.json")
    shutil.copytree(demo.saliency, tmp_path / "maps")
    (tmp_path / "ck_a.pt").write_bytes(b"a")
    (tmp_path / "ck_b.pt").write_bytes(b"b")
    return tmp_path


VALID = """
[inputs]
annotations = "ann.json"

[saliency]
salicon = "maps"
[saliency.center]
builtin = "center-bias"

[scores.det]
path = "det.json"
label = "sample detections"
[scores.prior]
builtin = "class-prior"

[compare]
a = "prior"
b = "det"

[analysis]
threshold = 0.4
seed = 3
n_boot = 200
"""


def _write(folder: Path, text: str) -> Path:
    p = folder / "c.toml"
    p.write_text(text)
    return p


def test_valid_config_resolves_paths_and_defaults(files):
    cfg = load_config(_write(files, VALID))
    assert cfg.annotations == files / "ann.json"
    assert [(s.name, s.path, s.builtin) for s in cfg.saliency] == [
        ("salicon", files / "maps", None), ("center", None, "center-bias")]
    assert [s.name for s in cfg.scores] == ["det", "prior"]
    assert cfg.labels()["prior"] == "class-prior baseline (not a model)"
    assert cfg.compare == ("prior", "det")
    assert (cfg.threshold, cfg.seed, cfg.n_boot, cfg.cf1, cfg.primary) == (0.4, 3, 200, "harmonic", "det")
    assert cfg.out is None
    assert (cfg.rules.federated, cfg.rules.overall) == ("auto", "all-predictions")
    other = load_config(_write(files, VALID.replace("seed = 3", 'seed = 3\nfederated = "off"\n'
                                                                'overall = "classes-with-positives"')))
    assert (other.rules.federated, other.rules.overall) == ("off", "classes-with-positives")


def test_resolved_config_round_trips(files):
    cfg = load_config(_write(files, VALID + '\n[output]\ndir = "results"\n'))
    assert cfg.out == files / "results"
    text = dump_toml(cfg.to_dict(), header="resolved")
    assert text.startswith("# resolved")
    again = config_from_dict(tomllib.loads(text), "resolved.toml", base="/")
    assert again.to_dict() == cfg.to_dict()
    demo = demo_config()
    assert config_from_dict(tomllib.loads(dump_toml(demo.to_dict())), "x", base="/").to_dict() == demo.to_dict()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace('annotations = "ann.json"', 'annotations = "nope.json"'),
         "'inputs.annotations': file not found"),
        (lambda t: t.replace('annotations = "ann.json"', ""), "missing 'inputs.annotations'"),
        (lambda t: t + "\n[plots]\nx = 1\n", "unknown section 'plots'"),
        (lambda t: t.replace("seed = 3", "seed = 3\nthreshhold = 0.5"), "unknown key 'analysis.threshhold'"),
        (lambda t: t.replace('label = "sample detections"', 'lable = "x"'), "unknown key 'scores.det.lable'"),
        (lambda t: t.replace("threshold = 0.4", "threshold = 1.5"), "'analysis.threshold' must be a number in (0, 1)"),
        (lambda t: t.replace("threshold = 0.4", 'threshold = "high"'), "'analysis.threshold'"),
        (lambda t: t.replace("n_boot = 200", "n_boot = 10"), "'analysis.n_boot' must be 0"),
        (lambda t: t.replace("n_boot = 200", "n_boot = 2.5"), "'analysis.n_boot' must be an integer"),
        (lambda t: t.replace("seed = 3", "seed = true"), "'analysis.seed' must be an integer"),
        (lambda t: t + '\n[analysis.extra]\n', "unknown key 'analysis.extra'"),
        (lambda t: t.replace('builtin = "class-prior"', 'builtin = "oracle"'), "'scores.prior.builtin' = 'oracle' is unknown"),
        (lambda t: t.replace('builtin = "class-prior"', 'builtin = "class-prior"\npath = "det.json"'),
         "exactly one of 'path' or 'builtin'"),
        (lambda t: t.replace('path = "det.json"', 'path = "missing.json"'), "'scores.det.path': file not found"),
        (lambda t: t.replace('salicon = "maps"', 'salicon = "nomaps"'), "'saliency.salicon.path': folder not found"),
        (lambda t: t.replace('b = "det"', 'b = "dual"'), "'compare.b' = 'dual' is not a score set"),
        (lambda t: t.replace('b = "det"', 'b = "prior"'), "must differ"),
        (lambda t: t.replace("[scores.det]", "[scores.2det]"), "name 'scores.2det' must start with a letter"),
        (lambda t: t + '\n[cam]\ncheckpoints = { det = "ck_a.pt", prior = "ck_b.pt" }\n',
         "'cam.checkpoints' needs 'inputs.images'"),
        (lambda t: t + '\n[inputs.x]\n', "unknown key 'inputs.x'"),
        (lambda t: t.replace('annotations = "ann.json"', 'annotations = "ann.json"\nimages = "maps"')
         + '\n[cam]\ncheckpoints = { det = "ck_a.pt" }\n', "needs exactly two models"),
        (lambda t: t.replace('annotations = "ann.json"', 'annotations = "ann.json"\nimages = "maps"')
         + '\n[cam]\ncheckpoints = { a = "ck_a.pt", b = "ck_b.pt" }\ninput_size = 8\n',
         "'cam.input_size' must be an integer >= 32"),
        (lambda t: t + '\n[cam]\noutput = "maps"\nmax_images = 0\n', "no cam_manifest.json"),
        (lambda t: t + '\n[cam]\noutput = "maps"\n', "no cam_manifest.json"),
        (lambda t: t + '\n[analysis]\n', "invalid TOML"),
        (lambda t: t.replace("seed = 3", 'seed = 3\nfederated = "lvis"'),
         "'analysis.federated' must be 'auto', 'on' or 'off'"),
        (lambda t: t.replace("seed = 3", 'seed = 3\noverall = "micro"'),
         "'analysis.overall' must be 'all-predictions' or 'classes-with-positives'"),
        (lambda t: t + '\n[output]\npublished_rows = "yes"\n', "'output.published_rows' must be \"auto\", true or false"),
        (lambda t: t + '\n[output]\npublished_rows = 1\n', "'output.published_rows' must be"),
    ],
)
def test_each_error_is_one_line_before_any_work(files, tmp_path, edit, message, capsys):
    path = _write(files, edit(VALID))
    out = tmp_path / "never"
    with pytest.raises(InputError) as exc:
        load_config(path)
    text = str(exc.value)
    assert "\n" not in text and text.startswith(str(path)) and message in text
    # the command line: exit 2, one line, nothing written
    assert cli.main(["reproduce", "--config", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


@pytest.mark.parametrize("value, on_coco80, on_other", [
    (None, True, False), ('"auto"', True, False), ("true", True, True), ("false", False, False)])
def test_published_rows_auto_only_for_cocos_80_categories(files, demo_ann, value, on_coco80, on_other):
    from salanalysis.coco import Annotations

    text = VALID + ("" if value is None else f"\n[output]\npublished_rows = {value}\n")
    cfg = load_config(_write(files, text))
    assert cfg.published_rows == ("auto" if value is None else tomllib.loads(f"x = {value}")["x"])
    assert cfg.to_dict()["output"]["published_rows"] == cfg.published_rows  # written to the resolved file
    assert cfg.show_published(demo_ann) is on_coco80  # the real val2014 file: COCO's 80 categories
    data = dict(demo_ann.coco.dataset)
    renamed = [dict(c, name="human") if c["id"] == 1 else c for c in data["categories"]]
    assert cfg.show_published(Annotations({**data, "categories": renamed})) is on_other
    extra = [*data["categories"], {"id": 91, "name": "extra", "supercategory": "x"}]
    assert cfg.show_published(Annotations({**data, "categories": extra})) is on_other


def test_missing_config_file(tmp_path, capsys):
    assert cli.main(["reproduce", "--config", str(tmp_path / "none.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_no_score_sets(files):
    with pytest.raises(InputError, match="no score sets"):
        load_config(_write(files, '[inputs]\nannotations = "ann.json"\n'))


def test_compare_defaults_to_the_first_two(files):
    text = VALID.replace('[compare]\na = "prior"\nb = "det"\n', "")
    cfg = load_config(_write(files, text))
    assert cfg.compare == ("det", "prior")


REPO = Path(__file__).resolve().parents[1]


def test_analyses_demo_toml_is_the_bundled_demo():
    cfg = load_config(REPO / "analyses" / "demo.toml")
    a, b = cfg.to_dict(), demo_config().to_dict()
    assert a.pop("output") == {"dir": str(REPO / "demo_output"), "published_rows": "auto"}
    assert b.pop("output") == {"published_rows": "auto"}
    assert a == b


@pytest.mark.parametrize("torch_installed", [True, False])
def test_analyses_paper_toml_is_valid_once_filled_in(tmp_path, monkeypatch, torch_installed):
    """Every key of paper.toml is valid: only the placeholder paths are missing.

    The same with and without torch (the train extra): the core suite passes without it, and
    without it 'cam.checkpoints' is the one line that says so.
    """
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kws):
        if name == "torch" or name.startswith("torch."):
            return real_find_spec("json") if torch_installed else None  # any spec stands for "installed"
        return real_find_spec(name, *args, **kws)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with open(REPO / "analyses" / "paper.toml", "rb") as fh:
        data = tomllib.load(fh)
    with pytest.raises(InputError, match="'inputs.annotations': file not found"):
        load_config(REPO / "analyses" / "paper.toml")

    def fill(value: str, directory: bool) -> str:
        p = tmp_path / value.strip("/").replace("/", "_")
        if directory:
            p.mkdir(exist_ok=True)
        else:
            p.write_text("x")
        return str(p)

    data["inputs"] = {"annotations": fill(data["inputs"]["annotations"], False),
                      "images": fill(data["inputs"]["images"], True)}
    for spec in data["saliency"].values():
        if "path" in spec:
            spec["path"] = fill(spec["path"], True)
    for spec in data["scores"].values():
        spec["path"] = fill(spec["path"], False)
    data["cam"]["checkpoints"] = {k: fill(v, False) for k, v in data["cam"]["checkpoints"].items()}
    if not torch_installed:
        with pytest.raises(InputError, match=r"'cam.checkpoints' needs torch: pip install 'salanalysis\[train\]'"):
            config_from_dict(data, "paper.toml", base=tmp_path)
        return
    cfg = config_from_dict(data, "paper.toml", base=tmp_path)
    assert cfg.compare == ("baseline", "dualstream") and cfg.primary == "baseline"
    assert [s.name for s in cfg.saliency] == ["salicon", "predicted", "center"]
    assert list(cfg.cam_checkpoints) == ["baseline", "dualstream"]
