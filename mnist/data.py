"""MNIST IDX files -> normalised tensors in memory; a validation split; shuffled batches;
batched augmentation on the data's device.

md5 policy: a ``.gz`` file with an official name *and* the official byte size claims to be the
original file, so its md5 must match (a mismatch is an error). A ``.gz`` of any other size, or an
unzipped file, is read as a custom IDX file (the tests write small synthetic ones): it must still
pass the magic-number, shape and byte-count checks. A truncated official file has the wrong size,
so it fails decompression or the byte count instead.

Size policy: no file is read past the bytes its IDX header promises (plus one, to tell a longer
file), and no header may promise more than the largest official file, so a small ``.gz`` that
inflates to GiBs is refused after at most ~47 MB.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mnist.rundir import atomic_write_bytes

MEAN = 0.1307  # mean training pixel, pixels scaled to [0, 1]
STD = 0.3081  # std of training pixels, same scale
IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
SIDE = 28  # pixels
VAL_SEED = 0  # the held-out images are the same whatever --seed, so seeds compare on one set
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


@dataclass(frozen=True)
class IdxSpec:
    """One of the four official files."""

    stem: str
    gz_bytes: int
    md5: str
    magic: int
    count: int


TRAIN_IMAGES = IdxSpec(
    "train-images-idx3-ubyte", 9_912_422, "f68b3c2dcbeaaa9fbdd348bbdeb94873", IMAGE_MAGIC, 60_000
)
TRAIN_LABELS = IdxSpec(
    "train-labels-idx1-ubyte", 28_881, "d53e105ee54ea40749a09fcbcd1e9432", LABEL_MAGIC, 60_000
)
TEST_IMAGES = IdxSpec(
    "t10k-images-idx3-ubyte", 1_648_877, "9fb629c4189551a2d022fa330f9573f3", IMAGE_MAGIC, 10_000
)
TEST_LABELS = IdxSpec(
    "t10k-labels-idx1-ubyte", 4_542, "ec29112dd5afa0611ce80d1b7f02629c", LABEL_MAGIC, 10_000
)
OFFICIAL = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
MAX_IDX_BYTES = 16 + TRAIN_IMAGES.count * SIDE * SIDE  # the largest official file, unzipped


class DataError(Exception):
    """Missing, damaged or inconsistent MNIST files; the message is one line for people."""


@dataclass(frozen=True)
class Mnist:
    """The whole data set in memory, images normalised with MEAN and STD."""

    train_x: torch.Tensor  # (N, 1, 28, 28) float32
    train_y: torch.Tensor  # (N,) int64
    test_x: torch.Tensor  # (M, 1, 28, 28) float32
    test_y: torch.Tensor  # (M,) int64
    val_x: torch.Tensor  # (V, 1, 28, 28) float32, held out of the training images; V may be 0
    val_y: torch.Tensor  # (V,) int64

    def to(self, device: torch.device) -> Mnist:
        tensors = (self.train_x, self.train_y, self.test_x, self.test_y, self.val_x, self.val_y)
        return Mnist(*(t.to(device) for t in tensors))


def raw_dir(data_dir: Path) -> Path:
    """Where the files live, in the layout torchvision uses: ``<data_dir>/MNIST/raw``."""
    return data_dir / "MNIST" / "raw"


def find_raw(data_dir: Path) -> tuple[Path, str | None]:
    """The folder that holds the files, and a note when ``data_dir`` is not the usual root.

    ``data_dir`` is meant to be the root above ``MNIST/raw``; where that does not exist and
    ``data_dir`` is clearly the ``raw`` folder itself or the ``MNIST`` folder (it holds the
    files, or carries that name), that folder is used and the note says so.
    """
    usual = raw_dir(data_dir)
    if usual.is_dir():
        return usual, None
    if holds_mnist(data_dir) or (data_dir.name == "raw" and data_dir.parent.name == "MNIST"):
        return data_dir, (
            f"--data-dir {data_dir} is the raw folder itself: reading the files there (the "
            f"usual form is --data-dir {data_dir.parent.parent}, the folder above MNIST/raw)"
        )
    if holds_mnist(data_dir / "raw") or data_dir.name == "MNIST":
        return data_dir / "raw", (
            f"--data-dir {data_dir} is the MNIST folder: reading {data_dir / 'raw'} (the usual "
            f"form is --data-dir {data_dir.parent}, the folder above MNIST/raw)"
        )
    return usual, None


def holds_mnist(folder: Path) -> bool:
    """Whether any of the four files (zipped or not) is in ``folder``."""
    return folder.is_dir() and any(locate(folder, spec) is not None for spec in OFFICIAL)


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """Decode the bytes of an unsigned-byte IDX file (header, then the array, big-endian dims).

    Args:
        data: the whole file, already decompressed.
        name: shown in error messages.

    Returns:
        A read-only uint8 array shaped as the header says.
    """
    if len(data) < 8 or data[0:3] != b"\x00\x00\x08" or data[3] not in (1, 3):
        magic = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None
        raise DataError(f"{name}: not an unsigned-byte IDX file (magic {magic})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = math.prod(dims)
    if len(data) - header != expected:
        raise DataError(
            f"{name}: header says {'x'.join(map(str, dims))} ({expected} bytes) "
            f"but {len(data) - header} bytes follow; the file is truncated or damaged"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read a ``.gz`` or unzipped IDX file, never more than its header promises; see
    ``parse_idx``.

    Args:
        path: the file.
        max_bytes: refuse a header that promises more than this many bytes (header included).

    Returns:
        A read-only uint8 array shaped as the header says.
    """
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as f:
            data = read_bounded(f, max_bytes, str(path))
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: truncated or not gzip ({e}); delete it and fetch it again") from e
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
    return parse_idx(data, str(path))


def read_bounded(f: io.BufferedIOBase, max_bytes: int, name: str) -> bytes:
    """The IDX header, then at most the bytes it promises plus one (to tell a longer file).

    A malformed header is returned as read, for ``parse_idx`` to name the problem. Reading one
    byte past the promise also makes gzip reach the end of its stream and check the CRC.
    """
    data = f.read(4)
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or data[3] not in (1, 3):
        return data
    header = 4 + 4 * data[3]
    data += f.read(header - 4)
    if len(data) < header:
        return data
    dims = struct.unpack(f">{data[3]}I", data[4:header])
    expected = header + math.prod(dims)
    shape = "x".join(map(str, dims))
    if expected > max_bytes:
        raise DataError(
            f"{name}: header says {shape} ({expected:,} bytes), more than the {max_bytes:,} "
            "bytes of the largest MNIST file; it is not an MNIST file"
        )
    data += f.read(expected - header + 1)
    if len(data) > expected:
        raise DataError(
            f"{name}: more data than its header's {shape} ({expected:,} bytes); the file is "
            "damaged or not an MNIST file: delete it and fetch it again"
        )
    return data


def locate(folder: Path, spec: IdxSpec) -> Path | None:
    """The ``.gz`` file if present, else the unzipped one, else None."""
    for path in (folder / f"{spec.stem}.gz", folder / spec.stem):
        if path.is_file():
            return path
    return None


def load_checked(path: Path, spec: IdxSpec) -> np.ndarray:
    """Read one file and check md5 (official-sized .gz only), magic and shape."""
    if path.suffix == ".gz" and path.stat().st_size == spec.gz_bytes and md5sum(path) != spec.md5:
        raise DataError(
            f"{path}: md5 mismatch (expected {spec.md5}); the file is damaged: "
            "delete it and rerun with --download"
        )
    array = read_idx(path)
    magic = IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC
    if magic != spec.magic:
        raise DataError(f"{path}: magic number {magic}, expected {spec.magic}")
    if array.ndim == 3 and array.shape[1:] != (SIDE, SIDE):
        raise DataError(f"{path}: images are {array.shape[1]}x{array.shape[2]}, expected 28x28")
    if array.shape[0] == 0:
        raise DataError(f"{path}: holds no items")
    return array


def download(folder: Path, specs: Sequence[IdxSpec], mirrors: Sequence[str] = MIRRORS) -> None:
    """Fetch each file from the first mirror that answers, check its md5, write it atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        name = f"{spec.stem}.gz"
        errors: list[str] = []
        for mirror in mirrors:
            try:
                with urllib.request.urlopen(mirror + name, timeout=30) as response:
                    payload: bytes = response.read()
            except (urllib.error.URLError, OSError) as e:
                errors.append(f"{mirror}: {getattr(e, 'reason', e)}")
                continue
            if hashlib.md5(payload).hexdigest() != spec.md5:
                errors.append(f"{mirror}: md5 mismatch")
                continue
            atomic_write_bytes(folder / name, payload)
            break
        else:
            raise DataError(
                f"could not download {name} ({'; '.join(errors)}); if offline, copy the four "
                f"MNIST .gz files into {folder}"
            )


def load_mnist(
    data_dir: Path, *, fetch: bool = False, limit_train: int | None = None, val: int = 0
) -> Mnist:
    """Read (and with ``fetch``, first download) the four files into normalised tensors.

    Args:
        data_dir: the folder that holds ``MNIST/raw/`` (or, see ``find_raw``, that folder or
            ``MNIST/`` itself).
        fetch: download the files that are missing.
        limit_train: keep only the first N training images.
        val: then move this many of them, drawn with VAL_SEED, into the validation set.

    Returns:
        The data set; raises DataError with a one-line message when something is wrong.
    """
    folder, _ = find_raw(data_dir)
    missing = [spec for spec in OFFICIAL if locate(folder, spec) is None]
    if missing and fetch:
        download(folder, missing)
    found = [(spec, locate(folder, spec)) for spec in OFFICIAL]
    if any(path is None for _, path in found):
        names = ", ".join(f"{spec.stem}.gz" for spec, path in found if path is None)
        if not folder.is_dir():
            raise DataError(
                f"MNIST data: {folder}: folder not found; the files belong in "
                "<root>/MNIST/raw/ (the layout torchvision uses): pass --data-dir <root>, or "
                "add --download to fetch them there"
            )
        raise DataError(
            f"MNIST data: {folder}: missing {names}; copy them there, or add --download"
        )
    arrays = [load_checked(path, spec) for spec, path in found if path is not None]
    train_images, train_labels, test_images, test_labels = arrays
    for images, labels, split in (
        (train_images, train_labels, "train"),
        (test_images, test_labels, "test"),
    ):
        if len(images) != len(labels):
            raise DataError(f"MNIST {split}: {len(images)} images but {len(labels)} labels")
        if labels.max() > 9:
            raise DataError(f"MNIST {split}: label {labels.max()} is not a digit 0..9")
    if limit_train is not None:
        train_images, train_labels = train_images[:limit_train], train_labels[:limit_train]
    if not 0 <= val < len(train_labels):
        raise DataError(
            f"--val {val}: must be at least 0 and leave training images (there are "
            f"{len(train_labels):,})"
        )
    held = np.zeros(len(train_labels), dtype=bool)
    order = torch.randperm(len(held), generator=torch.Generator().manual_seed(VAL_SEED))
    held[order[:val].numpy()] = True  # the rest keep their file order
    return Mnist(
        normalise(train_images[~held]),
        torch.from_numpy(train_labels[~held].astype(np.int64)),
        normalise(test_images),
        torch.from_numpy(test_labels.astype(np.int64)),
        normalise(train_images[held]),
        torch.from_numpy(train_labels[held].astype(np.int64)),
    )


def normalise(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), zero mean and unit std over MNIST."""
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    return (x / 255.0 - MEAN) / STD


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index tensors, on the generator's device, that cover range(n) once in a random order;
    the last may be short."""
    order = torch.randperm(n, generator=generator, device=generator.device)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


@dataclass(frozen=True)
class Augment:
    """Random affine jitter drawn per image, applied to the whole batch at once.

    The numbers are drawn on the generator's device, which must be the images' own, so a GPU
    run copies nothing between host and device.
    """

    degrees: float = 8.0  # max rotation, either way
    shift: float = 2.0  # max translation, pixels, each axis
    scale: float = 0.08  # max relative zoom in or out
    p: float = 0.5  # share of images moved; the rest stay crisp (resampling blurs strokes)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, device = x.shape[0], generator.device

        def uniform(*shape: int) -> torch.Tensor:
            return torch.rand(*shape, generator=generator, device=device) * 2 - 1

        moved = torch.rand(n, generator=generator, device=device) < self.p
        angle = uniform(n) * math.radians(self.degrees)
        zoom = 1 + uniform(n) * self.scale
        shift = uniform(n, 2) * (2 * self.shift / x.shape[-1])  # the grid spans 2 units a side
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack(
            (torch.stack((cos, -sin, shift[:, 0]), 1), torch.stack((sin, cos, shift[:, 1]), 1)), 1
        )
        if x.device.type == "cpu":
            return _resample_picked(x, theta, moved)
        return _resample_all(x, theta, moved)


BACKGROUND = -MEAN / STD  # a black pixel after normalisation


def _resample(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - BACKGROUND, grid, align_corners=False) + BACKGROUND


def _resample_picked(x: torch.Tensor, theta: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """Resample only the moved images: half the work, for a CPU. Finding them (``nonzero``)
    waits for the device, so a GPU takes ``_resample_all`` instead; both give the same images."""
    picked = moved.nonzero().flatten()
    out = x.clone()
    if len(picked):  # affine_grid refuses an empty batch
        out[picked] = _resample(x[picked], theta[picked])
    return out


def _resample_all(x: torch.Tensor, theta: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """Resample every image and keep the moved ones: no size that depends on the draw."""
    return torch.where(moved[:, None, None, None], _resample(x, theta), x)
