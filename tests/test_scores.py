"""Score sets: every format round-trips, detections aggregate by max, every bad input errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.scores import Scores, read_score_sets, read_scores, write_scores


@pytest.fixture
def tiny_ann():
    return Annotations(
        {
            "images": [{"id": i, "width": 4, "height": 3, "file_name": f"{i}.jpg"} for i in (3, 1, 2)],
            "categories": [{"id": 7, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 4, "name": "hot dog"}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1], "area": 1,
                 "segmentation": [[0, 0, 1, 0, 1, 1]], "iscrowd": 0},
            ],
        }
    )


@pytest.fixture
def tiny_scores(tiny_ann, rng):
    return Scores.from_array("m", tiny_ann, rng.uniform(size=(3, 3)))


@pytest.mark.parametrize(
    "fname, layout",
    [("s.csv", "wide"), ("s.parquet", "wide"), ("s.csv", "long"), ("s.parquet", "long"),
     ("s.npz", "wide"), ("s.json", "wide")],
)
def test_round_trip(tmp_path, tiny_ann, tiny_scores, fname, layout):
    path = write_scores(tiny_scores, tmp_path / fname, layout=layout)
    back = read_scores(path, tiny_ann, name="m")
    np.testing.assert_array_equal(back.scores, tiny_scores.scores)
    np.testing.assert_array_equal(back.image_ids, [1, 2, 3])
    np.testing.assert_array_equal(back.category_ids, [2, 4, 7])
    assert back.categories == ["dog", "hot dog", "cat"]
    assert not list(tmp_path.glob(".*part*"))  # no temporary file left behind


def test_csv_scores_read_back_exactly_with_17_digits(tmp_path, tiny_ann, rng, monkeypatch):
    import csv


    # values whose shortest exact decimal form has 17 significant digits (like 0.0054162577725946x)
    pool = rng.uniform(size=4000) * 10.0 ** rng.integers(-6, 0, size=4000)
    pool = [float(v) for v in pool if len(repr(float(v)).lstrip("0.").replace(".", "").split("e")[0]) == 17]
    values = np.array(pool[:9]).reshape(3, 3)
    path = write_scores(Scores.from_array("m", tiny_ann, values), tmp_path / "s.csv")
    back = read_scores(path, tiny_ann, name="m")
    # reference: Python's float(), correctly rounded, on the text of the file
    with open(path, newline="") as fh:
        rows = {int(r["image_id"]): r for r in csv.DictReader(fh)}
    ref = np.array([[float(rows[i][c]) for c in back.categories] for i in back.image_ids])
    assert np.array_equal(back.scores, ref) and np.array_equal(ref, values)
    # pandas before 3.1 is asked for its exact converter (its default one is not)
    seen = {}
    real = pd.read_csv
    monkeypatch.setattr(pd, "__version__", "3.0.6")
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: (seen.update(k), real(*a))[1])
    assert np.array_equal(read_scores(path, tiny_ann, name="m").scores, ref)
    assert seen == {"float_precision": "round_trip"}


def test_read_score_sets_forms_and_names(tmp_path, tiny_ann, tiny_scores):
    path = write_scores(tiny_scores, tmp_path / "s.csv")
    # a mapping: files read under their key, a Scores under another name renamed
    sets = read_score_sets({"file": path, "obj": tiny_scores}, tiny_ann)
    assert [s.name for s in sets] == ["file", "obj"] and tiny_scores.name == "m"
    np.testing.assert_array_equal(sets[0].scores, tiny_scores.scores)
    assert sets[1].scores is tiny_scores.scores
    # a sequence of Scores and (name, path) pairs; one Scores; None
    assert [s.name for s in read_score_sets([tiny_scores, ("f", path)], tiny_ann)] == ["m", "f"]
    assert read_score_sets(tiny_scores, tiny_ann) == [tiny_scores]
    assert read_score_sets(None, tiny_ann) == []
    # no name for a file: its stem, as read_scores
    for nameless in ("", None):
        assert [s.name for s in read_score_sets([(nameless, path)], tiny_ann)] == ["s"]
    with pytest.raises(InputError, match="score set name 'm' given twice"):
        read_score_sets([tiny_scores, ("m", path)], tiny_ann)
    with pytest.raises(InputError, match="nope.csv"):
        read_score_sets({"x": tmp_path / "nope.csv"}, tiny_ann)


def test_detections_max_per_image_and_class(demo, demo_ann):
    s = read_scores(demo.detections, demo_ann)
    dets = json.loads(demo.detections.read_text())
    ref = pd.DataFrame(dets).groupby(["image_id", "category_id"])["score"].max()
    assert s.name == demo.detections.stem
    assert s.scores.shape == (100, 80)
    cidx = {c: i for i, c in enumerate(demo_ann.category_ids)}
    iidx = {im: i for i, im in enumerate(demo_ann.image_ids)}
    expected = np.zeros((100, 80))
    for (im, cat), v in ref.items():
        expected[iidx[im], cidx[cat]] = v
    np.testing.assert_array_equal(s.scores, expected)
    assert s.n_filled == 1  # 99 of the 100 images have a detection


def test_long_table_by_category_name(tmp_path, tiny_ann):
    rows = [(i, c, 0.5) for i in (1, 2, 3) for c in ("cat", "dog", "hot dog")]
    pd.DataFrame(rows, columns=["image_id", "category", "score"]).to_csv(tmp_path / "l.csv", index=False)
    s = read_scores(tmp_path / "l.csv", tiny_ann)
    assert (s.scores == 0.5).all()


def test_logits_are_converted(tmp_path, tiny_ann):
    logits = np.array([[-2.0, 0.0, 3.0]] * 3)
    df = pd.DataFrame(logits, columns=["cat", "dog", "hot dog"])
    df.insert(0, "image_id", [1, 2, 3])
    df.to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(InputError, match=r"outside \[0, 1\].*--logits"):
        read_scores(tmp_path / "l.csv", tiny_ann)
    s = read_scores(tmp_path / "l.csv", tiny_ann, logits=True)
    # columns reorder to category-id order: dog (0.0), hot dog (3.0), cat (-2.0)
    np.testing.assert_allclose(s.scores[0], [0.5, 1 / (1 + np.exp(-3.0)), 1 / (1 + np.exp(2.0))])


def _wide(tmp_path, rows, columns=("image_id", "cat", "dog", "hot dog"), name="w.csv"):
    p = tmp_path / name
    pd.DataFrame(rows, columns=list(columns)).to_csv(p, index=False)
    return p


def test_missing_images_error_or_zero(tmp_path, tiny_ann):
    p = _wide(tmp_path, [(1, 0.1, 0.2, 0.3), (2, 0.1, 0.2, 0.3)])
    with pytest.raises(InputError, match="1 annotated image.*no scores, e.g. 3.*--missing zero"):
        read_scores(p, tiny_ann)
    s = read_scores(p, tiny_ann, missing="zero")
    assert s.n_filled == 1 and (s.scores[2] == 0).all()


@pytest.mark.parametrize(
    "rows, columns, message",
    [
        ([(1, 0.1, 0.2, 0.3), (2, 0.1, 0.2, 0.3), (3, 0.1, 0.2, 0.3), (99, 0.1, 0.2, 0.3)],
         None, r"1 image id\(s\) not in the annotations, e.g. 99"),
        ([(1, 0.1, 0.2, 0.3), (1, 0.1, 0.2, 0.3), (2, 0.1, 0.2, 0.3), (3, 0.1, 0.2, 0.3)],
         None, "duplicate rows for image 1"),
        ([(1, 0.1, 0.2, 0.3)], ("image_id", "cat", "dog", "horse"), "unknown category 'horse'"),
        ([(1, 0.1, 0.2)], ("image_id", "cat", "dog"), "missing categories: 1 of 3, e.g. 'hot dog'"),
        ([(1, np.nan, 0.2, 0.3), (2, 0.1, 0.2, 0.3), (3, 0.1, 0.2, 0.3)], None, "NaN or infinite"),
        ([(1, np.inf, 0.2, 0.3), (2, 0.1, 0.2, 0.3), (3, 0.1, 0.2, 0.3)], None, "NaN or infinite"),
        ([(1, 1.5, 0.2, 0.3), (2, 0.1, 0.2, 0.3), (3, 0.1, 0.2, 0.3)], None, r"outside \[0, 1\]"),
    ],
)
def test_wide_errors(tmp_path, tiny_ann, rows, columns, message):
    p = _wide(tmp_path, rows, columns or ("image_id", "cat", "dog", "hot dog"))
    with pytest.raises(InputError, match=message) as exc:
        read_scores(p, tiny_ann)
    assert str(p) in str(exc.value) and "\n" not in str(exc.value)


def test_long_errors(tmp_path, tiny_ann):
    p = tmp_path / "l.csv"
    rows = [(i, c, 0.5) for i in (1, 2, 3) for c in (7, 2, 4)]
    pd.DataFrame(rows + [(1, 7, 0.4)], columns=["image_id", "category_id", "score"]).to_csv(p, index=False)
    with pytest.raises(InputError, match="duplicate rows for image 1 category 7"):
        read_scores(p, tiny_ann)
    pd.DataFrame(rows[:-1], columns=["image_id", "category_id", "score"]).to_csv(p, index=False)
    with pytest.raises(InputError, match=r"missing scores for 1 \(image, category\) pairs"):
        read_scores(p, tiny_ann)
    pd.DataFrame(rows + [(1, 99, 0.4)], columns=["image_id", "category_id", "score"]).to_csv(p, index=False)
    with pytest.raises(InputError, match="unknown category id 99"):
        read_scores(p, tiny_ann)


def test_file_level_errors(tmp_path, tiny_ann):
    p = tmp_path / "d.json"
    p.write_text('[{"image_id": 1, "category_id": 2, "score": 0.5}')
    with pytest.raises(InputError, match="malformed JSON at line 1 column"):
        read_scores(p, tiny_ann)
    p.write_text("")
    with pytest.raises(InputError, match="file is empty"):
        read_scores(p, tiny_ann)
    p.write_text('[{"image_id": 42, "category_id": 2, "score": 0.5}]')
    with pytest.raises(InputError, match="not in the annotations, e.g. 42"):
        read_scores(p, tiny_ann)
    p.write_text('[{"image_id": 1, "category_id": 2, "score": NaN}]')
    with pytest.raises(InputError, match="NaN"):
        read_scores(p, tiny_ann)
    e = tmp_path / "e.csv"
    e.write_text("")
    with pytest.raises(InputError, match="file is empty"):
        read_scores(e, tiny_ann)
    with pytest.raises(InputError, match="file not found"):
        read_scores(tmp_path / "none.csv", tiny_ann)
    with pytest.raises(InputError, match="unknown score file type"):
        read_scores(tmp_path / "x.txt", tiny_ann)
    z = tmp_path / "z.npz"
    np.savez(z, image_ids=np.array([1, 2, 3]), scores=np.zeros((3, 2)), categories=np.array(["cat", "dog", "hot dog"]))
    with pytest.raises(InputError, match="NPZ 'scores' has shape"):
        read_scores(z, tiny_ann)


def test_non_integer_image_id(tmp_path, tiny_ann):
    p = _wide(tmp_path, [("abc", 0.1, 0.2, 0.3)])
    with pytest.raises(InputError, match="image_id 'abc' is not an integer"):
        read_scores(p, tiny_ann)


@pytest.mark.parametrize("layout", ["wide", "long"])
def test_semicolon_separated_csv_is_read_as_meant(tmp_path, tiny_ann, tiny_scores, layout):
    # as spreadsheets write CSV in many locales: ';' between fields, ',' as the decimal mark
    comma = write_scores(tiny_scores, tmp_path / "comma.csv", layout=layout)
    df = pd.read_csv(comma)
    semi = tmp_path / "semi.csv"
    df.to_csv(semi, sep=";", decimal=",", index=False, float_format="%.17g")
    assert ";" in semi.read_text().splitlines()[0] and "0," in semi.read_text()
    np.testing.assert_array_equal(read_scores(semi, tiny_ann).scores, read_scores(comma, tiny_ann).scores)
    point = tmp_path / "point.csv"  # ';' with a decimal point
    df.to_csv(point, sep=";", index=False, float_format="%.17g")
    np.testing.assert_array_equal(read_scores(point, tiny_ann).scores, read_scores(comma, tiny_ann).scores)


def test_a_directory_is_not_a_score_file(tmp_path, tiny_ann, demo, capsys):
    from salanalysis.cli import main

    for name in ("scores", "scores.csv", "scores.json"):
        d = tmp_path / name
        d.mkdir()
        with pytest.raises(InputError, match="expected a score file .* got a directory") as exc:
            read_scores(d, tiny_ann)
        assert str(exc.value).startswith(str(d))
    assert main(["metrics", "--annotations", str(demo.annotations), "--scores", f"m={tmp_path / 'scores.csv'}",
                 "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "got a directory" in err and len(err.splitlines()) == 1 and not (tmp_path / "t").exists()


# ------------------------------------------------------------ LVIS-style files: id headers, file names, percent
def test_wide_headers_that_are_category_ids_and_tables_keyed_by_file_name(tmp_path, demo_ann, rng):
    from salanalysis.scores import Scores, read_scores

    n, c = len(demo_ann.images), len(demo_ann.categories)
    ref = Scores.from_array("m", demo_ann, np.round(rng.random((n, c)), 3))
    # headers are category ids (as LVIS users write them), columns in another order than the ids
    wide = pd.DataFrame(ref.scores, columns=[str(i) for i in demo_ann.category_ids])
    wide = wide[wide.columns[::-1]]
    wide.insert(0, "image_id", demo_ann.image_ids)
    wide.to_csv(tmp_path / "ids.csv", index=False)
    np.testing.assert_array_equal(read_scores(tmp_path / "ids.csv", demo_ann).scores, ref.scores)
    # keyed by file_name (rows shuffled), wide and long
    by_name = wide.drop(columns=["image_id"])
    by_name.insert(0, "file_name", demo_ann.images["file_name"].to_numpy())
    by_name.sample(frac=1, random_state=0).to_csv(tmp_path / "names.csv", index=False)
    np.testing.assert_array_equal(read_scores(tmp_path / "names.csv", demo_ann).scores, ref.scores)
    long = ref.to_long().merge(demo_ann.images[["image_id", "file_name"]], on="image_id")
    long[["file_name", "category_id", "score"]].to_csv(tmp_path / "long.csv", index=False)
    np.testing.assert_array_equal(read_scores(tmp_path / "long.csv", demo_ann).scores, ref.scores)
    by_name.loc[0, "file_name"] = "not_an_image.jpg"
    by_name.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match=r"1 file name\(s\) not in the annotations' images, e.g. 'not_an_image.jpg'"):
        read_scores(tmp_path / "bad.csv", demo_ann)


def test_scores_in_percent_are_named_as_percent(tmp_path, demo_ann, rng):
    from salanalysis.scores import Scores, read_scores, write_scores

    n, c = len(demo_ann.images), len(demo_ann.categories)
    write_scores(Scores.from_array("m", demo_ann, np.round(rng.random((n, c)), 3)), tmp_path / "p.csv")
    t = pd.read_csv(tmp_path / "p.csv")
    t.iloc[:, 1:] *= 100
    t.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match="look like percent: divide them by 100"):
        read_scores(tmp_path / "p.csv", demo_ann)
