"""Build the small real datasets that ship inside coursekit: `coursekit/datasets/*.tar.gz` + `PROVENANCE.md`.

    python tools/build_datasets.py [SHARED_DATA] [--out DIR]    # SHARED_DATA defaults to ../shared/data

Reads the MNIST digits (`mnist_10k.npz`) and CIFAR-10 JPEGs (`cifar10_train_jpg.tar.gz`) described in
SHARED_DATA/README.md, carves fixed subsets laid out like fastai's archives, and writes them so that a
re-run gives the same bytes: sorted members, fixed mtime/owner/mode, gzip mtime 0, and PNGs encoded here
(uncompressed deflate blocks, so neither the Pillow nor the zlib version changes them; the gzip around
the tar compresses them better than per-file compression would). CIFAR JPEG bytes are copied as they are.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import struct
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "coursekit" / "datasets"

SEED = 42
MTIME = 1704067200  # 2024-01-01 00:00 UTC, stamped on every member
SAMPLE_VALID_PCT = 0.2  # mnist_sample: share of each digit's images held out in valid/
MNIST_TRAIN, MNIST_TEST = 600, 100  # mnist_png: images per digit
CIFAR_TRAIN, CIFAR_TEST = 500, 100  # cifar10: images per class (the first 600 of each class, by number)
CIFAR_CLASSES = "airplane automobile bird cat deer dog frog horse ship truck".split()
SOURCES = {  # sha256 of the inputs, as SHARED_DATA/README.md publishes them
    "mnist_10k.npz": "0217e13bd0668deb198aa7d305edbf0331eb89f8a6e7dd226e03d1aa3a9bd4ef",
    "cifar10_train_jpg.tar.gz": "5eff4fdc527f60710c725e0d880043580b2fb3e53d7e026378ba234e0f5b0d85",
}


def sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_sources(data: Path) -> None:
    """Stop with a clear message unless both input files are there with the published checksums."""
    for name, want in SOURCES.items():
        if not (data / name).is_file():
            sys.exit(f"build_datasets: {data / name} not found; pass the shared data folder as the first argument")
        if (got := sha256(data / name)) != want:
            sys.exit(f"build_datasets: {data / name} has sha256 {got}, expected {want}; is it the right file?")


# ---- PNG, written by hand so the bytes never depend on a library version ---------------------------

def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _zlib_stored(raw: bytes) -> bytes:
    """Return `raw` as a zlib stream of uncompressed (stored) deflate blocks."""
    blocks = [raw[i:i + 65535] for i in range(0, len(raw), 65535)] or [b""]
    out = b"\x78\x01"
    for i, b in enumerate(blocks):
        out += bytes([i == len(blocks) - 1]) + struct.pack("<HH", len(b), len(b) ^ 0xFFFF) + b
    return out + struct.pack(">I", zlib.adler32(raw))


def png_bytes(img: np.ndarray) -> bytes:
    """Return a greyscale uint8 (h, w) array as the bytes of an 8-bit PNG file."""
    h, w = img.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in img.astype(np.uint8))
    head = _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + head + _chunk(b"IDAT", _zlib_stored(raw)) + _chunk(b"IEND", b"")


# ---- deterministic tar.gz -------------------------------------------------------------------------

def _info(name: str, size: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "", ""
    if size is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size, info.mode = size, 0o644
    return info


def write_archive(path: Path, files: dict[str, bytes]) -> None:
    """Write `files` (member name -> bytes) and their folders as a reproducible .tar.gz at `path`."""
    dirs = {str(p) for name in files for p in Path(name).parents if str(p) != "."}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(dirs | set(files)):
            data = files.get(name)
            tar.addfile(_info(name, None if data is None else len(data)), None if data is None else io.BytesIO(data))
    with open(path, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=6, mtime=0) as gz:
        gz.write(buf.getvalue())


# ---- the three subsets ----------------------------------------------------------------------------

def _shuffled(labels: np.ndarray, digit: int) -> np.ndarray:
    """Return the indices of `digit` in a fixed random order (its own seed, so digits do not interact)."""
    return np.random.default_rng([SEED, digit]).permutation(np.flatnonzero(labels == digit))


def mnist_sample_files(x: np.ndarray, y: np.ndarray) -> dict[str, bytes]:
    """Return fastai's `mnist_sample` layout: all 3s and 7s, 80/20 train/valid, and labels.csv (3 -> 0, 7 -> 1)."""
    files, rows = {}, []
    for label, digit in enumerate((3, 7)):
        idx = _shuffled(y, digit)
        n_valid = round(len(idx) * SAMPLE_VALID_PCT)
        for split, part in (("valid", idx[:n_valid]), ("train", idx[n_valid:])):
            for i in sorted(part):
                name = f"{split}/{digit}/{i}.png"
                files[f"mnist_sample/{name}"] = png_bytes(x[i])
                rows.append((split, digit, int(i), f"{name},{label}"))
    csv = "name,label\n" + "".join(r[-1] + "\n" for r in sorted(rows, key=lambda r: r[:3]))
    files["mnist_sample/labels.csv"] = csv.encode()
    return files


def mnist_png_files(x: np.ndarray, y: np.ndarray) -> dict[str, bytes]:
    """Return fastai's `mnist_png` layout: training/<digit>/ and testing/<digit>/ for all ten digits."""
    files = {}
    for digit in range(10):
        idx = _shuffled(y, digit)
        for split, part in (("training", idx[:MNIST_TRAIN]), ("testing", idx[MNIST_TRAIN:MNIST_TRAIN + MNIST_TEST])):
            for i in part:
                files[f"mnist_png/{split}/{digit}/{i}.png"] = png_bytes(x[i])
    return files


def cifar_files(archive: Path) -> dict[str, bytes]:
    """Return fastai's `cifar10` layout: the first images of each class, split into train/ and test/, + labels.txt."""
    pattern, n = re.compile(r"^train/([a-z]+)/(\d+)\.jpg$"), CIFAR_TRAIN + CIFAR_TEST
    files = {"cifar10/labels.txt": "".join(c + "\n" for c in CIFAR_CLASSES).encode()}
    with tarfile.open(archive) as tar:
        for member in tar:
            m = pattern.match(member.name)
            if m and m[1] in CIFAR_CLASSES and int(m[2]) < n:
                split = "train" if int(m[2]) < CIFAR_TRAIN else "test"
                files[f"cifar10/{split}/{m[1]}/{m[2]}.jpg"] = tar.extractfile(member).read()
    if (got := len(files) - 1) != n * len(CIFAR_CLASSES):
        sys.exit(f"build_datasets: found {got} CIFAR images numbered below {n}, expected {n * len(CIFAR_CLASSES)}")
    return files


# ---- provenance -----------------------------------------------------------------------------------

def _count(files: dict[str, bytes], depth: int) -> str:
    """Return 'folder: n, ...' counting image files by their first `depth` folders under the top one."""
    counts: dict[str, int] = {}
    for name in files:
        if name.endswith((".png", ".jpg")):
            key = "/".join(name.split("/")[1:1 + depth])
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"`{k}/` {v}" for k, v in sorted(counts.items()))


PROVENANCE = """\
# Vendored datasets

Small real subsets of the course's datasets, so that `untar_data(URLs.X)` works with no network.
`untar_data(URLs.X, full=True)` (or `COURSEKIT_FULL=1`) downloads the full archive from fastai's servers instead.
Generated by `tools/build_datasets.py`; do not edit by hand. Rebuild (same bytes every time) with

    python tools/build_datasets.py ../shared/data

from the repository root. Inputs (see `shared/data/README.md`): `mnist_10k.npz` (sha256 `{mnist_sha}`)
and `cifar10_train_jpg.tar.gz` (sha256 `{cifar_sha}`). Members are sorted, dated 2024-01-01, owned by 0/0,
gzip mtime 0; PNGs are 8-bit greyscale written by the script with uncompressed deflate blocks.

| archive | holds | bytes | sha256 |
| --- | --- | --- | --- |
{table}

- **mnist_sample.tar.gz** (`URLs.MNIST_SAMPLE`): every 3 and 7 of `mnist_10k.npz`, each digit split 80/20 into
  `train/` and `valid/` in a fixed random order (numpy seed [{seed}, digit]); 28x28 PNGs, 0 = background,
  255 = ink. `labels.csv` lists every image as `name,label` with label 0 for a 3 and 1 for a 7, as fastai's
  does. File names are the digit's index in `mnist_10k.npz`. Images: {sample_counts}.
- **mnist_png.tar.gz** (`URLs.MNIST`): {mnist_train} `training/` and {mnist_test} `testing/` images per digit, drawn in
  a fixed random order from `mnist_10k.npz` (the full archive has 60,000 / 10,000). Images: {mnist_counts}.
  It shares digits with `mnist_sample`, as the real archives do.
- **cifar10.tar.gz** (`URLs.CIFAR`): for each class the images numbered 0000-{last_train:04d} of the mirror go to `train/`
  and {cifar_train:04d}-{last_test:04d} to `test/`; the JPEG bytes are copied unchanged. The official CIFAR-10 test batch is
  not in the source, so **`test/` is carved out of the training images**. `labels.txt` lists the ten class names.
  Unlike fastai's archive (PNG files named `<n>_<class>.png`), files here are JPEGs named by the mirror's per-class
  number. Images: {cifar_counts}.

Licences: MNIST by Y. LeCun, C. Cortes and C. J. C. Burges, CC BY-SA 3.0. CIFAR-10 from A. Krizhevsky,
"Learning Multiple Layers of Features from Tiny Images", 2009 (here from a public JPEG mirror, re-encoded
from the original pixels).
"""


def write_provenance(out: Path, built: dict[str, dict[str, bytes]]) -> None:
    """Write PROVENANCE.md next to the archives, with their sizes, checksums and contents."""
    table = "\n".join(f"| `{name}.tar.gz` | {sum(k.endswith(('.png', '.jpg')) for k in files)} images "
                      f"| {(out / f'{name}.tar.gz').stat().st_size} | `{sha256(out / f'{name}.tar.gz')}` |"
                      for name, files in built.items())
    text = PROVENANCE.format(
        mnist_sha=SOURCES["mnist_10k.npz"], cifar_sha=SOURCES["cifar10_train_jpg.tar.gz"], table=table, seed=SEED,
        sample_counts=_count(built["mnist_sample"], 2), mnist_counts=_count(built["mnist_png"], 1),
        mnist_train=MNIST_TRAIN, mnist_test=MNIST_TEST, cifar_train=CIFAR_TRAIN, last_train=CIFAR_TRAIN - 1,
        last_test=CIFAR_TRAIN + CIFAR_TEST - 1, cifar_counts=_count(built["cifar10"], 1))
    (out / "PROVENANCE.md").write_text(text)


def build(data: Path, out: Path) -> dict[str, Path]:
    """Build every archive from the shared data folder `data` into `out`; return name -> archive path."""
    check_sources(data)
    out.mkdir(parents=True, exist_ok=True)
    with np.load(data / "mnist_10k.npz") as npz:
        x, y = npz["images"], npz["labels"]
    built = {"mnist_sample": mnist_sample_files(x, y), "mnist_png": mnist_png_files(x, y),
             "cifar10": cifar_files(data / "cifar10_train_jpg.tar.gz")}
    for name, files in built.items():
        write_archive(out / f"{name}.tar.gz", files)
    write_provenance(out, built)
    return {name: out / f"{name}.tar.gz" for name in built}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the archives")
    a = p.parse_args(argv)
    paths = build(a.data, a.out)
    for name, path in paths.items():
        print(f"{path}: {path.stat().st_size:,} bytes, sha256 {sha256(path)}")
    print(f"total: {sum(p.stat().st_size for p in paths.values()):,} bytes")


if __name__ == "__main__":
    main()
