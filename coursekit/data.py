"""Datasets: fastai's `URLs` and `untar_data`, offline first, the full datasets one switch away.

`untar_data(URLs.MNIST_SAMPLE)` extracts a small real subset that ships inside coursekit
(`coursekit/datasets/`, see PROVENANCE.md there) into the data folder (`~/.coursekit/data`, or the
folder in `$COURSEKIT_DATA`) and returns its path. With `full=True`, or `COURSEKIT_FULL=1`, it downloads
fastai's full archive instead, checks its size and md5, and keeps it under `<data folder>/full/`.
"""
from __future__ import annotations

import difflib
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zlib
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

from tqdm.auto import tqdm

from .utils import patch_path_ls

__all__ = ["URLs", "untar_data", "download_url", "data_dir", "CourseDataError"]

VENDORED = Path(__file__).parent / "datasets"
ENV_DATA, ENV_FULL, ENV_URL = "COURSEKIT_DATA", "COURSEKIT_FULL", "COURSEKIT_DATA_URL"


class CourseDataError(RuntimeError):
    """A dataset could not be found, downloaded, checked or extracted; the message says what to do."""


class _SuggestingNames(type):
    """Make a misspelt `URLs.X` name the closest real one."""

    def __getattr__(cls, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"URLs has no dataset {name!r}{_did_you_mean(name)}")


class URLs(metaclass=_SuggestingNames):
    """Where fastai publishes its datasets; the same names as `fastai.data.external.URLs`."""
    S3 = "https://s3.amazonaws.com/fast-ai-"
    URL = f"{S3}sample/"
    S3_IMAGE = f"{S3}imageclas/"
    MNIST_SAMPLE = f"{URL}mnist_sample.tgz"
    MNIST = f"{S3_IMAGE}mnist_png.tgz"
    CIFAR = f"{URL}cifar10.tgz"


class Dataset(NamedTuple):
    """A canonical archive: where it is, and how to know it arrived whole."""
    url: str
    size: int  # bytes
    md5: str


# The canonical archives, with the size and md5 fastai publishes for them (fastai/data/checks.txt).
# The offline copy of each is coursekit/datasets/<name>.tar.gz.
DATASETS = {
    "mnist_sample": Dataset(URLs.MNIST_SAMPLE, 3_214_948, "2dbc7ec6f9259b583af0072c55816a88"),
    "mnist_png": Dataset(URLs.MNIST, 15_683_414, "03639f83c4e3d19e0a3a53a8a997c487"),
    "cifar10": Dataset(URLs.CIFAR, 168_168_549, "a5f8c31371b63a406b23368042812d3c"),
}


# ---- which dataset, which folder --------------------------------------------------------------------

def _stem(url: str) -> str:
    """Return 'mnist_sample' for '.../mnist_sample.tgz', and 'mnist_smaple' for 'MNIST_SMAPLE'."""
    return Path(urlparse(url).path).name.split(".")[0].lower()


def _spellings() -> dict[str, str]:
    """Return every accepted spelling ('mnist_sample', 'mnist_png', 'mnist', ...) -> its `URLs` attribute."""
    attr_of = {v: k for k, v in vars(URLs).items() if k.isupper() and v.endswith(".tgz")}
    return {**{a.lower(): a for a in attr_of.values()}, **{_stem(url): a for url, a in attr_of.items()}}


def _did_you_mean(query: str) -> str:
    names = _spellings()
    if close := difflib.get_close_matches(_stem(query), names, n=1, cutoff=0.6):
        return f"; did you mean URLs.{names[close[0]]}?"
    return "; coursekit knows " + ", ".join(f"URLs.{a}" for a in sorted(set(names.values())))


def _dataset_name(url: str) -> str:
    """Return the dataset name ('mnist_sample') of a `URLs` constant, a dataset name or a `URLs` attribute name."""
    if (attr := _spellings().get(_stem(str(url)))) is None:
        raise CourseDataError(f"untar_data: unknown dataset {str(url)!r}{_did_you_mean(str(url))}")
    return _stem(getattr(URLs, attr))


def data_dir(data: str | Path | None = None) -> Path:
    """Return the folder datasets are kept in: `data`, else `$COURSEKIT_DATA`, else `~/.coursekit/data`."""
    return Path(data or os.environ.get(ENV_DATA) or "~/.coursekit/data").expanduser()


def _make_dir(folder: Path) -> Path:
    """Create `folder` if needed and return it; say how to pick another one if it cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "permission denied")
    except OSError as e:
        raise CourseDataError(f"coursekit cannot write to the data folder {folder} ({e.strerror or e}); set the "
                              f"environment variable {ENV_DATA} to a folder you can write to, or pass data=...") from e
    return folder


# ---- safe, atomic extraction ------------------------------------------------------------------------

def _check_members(tar: tarfile.TarFile, root: Path) -> None:
    """Refuse any member that would land outside `root` (absolute paths, '..', links pointing out, devices)."""
    root = root.resolve()
    for m in tar.getmembers():
        dest = (root / m.name).resolve()
        places = [dest] + ([(dest.parent / m.linkname).resolve()] if m.issym() else []) + \
                 ([(root / m.linkname).resolve()] if m.islnk() else [])
        if not (m.isfile() or m.isdir() or m.issym() or m.islnk()) or \
                not all(p == root or p.is_relative_to(root) for p in places):
            raise CourseDataError(f"untar_data: refusing to extract {tar.name}: its member {m.name!r} "
                                  f"would be written outside {root}")


def _remove(folder: Path) -> None:
    """Delete `folder` by first renaming it, so that a half-deleted folder never keeps its name."""
    if folder.exists():
        doomed = Path(tempfile.mkdtemp(prefix=f".{folder.name}-old-", dir=folder.parent))
        folder.rename(doomed / folder.name)
        shutil.rmtree(doomed)


def _put_in_place(src: Path, dest: Path, replace: bool) -> None:
    """Rename the folder `src` to `dest` (replacing an old `dest` only if `replace`)."""
    if replace:
        _remove(dest)
    try:
        src.rename(dest)
    except OSError:
        if not dest.is_dir():
            raise  # otherwise another process put the same dataset there first


def _extract(archive: Path, dest: Path, hint: str, replace: bool = False) -> Path:
    """Extract `archive` into a temporary folder beside `dest`, then rename its top folder to `dest`."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", suffix=".part", dir=dest.parent))
    try:
        try:
            with tarfile.open(archive) as tar:
                _check_members(tar, tmp)
                tar.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise CourseDataError(f"untar_data: could not extract {archive} ({e}); nothing was kept. {hint}") from e
        top = list(tmp.iterdir())
        _put_in_place(top[0] if len(top) == 1 and top[0].is_dir() else tmp, dest, replace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


# ---- downloading ------------------------------------------------------------------------------------

def _problem(path: Path, size: int | None, md5: str | None, sha256: str | None) -> str | None:
    """Return what is wrong with the file at `path` (size, then checksum), or None if it is as expected."""
    if size is not None and (got := path.stat().st_size) != size:
        return f"it has {got:,} bytes, expected {size:,}"
    wanted = {algo: want for algo, want in (("md5", md5), ("sha256", sha256)) if want}
    hashes = {algo: hashlib.new(algo) for algo in wanted}
    if hashes:  # one pass over the file for every checksum
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                for h in hashes.values():
                    h.update(block)
    for algo, h in hashes.items():
        if h.hexdigest() != wanted[algo].lower():
            return f"its {algo} is {h.hexdigest()}, expected {wanted[algo]}"
    return None


def _stream(url: str, f, size: int | None, show_progress: bool) -> None:
    """Copy the body at `url` into the open file `f`, with a progress bar; say clearly when the server is out of reach."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            length = int(r.headers.get("Content-Length") or 0)
            with tqdm(total=length or size, unit="B", unit_scale=True, desc=Path(urlparse(url).path).name,
                      disable=not show_progress) as bar:
                got = 0
                while chunk := r.read(1 << 20):
                    got += f.write(chunk)
                    bar.update(len(chunk))
            if length and got != length:
                raise CourseDataError(f"download_url: the connection to {urlparse(url).netloc} broke after {got:,} "
                                      f"of {length:,} bytes of {url}; nothing was saved. Run again.")
    except urllib.error.HTTPError as e:
        raise CourseDataError(f"download_url: {url} answered HTTP {e.code} ({e.reason}); nothing was saved. "
                              "Check the address, or try again later.") from e
    except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as e:
        raise CourseDataError(
            f"download_url: could not reach {urlparse(url).netloc} to fetch {url} ({getattr(e, 'reason', e)}); "
            f"nothing was saved. Full datasets need the network; without it, use the copy that ships with "
            f"coursekit: call untar_data without full=True and unset {ENV_FULL}.") from e


def download_url(url: str, dest: str | Path, size: int | None = None, md5: str | None = None,
                 sha256: str | None = None, show_progress: bool = True) -> Path:
    """Download `url` to the file `dest` and return `dest`, checking `size`, `md5` and `sha256` when given.
    The bytes go to a temporary file first: a broken or wrong download never takes the place of `dest`."""
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}-", suffix=".part", dir=_make_dir(dest.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            _stream(url, f, size, show_progress)
        if problem := _problem(Path(tmp), size, md5, sha256):
            raise CourseDataError(f"download_url: the file from {url} is damaged or incomplete: {problem}. It was "
                                  f"removed and nothing was cached; run again (with force_download=True if it persists).")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _source(url: str) -> str:
    """Return where to fetch `url` from: the same file name under `$COURSEKIT_DATA_URL` when that is set."""
    base = os.environ.get(ENV_URL)
    return f"{base.rstrip('/')}/{Path(urlparse(url).path).name}" if base else url


def _fetch(ds: Dataset, folder: Path, force: bool) -> Path:
    """Return the checked archive of `ds` in `folder`, downloading it unless a good copy is already there."""
    archive = folder / Path(urlparse(ds.url).path).name  # download_url creates the folder
    if archive.exists() and not force:
        if not (problem := _problem(archive, ds.size, ds.md5, None)):
            return archive
        warnings.warn(f"untar_data: the cached {archive} is damaged ({problem}); downloading it again")
        archive.unlink()
    return download_url(_source(ds.url), archive, size=ds.size, md5=ds.md5)


# ---- the two modes ----------------------------------------------------------------------------------

def _want_full(full: bool | None) -> bool:
    """Return `full`, or when it is None whether `$COURSEKIT_FULL` asks for the full datasets."""
    return bool(full) if full is not None else os.environ.get(ENV_FULL, "").strip().lower() in ("1", "true", "yes")


def _offline(name: str, root: Path, force: bool) -> Path:
    """Return `root/name`, extracting coursekit's bundled subset there unless it is already there."""
    if force or not (root / name).is_dir():
        _extract(VENDORED / f"{name}.tar.gz", root / name,
                 "coursekit's bundled copy is missing or damaged: reinstall coursekit, or use full=True.", force)
    return root / name


def _full(name: str, root: Path, force: bool) -> Path:
    """Return `root/full/name`, downloading and extracting the canonical archive unless it is already there."""
    dest = _make_dir(root / "full") / name
    if force or not dest.is_dir():
        archive = _fetch(DATASETS[name], root / "full" / "archives", force)
        _extract(archive, dest, "Run again with force_download=True to fetch it anew.", force)
    return dest


def untar_data(url: str, *, full: bool | None = None, data: str | Path | None = None,
               force_download: bool = False) -> Path:
    """Return the folder of the dataset `url` (a `URLs` constant): coursekit's small copy, or the full one.
    `full=True` (or `COURSEKIT_FULL=1`) downloads the full dataset; otherwise nothing touches the network."""
    name = _dataset_name(url)
    root = _make_dir(data_dir(data))
    patch_path_ls()  # fastai's `path.ls()`
    return (_full if _want_full(full) else _offline)(name, root, force_download)
