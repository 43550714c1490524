"""Tests for coursekit.data: the bundled subsets, the cache, full-mode downloads (from 127.0.0.1 only), the build."""
import csv
import gzip
import hashlib
import importlib.util
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from coursekit import data
from coursekit.data import CourseDataError, Dataset, URLs, data_dir, download_url, untar_data

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
needs_source_data = pytest.mark.skipif(
    not (SHARED / "mnist_10k.npz").exists(),
    reason=f"the source data the archives are built from ({SHARED}, see coursekit/datasets/PROVENANCE.md) is "
           "not on this machine; test_committed_archives_match_provenance still checks the archives' bytes")
CLASSES = "airplane automobile bird cat deer dog frog horse ship truck".split()


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    """Point the data folder at a fresh tmp folder, and clear the other switches."""
    monkeypatch.setenv("COURSEKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSEKIT_FULL", raising=False)
    monkeypatch.delenv("COURSEKIT_DATA_URL", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Extract the three bundled subsets once: {name: path}."""
    root = tmp_path_factory.mktemp("extracted")
    return {u: untar_data(u, data=root, full=False) for u in (URLs.MNIST_SAMPLE, URLs.MNIST, URLs.CIFAR)}


def _count(folder: Path) -> int:
    return sum(1 for _ in folder.iterdir())


def _tgz(files: dict[str, bytes]) -> bytes:
    """Return a small .tgz holding `files` (member name -> bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


# ---- names ----------------------------------------------------------------------------------------

def test_urls_are_spelled_as_fastai_spells_them():
    assert URLs.MNIST_SAMPLE == "https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz"
    assert URLs.MNIST == "https://s3.amazonaws.com/fast-ai-imageclas/mnist_png.tgz"
    assert URLs.CIFAR == "https://s3.amazonaws.com/fast-ai-sample/cifar10.tgz"
    assert {d.url for d in data.DATASETS.values()} == {URLs.MNIST_SAMPLE, URLs.MNIST, URLs.CIFAR}


def test_unknown_dataset_error_suggests_the_closest_name():
    with pytest.raises(CourseDataError) as e:
        untar_data("MNIST_SMAPLE")
    assert str(e.value) == "untar_data: unknown dataset 'MNIST_SMAPLE'; did you mean URLs.MNIST_SAMPLE?"


def test_unknown_dataset_with_no_close_name_lists_the_known_ones():
    with pytest.raises(CourseDataError, match=r"imagewoof.tgz'; coursekit knows URLs.CIFAR, URLs.MNIST, URLs.MNIST_SAMPLE$"):
        untar_data("https://s3.amazonaws.com/fast-ai-imageclas/imagewoof.tgz")


def test_misspelt_urls_attribute_suggests_the_closest_name():
    with pytest.raises(AttributeError, match=r"URLs has no dataset 'CIFRA'; did you mean URLs.CIFAR\?"):
        URLs.CIFRA


# ---- the bundled subsets --------------------------------------------------------------------------

def test_mnist_sample_holds_every_3_and_7_split_80_20(extracted):
    path = extracted[URLs.MNIST_SAMPLE]
    counts = {f"{s}/{d}": _count(path / s / d) for s in ("train", "valid") for d in ("3", "7")}
    assert counts == {"train/3": 826, "train/7": 856, "valid/3": 206, "valid/7": 214}
    assert sorted(p.name for p in path.iterdir()) == ["labels.csv", "train", "valid"]


@needs_source_data
def test_mnist_sample_pngs_are_the_real_digits_28x28_greyscale(extracted):
    path = extracted[URLs.MNIST_SAMPLE]
    with np.load(SHARED / "mnist_10k.npz") as npz:
        images, labels = npz["images"], npz["labels"]
    for f in sorted((path / "valid" / "7").iterdir())[:5] + sorted((path / "train" / "3").iterdir())[:5]:
        im = Image.open(f)
        assert (im.mode, im.size) == ("L", (28, 28))
        i = int(f.stem)
        assert labels[i] == int(f.parent.name)
        np.testing.assert_array_equal(np.asarray(im), images[i])


def test_labels_csv_lists_every_image_with_0_for_3_and_1_for_7(extracted):
    path = extracted[URLs.MNIST_SAMPLE]
    with open(path / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["name", "label"]
    on_disk = {p.relative_to(path).as_posix() for p in path.glob("*/*/*.png")}
    assert {r["name"] for r in rows} == on_disk and len(rows) == len(on_disk) == 2102
    assert all(r["label"] == {"3": "0", "7": "1"}[r["name"].split("/")[1]] for r in rows)


def test_mnist_png_has_training_and_testing_folders_for_ten_digits(extracted):
    path = extracted[URLs.MNIST]
    assert path.name == "mnist_png"
    assert {d.name: _count(d) for d in (path / "training").iterdir()} == {str(i): 600 for i in range(10)}
    assert {d.name: _count(d) for d in (path / "testing").iterdir()} == {str(i): 100 for i in range(10)}
    train, test = ({p.name for p in (path / s).glob("*/*.png")} for s in ("training", "testing"))
    assert not train & test


def test_cifar10_has_train_and_test_per_class_of_32x32_images(extracted):
    path = extracted[URLs.CIFAR]
    assert (path / "labels.txt").read_text().split() == CLASSES
    assert {d.name: _count(d) for d in (path / "train").iterdir()} == {c: 500 for c in CLASSES}
    assert {d.name: _count(d) for d in (path / "test").iterdir()} == {c: 100 for c in CLASSES}
    assert Image.open(path / "test/ship/0555.jpg").size == (32, 32)


@needs_source_data
def test_cifar10_images_are_the_source_jpeg_bytes(extracted):
    path = extracted[URLs.CIFAR]
    picked = {"train/cat/0007.jpg": path / "train/cat/0007.jpg", "train/ship/0555.jpg": path / "test/ship/0555.jpg"}
    with tarfile.open(SHARED / "cifar10_train_jpg.tar.gz") as tar:
        for name, mine in picked.items():
            assert mine.read_bytes() == tar.extractfile(name).read()
    assert Image.open(path / "train/cat/0007.jpg").size == (32, 32)


def test_second_call_returns_the_folder_without_extracting_again(clean_env):
    path = untar_data(URLs.MNIST_SAMPLE)
    (path / "marker").write_text("still here")
    assert untar_data(URLs.MNIST_SAMPLE) == path
    assert (path / "marker").exists()
    assert untar_data(URLs.MNIST_SAMPLE, force_download=True) == path
    assert not (path / "marker").exists() and _count(path / "train" / "3") == 826


def test_returned_path_has_fastai_ls(extracted, monkeypatch):
    monkeypatch.delattr(Path, "ls", raising=False)
    path = untar_data(URLs.MNIST_SAMPLE, data=extracted[URLs.MNIST_SAMPLE].parent)
    assert [p.name for p in path.ls()] == ["labels.csv", "train", "valid"]


def test_coursekit_data_env_var_chooses_the_data_folder_and_data_argument_beats_it(clean_env, tmp_path):
    assert untar_data(URLs.MNIST_SAMPLE) == clean_env / "mnist_sample"
    assert untar_data(URLs.MNIST_SAMPLE, data=tmp_path / "mine") == tmp_path / "mine" / "mnist_sample"


def test_importing_coursekit_writes_nothing(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "COURSEKIT_DATA": str(tmp_path / "data")}
    subprocess.run([sys.executable, "-c", "import coursekit, coursekit.data, coursekit.vision"], env=env, cwd=ROOT,
                   check=True)
    assert list(tmp_path.iterdir()) == []


def test_default_data_folder_is_dot_coursekit_data_in_home(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSEKIT_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir() == tmp_path / ".coursekit" / "data"


def test_unwritable_data_folder_error_names_it_and_the_env_var(tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(CourseDataError, match="cannot write to the data folder .*file/sub.*COURSEKIT_DATA"):
        untar_data(URLs.MNIST_SAMPLE, data=tmp_path / "file" / "sub")


@pytest.mark.parametrize("keep", [0.5, None])
def test_damaged_or_missing_bundled_archive_leaves_no_folder_behind(monkeypatch, clean_env, tmp_path, keep):
    good = (data.VENDORED / "mnist_sample.tar.gz").read_bytes()
    (tmp_path / "vendored").mkdir()
    if keep:
        (tmp_path / "vendored" / "mnist_sample.tar.gz").write_bytes(good[: int(len(good) * keep)])
    monkeypatch.setattr(data, "VENDORED", tmp_path / "vendored")
    with pytest.raises(CourseDataError, match="could not extract .*missing or damaged: reinstall coursekit"):
        untar_data(URLs.MNIST_SAMPLE)
    assert list(clean_env.iterdir()) == []


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "mnist_sample/link"])
def test_archive_member_outside_the_target_is_refused(monkeypatch, clean_env, tmp_path, member):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        if member.endswith("link"):
            info.type, info.linkname = tarfile.SYMTYPE, "../../../outside"
        tar.addfile(info, io.BytesIO(b""))
    (tmp_path / "vendored").mkdir()
    (tmp_path / "vendored" / "mnist_sample.tar.gz").write_bytes(buf.getvalue())
    monkeypatch.setattr(data, "VENDORED", tmp_path / "vendored")
    with pytest.raises(CourseDataError, match="would be written outside"):
        untar_data(URLs.MNIST_SAMPLE)
    assert list(clean_env.iterdir()) == [] and not (tmp_path / "evil.txt").exists()


# ---- full mode, against a server on 127.0.0.1 -----------------------------------------------------

class _Server:
    """A file server on 127.0.0.1: routes maps a path to (body, bytes to send before hanging up)."""

    def __init__(self):
        self.routes, self.requests = {}, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                if self.path not in outer.routes:
                    return self.send_error(404)
                body, sent = outer.routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:sent])
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def server(monkeypatch):
    """Serve a small stand-in for mnist_sample.tgz and point full mode at it."""
    srv = _Server()
    body = _tgz({"mnist_sample/labels.csv": b"name,label\n", "mnist_sample/train/3/1.png": b"png bytes"})
    srv.routes["/mnist_sample.tgz"] = (body, len(body))
    srv.body = body
    monkeypatch.setitem(data.DATASETS, "mnist_sample", Dataset(URLs.MNIST_SAMPLE, len(body), hashlib.md5(body).hexdigest()))
    monkeypatch.setenv("COURSEKIT_DATA_URL", srv.url)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _nothing_cached(cache: Path) -> bool:
    """Return True when the data folder holds no dataset, archive or temporary file, only empty folders."""
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*")) == ["full", "full/archives"]


def test_full_mode_downloads_checks_extracts_then_reuses_the_cache(server, clean_env):
    path = untar_data(URLs.MNIST_SAMPLE, full=True)
    assert path == clean_env / "full" / "mnist_sample"
    assert (path / "train" / "3" / "1.png").read_bytes() == b"png bytes"
    assert (clean_env / "full" / "archives" / "mnist_sample.tgz").read_bytes() == server.body
    assert untar_data(URLs.MNIST_SAMPLE, full=True) == path
    assert server.requests == ["/mnist_sample.tgz"]


def test_coursekit_full_env_var_switches_to_full_mode(server, clean_env, monkeypatch):
    monkeypatch.setenv("COURSEKIT_FULL", "1")
    assert untar_data(URLs.MNIST_SAMPLE) == clean_env / "full" / "mnist_sample"
    assert server.requests == ["/mnist_sample.tgz"]


def test_short_download_is_rejected_and_nothing_is_cached(server, clean_env):
    half = server.body[: len(server.body) // 2]
    server.routes["/mnist_sample.tgz"] = (half, len(half))
    with pytest.raises(CourseDataError, match=rf"{len(half):,} bytes, expected {len(server.body):,}.*removed"):
        untar_data(URLs.MNIST_SAMPLE, full=True)
    assert _nothing_cached(clean_env)


def test_connection_dropped_mid_download_is_rejected_and_nothing_is_cached(server, clean_env):
    server.routes["/mnist_sample.tgz"] = (server.body, 100)
    with pytest.raises(CourseDataError, match=rf"broke after 100 of {len(server.body):,} bytes"):
        untar_data(URLs.MNIST_SAMPLE, full=True)
    assert _nothing_cached(clean_env)


def test_wrong_checksum_is_rejected_and_nothing_is_cached(server, clean_env, monkeypatch):
    ds = data.DATASETS["mnist_sample"]
    monkeypatch.setitem(data.DATASETS, "mnist_sample", ds._replace(md5="0" * 32))
    with pytest.raises(CourseDataError, match=f"md5 is {ds.md5}, expected {'0' * 32}.*removed.*force_download"):
        untar_data(URLs.MNIST_SAMPLE, full=True)
    assert _nothing_cached(clean_env)


def test_unreachable_server_says_full_mode_needs_the_network(server, clean_env, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("COURSEKIT_DATA_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(CourseDataError, match=f"could not reach 127.0.0.1:{port}.*need the network.*without full=True"):
        untar_data(URLs.MNIST_SAMPLE, full=True)
    assert _nothing_cached(clean_env)


def test_missing_file_on_the_server_reports_the_http_status(server, clean_env):
    del server.routes["/mnist_sample.tgz"]
    with pytest.raises(CourseDataError, match="answered HTTP 404"):
        untar_data(URLs.MNIST_SAMPLE, full=True)
    assert _nothing_cached(clean_env)


def test_damaged_cached_archive_is_detected_and_fetched_again(server, clean_env):
    archive = clean_env / "full" / "archives" / "mnist_sample.tgz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(bytes(len(server.body)))  # right size, wrong bytes
    with pytest.warns(UserWarning, match="damaged .*md5.*downloading it again"):
        path = untar_data(URLs.MNIST_SAMPLE, full=True)
    assert archive.read_bytes() == server.body and (path / "labels.csv").exists()
    assert server.requests == ["/mnist_sample.tgz"]


def test_download_url_checks_sha256_and_keeps_a_good_file(server, tmp_path):
    url, good = server.url + "mnist_sample.tgz", hashlib.sha256(server.body).hexdigest()
    assert download_url(url, tmp_path / "a.tgz", sha256=good, show_progress=False).read_bytes() == server.body
    with pytest.raises(CourseDataError, match="sha256"):
        download_url(url, tmp_path / "b.tgz", sha256="f" * 64, show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tgz"]


# ---- the build script -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Run tools/build_datasets.py twice into two fresh folders."""
    spec = importlib.util.spec_from_file_location("build_datasets", ROOT / "tools" / "build_datasets.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    outs = [tmp_path_factory.mktemp(f"build{i}") for i in range(2)]
    for out in outs:
        build.build(SHARED, out)
    return outs


ARCHIVES = ["mnist_sample.tar.gz", "mnist_png.tar.gz", "cifar10.tar.gz"]


def test_committed_archives_match_provenance():
    table = {}
    for line in (data.VENDORED / "PROVENANCE.md").read_text().splitlines():
        cells = [c.strip(" `") for c in line.split("|")[1:-1]]
        if len(cells) == 4 and cells[0].endswith(".tar.gz"):
            table[cells[0]] = (int(cells[2]), cells[3])
    assert set(table) == set(ARCHIVES)
    for name, (size, sha) in table.items():
        blob = (data.VENDORED / name).read_bytes()
        assert (len(blob), hashlib.sha256(blob).hexdigest()) == (size, sha), name


@needs_source_data
def test_build_script_gives_identical_bytes_twice(builds):
    for name in ARCHIVES + ["PROVENANCE.md"]:
        assert (builds[0] / name).read_bytes() == (builds[1] / name).read_bytes(), name


@needs_source_data
def test_committed_archives_hold_exactly_what_the_build_script_makes(builds):
    for name in ARCHIVES:
        committed = data.VENDORED / name
        assert gzip.decompress(committed.read_bytes()) == gzip.decompress((builds[0] / name).read_bytes()), name
        assert committed.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime 0


def test_provenance_lists_the_sha256_of_each_committed_archive():
    text = (data.VENDORED / "PROVENANCE.md").read_text()
    for name in ARCHIVES:
        assert f"`{name}` |" in text and hashlib.sha256((data.VENDORED / name).read_bytes()).hexdigest() in text


def test_bundled_archives_fit_the_6_mb_budget():
    assert sum(os.path.getsize(data.VENDORED / name) for name in ARCHIVES) <= 6_000_000
