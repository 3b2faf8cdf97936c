"""Stand-in data (docs/stand-ins.md): each generator at a tiny size writes what the real data's
readers expect (formats, names, keys, columns), with structure; its marker is read back and
refused in real mode, naming the file and the switch; real files are refused in stand-in
mode; the ImageNet split streams to the same arrays as an in-memory split."""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from data_fixtures import make_stage
from PIL import Image

from hiref.datasets import load_meta, save_prepared
from hiref.datasets.embedding_split import split_file, split_rows
from hiref.datasets.image_files import list_images
from hiref.datasets.merfish import PAPER_GENES, prepare_pair, read_replicate
from hiref.datasets.mosta import pair_arrays, preprocess_pair
from hiref.datasets.npz_stream import NpyRows, NpzWriter
from hiref.datasets.sources import local_problems, read_marker, stand_in_problems
from hiref.datasets.stand_ins import coco, imagenet, merfish, mosta
from hiref.datasets.stand_ins.markers import (
    GzipCommentWriter,
    StandInError,
    gzip_file_marker,
    make_marker,
    marker_text,
    parse_marker_text,
)

REFUSED = r"is stand-in data .*not the real .*Stand-ins are read only with data\.stand_in: true"
UNMARKED = r"has no stand-in marker.*data\.stand_in is true"


def test_gzip_comment_round_trip_is_invisible_to_csv_readers(tmp_path):
    marker = make_marker("merfish", 3, cells=2)
    path = tmp_path / "t.csv.gz"
    with open(path, "wb") as raw, io.TextIOWrapper(
        io.BufferedWriter(GzipCommentWriter(raw, marker_text(marker))), newline=""
    ) as out:
        out.write("cell,Gad1\n1,0\n2,5\n")
    assert gzip_file_marker(path) == marker == read_marker(path)
    assert pd.read_csv(path)["Gad1"].tolist() == [0, 5]
    with gzip.open(path, "rt") as fh:
        assert fh.read().startswith("cell,Gad1")
    plain = tmp_path / "plain.csv.gz"
    with gzip.open(plain, "wt") as out:
        out.write("cell,Gad1\n1,0\n")
    assert gzip_file_marker(plain) is None and read_marker(plain) is None
    assert parse_marker_text("hiref stand-in data not json") is None
    with pytest.raises(ValueError, match="NUL"):
        GzipCommentWriter(io.BytesIO(), "a\x00b")


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mosta")
    model = mosta.StageModel(genes=400, median_umi=300, gene_dropout=0.05, seed=1)
    for index, (stage, cells, tissues) in enumerate((("E9.5", 150, 4), ("E10.5", 220, 5))):
        mosta.write_stage(folder / f"{stage}_E1S1.MOSTA.h5ad", stage=stage, stage_index=index,
                          n_cells=cells, tissues=tissues, model=model, chunk_cells=64,
                          progress=lambda _: None)
    return folder


def test_mosta_stand_in_has_the_real_keys_and_structure(stages):
    adata = ad.read_h5ad(stages / "E10.5_E1S1.MOSTA.h5ad")
    counts = adata.layers["count"]
    assert adata.shape == (220, counts.shape[1]) and 340 < counts.shape[1] < 400
    assert counts.format == "csr" and counts.dtype == np.float32
    assert np.array_equal(counts.data, np.rint(counts.data)) and counts.data.min() >= 1
    assert adata.X.nnz == counts.nnz and np.allclose(
        np.expm1(adata.X[0].toarray()).sum(), 1e4, rtol=1e-3)
    assert list(adata.obs["annotation"].cat.categories) == list(mosta.TISSUES[:5])
    assert adata.obsm["spatial"].shape == (220, 2) and adata.obsm["spatial"].min() > 0
    assert json.loads(adata.uns["stand_in"])["settings"]["stage"] == "E10.5"
    # Tissues differ in expression: each tissue's mean profile is closest to itself.
    logn = np.log1p(counts.toarray() / counts.sum(1).A * 1e3)
    labels = adata.obs["annotation"].cat.codes.to_numpy()
    present = [k for k in range(5) if (labels == k).sum() >= 5]
    means = np.stack([logn[labels == k].mean(0) for k in present])
    halves = np.stack([logn[labels == k][::2].mean(0) for k in present])
    dist = np.linalg.norm(halves[:, None] - means[None], axis=2)
    assert (dist.argmin(1) == np.arange(len(present))).all()
    # Consecutive stages share most genes, not all; files are reproducible from the seed.
    first = ad.read_h5ad(stages / "E9.5_E1S1.MOSTA.h5ad", backed="r")
    shared = first.var_names.intersection(adata.var_names)
    assert 0.8 * counts.shape[1] < len(shared) < counts.shape[1]


def test_mosta_stand_in_runs_through_the_preprocessing_only_in_stand_in_mode(stages, tmp_path):
    paths = [stages / "E9.5_E1S1.MOSTA.h5ad", stages / "E10.5_E1S1.MOSTA.h5ad"]
    with pytest.raises(StandInError, match=r"E9\.5_E1S1\.MOSTA\.h5ad: " + REFUSED):
        preprocess_pair(*paths, stages=("E9.5", "E10.5"), n_comps=5)
    out = preprocess_pair(*paths, stages=("E9.5", "E10.5"), n_comps=5, stand_in=True)
    assert pair_arrays(out)["x"].shape == (150, 5)
    assert set(json.loads(out.uns["preprocess"]["stand_in"])) == {"E9.5", "E10.5"}
    # The prepared pair's meta carries the markers as a mapping, which solve_ot copies.
    meta = save_prepared(out, tmp_path / "pair.h5ad", tmp_path / "pair.npz", pair_arrays(out))
    assert load_meta(tmp_path / "pair.npz") == meta and set(meta["stand_in"]) == {"E9.5", "E10.5"}
    assert ad.read_h5ad(tmp_path / "pair.h5ad").n_obs == out.n_obs
    real = make_stage(tmp_path / "E10.5_E1S1.MOSTA.h5ad", 30, ["StandInGene00001"], 0)
    with pytest.raises(StandInError, match=UNMARKED):
        preprocess_pair(paths[0], real, stages=("E9.5", "E10.5"), n_comps=1, stand_in=True)


def test_merfish_stand_in_has_vizgens_columns_panel_and_rotation(tmp_path):
    files = {}
    for replicate, role, cells in ((3, "source", 400), (2, "target", 380)):
        files[replicate] = (tmp_path / f"cell_metadata_S2R{replicate}.csv.gz",
                            tmp_path / f"cell_by_gene_S2R{replicate}.csv.gz")
        merfish.write_replicate(*files[replicate], replicate=replicate, role=role,
                                n_cells=cells, rotation_deg=45, seed=0, chunk_cells=150,
                                progress=lambda _: None)
    metadata = pd.read_csv(files[3][0])
    assert list(metadata.columns) == ["Unnamed: 0", "fov", "volume", "center_x", "center_y",
                                      "min_x", "max_x", "min_y", "max_y"]
    assert metadata["Unnamed: 0"].astype(str).str.fullmatch(r"\d{30,40}").all()
    header = pd.read_csv(files[3][1], nrows=0).columns.tolist()
    genes = [g for g in header[1:] if not g.startswith("Blank-")]
    assert header[0] == "cell" and len(genes) == merfish.PANEL_GENES == 483
    assert set(PAPER_GENES) <= set(genes) and header[-1] == f"Blank-{merfish.BLANKS - 1}"
    with pytest.raises(StandInError, match="cell_metadata_S2R3.csv.gz: " + REFUSED):
        read_replicate(*files[3], "S2R3")
    source, target = (read_replicate(*files[r], f"S2R{r}", stand_in=True) for r in (3, 2))
    joint = prepare_pair(source, target, rotate_target_deg=45, seed=44)
    assert set(json.loads(joint.uns["preprocess"]["stand_in"])) == {"S2R3", "S2R2"}

    def main_axis(xy):  # degrees of the first principal axis, in [0, 180)
        vec = np.linalg.svd(xy - xy.mean(0), full_matrices=False)[2][0]
        return np.degrees(np.arctan2(vec[1], vec[0])) % 180

    # The section is wider than tall: raw, the target lies at -45 degrees; prepared, level.
    assert abs(main_axis(source.obsm["spatial"]) - 90) > 80
    assert abs(main_axis(target.obsm["spatial"]) - 135) < 10
    prepared = joint[joint.obs["slice"] == "target"].obsm["spatial"]
    assert abs(main_axis(prepared) - 90) > 80
    # Gad1 marks inhibitory neurons, most in the striatum: not spread evenly.
    gad1 = source[:, "Gad1"].X.toarray().ravel()
    assert gad1.std() > gad1.mean() > 0


def test_coco_stand_in_looks_like_val2017_and_is_refused_as_real(tmp_path):
    path = tmp_path / "val2017.zip"
    coco.write_zip(path, n_images=12, seed=0, progress=lambda _: None)
    with zipfile.ZipFile(path) as zf:
        names = [m.filename for m in zf.infolist() if not m.is_dir()]
        assert all(re.fullmatch(r"val2017/\d{12}\.jpg", n) for n in names) and len(names) == 12
        assert names == sorted(names) and "val2017/" in zf.namelist()
        with zf.open(names[0]) as fh, Image.open(fh) as img:
            assert img.size in coco.SIZES and img.format == "JPEG"
            assert parse_marker_text(img.info["comment"])["dataset"] == "coco"
        sizes = [m.file_size for m in zf.infolist() if not m.is_dir()]
    assert 60_000 < np.mean(sizes) < 300_000
    assert read_marker(path)["settings"]["images"] == 12
    with pytest.raises(StandInError, match="val2017.zip: " + REFUSED):
        list_images(path)
    assert list_images(path, stand_in=True) == names
    folder = tmp_path / "extracted"
    zipfile.ZipFile(path).extractall(folder)
    with pytest.raises(StandInError, match="extracted: " + REFUSED):
        list_images(folder)


def test_imagenet_stand_in_and_the_streamed_split(tmp_path):
    path = tmp_path / "imagenet.npz"
    imagenet.write_embeddings(path, rows=300, classes=6, dim=16, seed=0, chunk_rows=64,
                              progress=lambda _: None)
    with np.load(path) as data:
        assert set(data.files) == {"embeddings", "ids", "meta"}
        emb, ids = data["embeddings"], data["ids"]
        meta = json.loads(str(data["meta"]))
    assert emb.shape == (300, 16) and emb.dtype == np.float32 and emb.min() >= 0
    assert list(ids) == sorted(ids) and re.fullmatch(r"n\d{8}/n\d{8}_\d+\.JPEG", ids[0])
    assert meta["n_images"] == 300 and meta["stand_in"]["dataset"] == "imagenet"
    assert {"source", "model", "weights", "transform", "device", "versions"} <= set(meta)
    # Clustered: rows of one class are closer to their class mean than to the others'.
    label = np.char.partition(ids, "/")[:, 0]
    classes = np.unique(label)
    means = np.stack([emb[label == c].mean(0) for c in classes])
    nearest = np.linalg.norm(emb[:, None] - means[None], axis=2).argmin(1)
    assert (classes[nearest] == label).mean() > 0.9

    out = tmp_path / "pair.npz"
    with pytest.raises(StandInError, match="imagenet.npz: " + REFUSED):
        split_file(path, out, n_per_side=140, seed=3, progress=lambda _: None)
    split_file(path, out, n_per_side=140, seed=3, stand_in=True, block_rows=50,
               progress=lambda _: None)
    x_rows, y_rows = split_rows(300, 140, 3)
    with np.load(out) as pair:
        np.testing.assert_array_equal(pair["x"], emb[x_rows])
        np.testing.assert_array_equal(pair["y"], emb[y_rows])
        np.testing.assert_array_equal(pair["y_ids"], ids[y_rows])
    assert load_meta(out)["split"] == {"n_per_side": 140, "of": 300, "seed": 3}
    assert load_meta(out)["stand_in"]["dataset"] == "imagenet"


def test_class_sizes_follow_imagenet():
    sizes = imagenet.class_sizes(1_281_167, 1000, 0)
    assert sizes.sum() == 1_281_167 and sizes.max() == 1300 and sizes.min() >= 732
    assert (sizes < 1300).sum() < 200  # most classes are full, as in ILSVRC2012


def test_split_of_real_embeddings_is_seeded_and_refuses_too_few(tmp_path):
    emb = np.arange(23 * 4, dtype=np.float32).reshape(23, 4)
    source = tmp_path / "emb.npz"
    np.savez(source, embeddings=emb, ids=np.array([f"img{i}" for i in range(23)]),
             meta=json.dumps({"n_images": 23}))
    split_file(source, tmp_path / "a.npz", n_per_side=None, seed=1, progress=lambda _: None)
    with np.load(tmp_path / "a.npz") as pair:
        assert pair["x"].shape == pair["y"].shape == (11, 4)
        assert not set(pair["x_ids"]) & set(pair["y_ids"])
        np.testing.assert_array_equal(pair["x"][:, 0] / 4, [int(i[3:]) for i in pair["x_ids"]])
    with pytest.raises(StandInError, match=UNMARKED):
        split_file(source, tmp_path / "b.npz", n_per_side=5, seed=1, stand_in=True)
    with pytest.raises(ValueError, match="needs 2 x 12 = 24 embeddings, only 23"):
        split_file(source, tmp_path / "c.npz", n_per_side=12, seed=0)
    assert not (tmp_path / "c.npz").exists()


def test_npz_stream_checks_what_it_writes_and_reads(tmp_path):
    with (NpzWriter(tmp_path / "w.npz") as npz,
          pytest.raises(ValueError, match="3 rows written, 4 declared"),
          npz.rows("a", (4, 2), np.float32) as write):
        write(np.ones((3, 2)))
    np.savez_compressed(tmp_path / "c.npz", embeddings=np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="c.npz: member 'embeddings' is compressed"):
        NpyRows(tmp_path / "c.npz", "embeddings")


def test_a_whole_member_is_read_in_pieces_into_aligned_blocks(tmp_path, monkeypatch):
    from hiref import aligned
    from hiref.datasets import npz_stream

    array = np.arange(1000 * 3, dtype=np.float32).reshape(1000, 3)
    np.savez(tmp_path / "a.npz", a=array)
    monkeypatch.setattr(npz_stream, "READ_BYTES", 100)  # 120 pieces, the last one short
    with NpyRows(tmp_path / "a.npz", "a") as member:
        whole, rows = member.read(), member.take(np.array([999, 0, 7]))
    np.testing.assert_array_equal(whole, array)
    np.testing.assert_array_equal(rows, array[[999, 0, 7]])
    assert aligned.is_aligned(whole) and aligned.is_aligned(rows)


def test_source_checks_name_the_key_and_the_switch(tmp_path, stages):
    problems = local_problems({"data.mosta.local_dir": [tmp_path / "E9.5_E1S1.MOSTA.h5ad",
                                                        stages / "E10.5_E1S1.MOSTA.h5ad"]})
    assert problems[0] == f"data.mosta.local_dir: {tmp_path / 'E9.5_E1S1.MOSTA.h5ad'} does not exist"
    assert "is stand-in data, not the real data" in problems[1] and "data.stand_in: true" in problems[1]
    real = tmp_path / "cell_metadata_S2R3.csv"
    real.write_text("x\n")
    prepared = tmp_path / "merfish.npz"
    np.savez(prepared, x=np.zeros((1, 2)), y=np.zeros((1, 2)), meta=json.dumps({"n": 1}))
    problems = stand_in_problems([real, stages / "E9.5_E1S1.MOSTA.h5ad"], [real], [prepared])
    assert len(problems) == 2
    assert "would write the real data's own file" in problems[0]
    assert "merfish.npz: was prepared from real data" in problems[1]
    assert "snakemake -d" in problems[1]
    other = tmp_path / "other.csv.gz"
    other.write_bytes(gzip.compress(b"cell\n"))
    assert "exists and is not stand-in data" in stand_in_problems([other], [], [])[0]
