"""Distributed extraction and heads on a real LocalCluster (2 worker processes, 1 thread each)."""

import os
import time
from pathlib import Path

import dask.dataframe as dd  # the dask extra: make install installs it
import distributed
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from counting import CountingExtractor
from PIL import Image

import hybridtl
from hybridtl.cli import main
from hybridtl.features import CNNFeatureExtractor
from hybridtl.heads import XGB_PARAMS, LabelXGBClassifier, make_head, make_hybrid_pipeline
from hybridtl.scaleout import extract_features, predict_partitions

SIZE = 32


@pytest.fixture(scope="session")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=30) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory):
    """24 real photo crops of two classes as JPEG and PNG files, with a CSV manifest."""
    import skimage.data

    root = tmp_path_factory.mktemp("photos")
    rows = []
    for label, photo in (("cat", skimage.data.chelsea()), ("coffee", skimage.data.coffee())):
        for i in range(12):
            path = root / f"{label}_{i}.{'jpg' if i % 2 else 'png'}"
            Image.fromarray(photo[i * 9:i * 9 + 160, i * 11:i * 11 + 160]).save(path)
            rows.append({"path": str(path), "label": label})
    table = pd.DataFrame(rows)
    table.to_csv(root / "manifest.csv", index=False)
    return table


@pytest.fixture(scope="session")
def extractor():
    return CNNFeatureExtractor(weights=None, image_size=SIZE, device="cpu", cache=None).fit()


@pytest.fixture(scope="session")
def expected(photo_files, extractor):
    return extractor.transform(photo_files["path"].tolist())


def features_of(frame, extractor):
    return frame[list(extractor.get_feature_names_out())].to_numpy()


def test_features_equal_in_process_transform_and_parquet_schema(client, photo_files, extractor, expected, tmp_path):
    out = tmp_path / "features"
    frame = extract_features(photo_files, extractor, client=client, out=out, partition_size=5, progress=False)
    assert frame.npartitions == 5
    assert sorted(p.name for p in out.iterdir()) == ["_hybridtl.json"] + [f"part.{k:05d}.parquet" for k in range(5)]
    schema = pq.read_schema(out / "part.00000.parquet")
    names = list(extractor.get_feature_names_out())
    assert schema.names == ["path", "label"] + names
    assert {str(schema.field(n).type) for n in names} == {"float"}  # float32
    got = frame.compute()
    assert got["path"].tolist() == photo_files["path"].tolist()
    assert got["label"].tolist() == photo_files["label"].tolist()
    np.testing.assert_allclose(features_of(got, extractor), expected, rtol=1e-5, atol=1e-5)


def test_lazy_result_from_a_manifest_and_file_urls(client, photo_files, extractor, expected):
    manifest = Path(photo_files["path"][0]).parent / "manifest.csv"
    lazy = extract_features(str(manifest), extractor, client=client, partition_size=8)
    assert lazy.npartitions == 3
    np.testing.assert_allclose(features_of(lazy.compute(scheduler=client.get), extractor), expected, atol=1e-5)
    urls = ["file://" + p for p in photo_files["path"][:6]]  # read through fsspec
    via_fsspec = extract_features(urls, extractor, client=client, partition_size=3).compute(scheduler=client.get)
    np.testing.assert_allclose(features_of(via_fsspec, extractor), expected[:6], atol=1e-5)


def test_in_this_process_with_an_fsspec_output_folder(photo_files, extractor, expected):
    frame = extract_features(photo_files["path"][:7].tolist(), extractor, out="memory://hybridtl-test/features",
                             partition_size=4, progress=False)
    np.testing.assert_allclose(features_of(frame.compute(), extractor), expected[:7], atol=1e-5)


def test_the_extractor_is_unpickled_once_per_worker(client, photo_files, tmp_path):
    log = tmp_path / "unpickled.log"
    log.touch()
    counting = CountingExtractor(weights=None, image_size=SIZE, device="cpu", cache=None).fit()
    counting._log = str(log)
    extract_features(photo_files, counting, client=client, out=tmp_path / "f", partition_size=2, progress=False)
    pids = log.read_text().split()
    assert os.getpid() not in map(int, pids)  # this process copies it without unpickling
    assert len(pids) == len(set(pids)) and 1 <= len(pids) <= 2  # 12 partitions: once per worker


def test_resume_recomputes_only_what_a_crash_left_missing(client, photo_files, extractor, expected, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    paths = []
    for i, source in enumerate(photo_files["path"][:12]):
        paths.append(str(folder / Path(source).name))
        Path(paths[-1]).write_bytes(Path(source).read_bytes())
    Path(paths[9]).write_bytes(b"not an image")  # partition 3 fails: the run stops there
    out = tmp_path / "features"
    with pytest.raises(ValueError, match=r"partition 3: image 0 \(.*" + Path(paths[9]).name + r"\): not an image"):
        extract_features(paths, extractor, client=client, out=out, partition_size=3, progress=False)
    written = {p.name: p.stat().st_mtime_ns for p in out.glob("part.*.parquet")}
    assert sorted(written) == [f"part.{k:05d}.parquet" for k in (0, 1, 2)]  # the others finished
    (out / ".part.00003.parquet.0123.tmp").write_bytes(b"half a file")  # what a kill mid-write leaves
    Path(paths[9]).write_bytes(Path(photo_files["path"][9]).read_bytes())
    time.sleep(0.01)
    frame = extract_features(paths, extractor, client=client, out=out, partition_size=3, progress=False)
    again = {p.name: p.stat().st_mtime_ns for p in out.glob("part.*.parquet")}
    assert {name: again[name] for name in written} == written  # untouched
    assert sorted(again) == [f"part.{k:05d}.parquet" for k in range(4)]
    np.testing.assert_allclose(features_of(frame.compute(), extractor), expected[:12], atol=1e-5)
    with pytest.raises(ValueError, match="other settings"):
        extract_features(paths, CNNFeatureExtractor(weights=None, image_size=64, device="cpu"), client=client,
                         out=out, partition_size=3, progress=False)


def test_skip_records_the_unreadable_file_in_an_error_column(client, photo_files, extractor, expected, tmp_path):
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(Path(photo_files["path"][1]).read_bytes()[:300])
    paths = photo_files["path"][:4].tolist() + [str(bad)]
    got = extract_features(paths, extractor, client=client, out=tmp_path / "f", partition_size=2, on_error="skip",
                           progress=False).compute()
    assert got["error"].tolist()[:4] == [""] * 4 and "truncated.jpg" in got["error"].iloc[4]
    assert np.isnan(features_of(got, extractor)[4]).all()
    np.testing.assert_allclose(features_of(got, extractor)[:4], expected[:4], atol=1e-5)


def test_transform_and_a_pipeline_take_dask_input(client, photo_files, expected):
    paths = dd.from_pandas(photo_files[["path"]], npartitions=3)
    pipe = make_hybrid_pipeline("logreg", weights=None, image_size=SIZE, device="cpu", cache=None)
    lazy = pipe[0].fit().transform(paths["path"])
    assert isinstance(lazy, dd.DataFrame) and list(lazy.columns) == list(pipe[0].get_feature_names_out())
    np.testing.assert_allclose(lazy.compute(scheduler=client.get).to_numpy(), expected, atol=1e-5)
    pipe.fit(paths, photo_files["label"])
    in_memory = make_hybrid_pipeline("logreg", weights=None, image_size=SIZE, device="cpu", cache=None)
    in_memory.fit(photo_files["path"].tolist(), photo_files["label"])
    np.testing.assert_allclose(pipe.predict_proba(photo_files["path"].tolist()),
                               in_memory.predict_proba(photo_files["path"].tolist()), atol=1e-6)


def test_dask_xgboost_and_partitionwise_logreg_agree_with_in_memory(client, photo_files, extractor, expected, tmp_path):
    from sklearn.linear_model import LogisticRegression

    extract_features(photo_files, extractor, client=client, out=tmp_path / "f", partition_size=5, progress=False)
    frame = dd.read_parquet(tmp_path / "f")  # features and labels from one frame
    names = list(extractor.get_feature_names_out())
    labels = photo_files["label"].to_numpy()
    (_, head), = make_head("xgboost", distributed=True)
    head.set_params(client=client, n_estimators=20)
    head.fit(frame)
    local = LabelXGBClassifier(**{**XGB_PARAMS, "n_estimators": 20}, random_state=0)  # the same parameter set
    local.fit(pd.DataFrame(expected, columns=names), labels)
    proba = client.compute(head.predict_proba(frame)).result()
    assert head.classes_.tolist() == ["cat", "coffee"]
    np.testing.assert_allclose(proba, local.predict_proba(pd.DataFrame(expected, columns=names)), atol=2e-2)
    assert (client.compute(head.predict(frame)).result() == labels).mean() == 1.0
    assert (head.to_local().predict(pd.DataFrame(expected, columns=names)) == labels).all()
    with pytest.raises(ValueError, match="different lengths|same partitions"):
        head.fit(frame[names], frame["label"].repartition(npartitions=2))

    logreg = LogisticRegression(max_iter=1000).fit(pd.DataFrame(expected, columns=names), labels)
    table = predict_partitions(logreg, frame, client=client).compute(scheduler=client.get)
    same_rows = frame.compute()[names]  # the features as stored, predicted in memory
    np.testing.assert_allclose(table[["proba_cat", "proba_coffee"]].to_numpy(), logreg.predict_proba(same_rows),
                               rtol=0, atol=1e-6)  # float32 sums differ with the block size
    assert table["predicted"].tolist() == logreg.predict(same_rows).tolist()
    assert table["path"].tolist() == photo_files["path"].tolist()


def test_cli_extract_and_predict_on_a_cluster(client, photo_files, tmp_path, capsys):
    folder = Path(photo_files["path"][0]).parent
    manifest = folder / "manifest.csv"
    address = client.scheduler.address
    assert main(["extract", str(manifest), "--dask", address, "--out", str(tmp_path / "feat"), "--weights", "none",
                 "--image-size", str(SIZE), "--partition-size", "10", "--no-progress"]) == 0
    assert "wrote 24 x 1280 features in 3 Parquet files" in capsys.readouterr().out
    pipe = make_hybrid_pipeline("logreg", weights=None, image_size=SIZE, device="cpu", cache=None)
    pipe.fit(photo_files["path"].tolist(), photo_files["label"])
    hybridtl.save(pipe, tmp_path / "model.hybridtl")
    bad = folder.parent / "bad-for-cli.csv"
    pd.DataFrame({"path": photo_files["path"].tolist()[:3] + [str(tmp_path / "missing.jpg")]}).to_csv(bad, index=False)
    assert main(["predict", str(tmp_path / "model.hybridtl"), str(bad), "--dask", address, "--out",
                 str(tmp_path / "pred"), "--skip-bad", "--no-progress"]) == 0
    assert "wrote 4 predictions" in capsys.readouterr().out
    table = dd.read_parquet(tmp_path / "pred").compute()
    assert table["predicted"].tolist()[:3] == pipe.predict(photo_files["path"].tolist()[:3]).tolist()
    assert pd.isna(table["predicted"].iloc[3]) and "file not found" in table["error"].iloc[3]
    assert main(["predict", str(tmp_path / "model.hybridtl"), str(bad), "--dask", address, "--out",
                 str(tmp_path / "pred2"), "--no-progress"]) == 2
    assert "missing.jpg" in capsys.readouterr().err
