"""IDX reading, file checks, download fallback, batches and batched augmentation."""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import mnist.data
from mnist.data import (
    MAX_IDX_BYTES,
    MEAN,
    OFFICIAL,
    STD,
    TRAIN_LABELS,
    Augment,
    DataError,
    IdxSpec,
    download,
    find_raw,
    load_mnist,
    parse_idx,
    read_idx,
    shuffled_batches,
)
from tests.mnist_synthetic import digits, gzip_bomb, idx_bytes, write_mnist

SHARED = Path(__file__).resolve().parents[2] / "shared"  # the real files, where present


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trips_images_and_labels(tmp_path: Path, gz: bool) -> None:
    images, labels = digits(30, seed=3)
    for name, array in (("img", images), ("lbl", labels)):
        payload = idx_bytes(array)
        path = tmp_path / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(payload) if gz else payload)
        np.testing.assert_array_equal(read_idx(path), array)


def test_parse_idx_reads_big_endian_dimensions() -> None:
    array = np.arange(2 * 3 * 300, dtype=np.uint32).astype(np.uint8).reshape(2, 3, 300)
    assert parse_idx(idx_bytes(array), "x").shape == (2, 3, 300)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x00\x00\x0d\x03" + bytes(100), "not an unsigned-byte IDX"),  # float IDX
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated"),  # 5 labels promised, 3 given
        (b"\x00\x00\x08\x03" + bytes(6), "truncated header"),  # 3 dims need 12 bytes
    ],
)
def test_parse_idx_rejects_bad_headers(payload: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_idx(payload, "x")


def test_gzip_bomb_is_a_valid_gzip_file() -> None:
    header = idx_bytes(np.zeros((2, 28, 28), np.uint8))[:16]
    assert gzip.decompress(gzip_bomb(header, 3)) == header + bytes(3 << 20)


def images_header(count: int) -> bytes:
    return bytes((0, 0, 8, 3)) + struct.pack(">3I", count, 28, 28)


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        # the official count of images, then 512 MiB of zeros in a 0.5 MB file
        ("bomb.gz", lambda: gzip_bomb(images_header(60_000), 512), "more data than its header's"),
        # a header that alone promises 3.4 TB
        ("claim.gz", lambda: gzip.compress(images_header(2**32 - 1) + bytes(9)), "more than the"),
        ("long", lambda: idx_bytes(np.arange(10, dtype=np.uint8)) + bytes(1 << 20), "more data"),
    ],
)
def test_reading_stops_where_the_header_says(
    tmp_path: Path, name: str, payload: Callable[[], bytes], message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(payload())
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=message):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a copy or two of the largest official file (~47 MB each); the bomb inflates to 512 MiB
    assert peak < 3 * MAX_IDX_BYTES, f"{peak:,} bytes"


def test_load_mnist_normalises_and_limits(tmp_path: Path) -> None:
    write_mnist(tmp_path, n_train=100, n_test=40)
    data = load_mnist(tmp_path, limit_train=64)
    assert data.train_x.shape == (64, 1, 28, 28) and data.train_x.dtype == torch.float32
    assert data.test_x.shape == (40, 1, 28, 28)
    assert data.train_y.dtype == torch.int64 and set(data.train_y.tolist()) <= set(range(10))
    images, _ = digits(100, seed=0)
    expected = (images[0].astype(np.float32) / 255 - MEAN) / STD
    np.testing.assert_allclose(data.train_x[0, 0].numpy(), expected, rtol=1e-6)


def test_load_mnist_reads_unzipped_files(tmp_path: Path) -> None:
    write_mnist(tmp_path, n_train=20, n_test=10, gz=False)
    assert len(load_mnist(tmp_path).train_y) == 20


def test_missing_folder_says_how_to_get_the_data(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"--data-dir.*--download"):
        load_mnist(tmp_path / "nowhere")


def test_missing_folder_names_the_layout_and_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        load_mnist(tmp_path / "nowhere")
    message = str(caught.value)
    assert "<root>/MNIST/raw/" in message and "pass --data-dir <root>" in message


@pytest.mark.parametrize("given", ["MNIST/raw", "MNIST"])
def test_the_raw_or_mnist_folder_is_accepted_and_said_so(tmp_path: Path, given: str) -> None:
    raw = write_mnist(tmp_path / "root", n_train=20, n_test=10)
    folder, note = find_raw(tmp_path / "root" / given)
    assert folder == raw
    assert note is not None and f"the usual form is --data-dir {tmp_path / 'root'}," in note
    assert len(load_mnist(tmp_path / "root" / given).train_y) == 20


def test_the_usual_root_needs_no_note(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path, n_train=20, n_test=10)
    assert find_raw(tmp_path) == (raw, None)


def test_a_folder_holding_the_files_is_read_whatever_its_name(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path / "root", n_train=20, n_test=10)
    raw.rename(tmp_path / "flat")
    folder, note = find_raw(tmp_path / "flat")
    assert folder == tmp_path / "flat" and note is not None and "raw folder itself" in note
    assert len(load_mnist(tmp_path / "flat").train_y) == 20


def test_an_empty_raw_folder_is_where_download_writes(tmp_path: Path) -> None:
    """--data-dir .../MNIST/raw with --download fetches into it, not into raw/MNIST/raw."""
    empty = tmp_path / "MNIST" / "raw"
    empty.mkdir(parents=True)
    assert find_raw(empty)[0] == empty
    with pytest.raises(DataError, match=f"{empty}: missing train-images"):
        load_mnist(empty)


def test_missing_file_is_named(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz"):
        load_mnist(tmp_path)


def test_truncated_gz_is_reported(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path)
    path = raw / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataError, match="truncated"):
        load_mnist(tmp_path)


def test_official_size_with_wrong_md5_is_rejected(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path)
    path = raw / "train-labels-idx1-ubyte.gz"
    # a small valid file padded to the official byte size: the size claims "official"
    payload = gzip.compress(idx_bytes(digits(10, 0)[1]))
    path.write_bytes(payload + bytes(TRAIN_LABELS.gz_bytes - len(payload)))
    assert path.stat().st_size == TRAIN_LABELS.gz_bytes
    with pytest.raises(DataError, match="md5 mismatch"):
        load_mnist(tmp_path)


def test_wrong_magic_is_reported(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path)
    images, _ = digits(512, 0)  # an image file where the labels belong
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    with pytest.raises(DataError, match="magic number 2051, expected 2049"):
        load_mnist(tmp_path)


def test_count_mismatch_between_images_and_labels(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(digits(500, 0)[1])))
    with pytest.raises(DataError, match="512 images but 500 labels"):
        load_mnist(tmp_path)


def test_download_offline_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"could not download .*copy the four"):
        download(tmp_path, OFFICIAL[:1], mirrors=("http://127.0.0.1:9/",))


def test_download_checks_md5_and_writes_file(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    payload = gzip.compress(idx_bytes(digits(10, 0)[1]))
    (mirror / "x-labels.gz").write_bytes(payload)
    good = IdxSpec("x-labels", len(payload), hashlib.md5(payload).hexdigest(), 2049, 10)
    bad = IdxSpec("x-labels", len(payload), "0" * 32, 2049, 10)
    target = tmp_path / "raw"
    with pytest.raises(DataError, match="md5 mismatch"):
        download(target, [bad], mirrors=(mirror.as_uri() + "/",))
    download(target, [good], mirrors=(mirror.as_uri() + "/",))
    assert (target / "x-labels.gz").read_bytes() == payload
    assert [p.name for p in target.iterdir()] == ["x-labels.gz"]  # no temporary left behind


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(), reason="real MNIST not present")
def test_real_files_pass_every_check() -> None:
    data = load_mnist(SHARED)
    assert len(data.train_y) == 60_000 and len(data.test_y) == 10_000
    counts = torch.bincount(data.test_y).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_shuffled_batches_cover_every_index_once() -> None:
    batches = list(shuffled_batches(1000, 128, torch.Generator().manual_seed(0)))
    assert len(batches) == math.ceil(1000 / 128) and len(batches[-1]) == 1000 % 128
    assert sorted(torch.cat(batches).tolist()) == list(range(1000))
    again = list(shuffled_batches(1000, 128, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))


def test_augment_without_jitter_is_identity() -> None:
    x = torch.randn(8, 1, 28, 28)
    out = Augment(degrees=0, shift=0, scale=0, p=1.0)(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x, atol=1e-4, rtol=0)


def test_augment_keeps_background_black_and_moves_digits() -> None:
    blank = torch.full((4, 1, 28, 28), -MEAN / STD)
    gen = torch.Generator().manual_seed(0)
    torch.testing.assert_close(Augment(degrees=10, shift=2, p=1.0)(blank, gen), blank)
    images, _ = digits(16, 0)
    x = (torch.from_numpy(images).float().unsqueeze(1) / 255 - MEAN) / STD
    moved = Augment(degrees=10, shift=2, p=1.0)(x, torch.Generator().manual_seed(1))
    assert moved.shape == x.shape
    assert (moved - x).abs().amax(dim=(1, 2, 3)).min() > 0.5  # every image changed
    same = Augment(degrees=10, shift=2, p=1.0)(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(moved, same)


def test_augment_shift_stays_within_bounds() -> None:
    x = torch.zeros(16, 1, 28, 28)
    x[:, 0, 14, 14] = 1.0  # one bright pixel on a zero background (here 0 = black)
    background = -MEAN / STD
    jitter = Augment(degrees=0, shift=2, scale=0, p=1.0)
    out = jitter(x + background, torch.Generator().manual_seed(0))
    out = out - background
    mass = out.sum(dim=(1, 2, 3))
    torch.testing.assert_close(mass, torch.ones(16), atol=1e-4, rtol=0)
    grid = torch.arange(28.0)
    rows = (out[:, 0].sum(2) * grid).sum(1) / mass
    cols = (out[:, 0].sum(1) * grid).sum(1) / mass
    shifts = torch.stack((rows - 14, cols - 14), 1)
    assert shifts.abs().max() <= 2.0 + 1e-4
    assert shifts.abs().max() > 1.0  # and it does move them


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("p", [0.0, 1.0])
def test_augment_takes_any_batch_even_with_no_image_picked(n: int, p: float) -> None:
    images, _ = digits(n, 0)
    x = (torch.from_numpy(images).float().unsqueeze(1) / 255 - MEAN) / STD
    generator = torch.Generator().manual_seed(0)
    out = Augment(p=p)(x, generator)
    assert out.shape == x.shape
    changed = (out - x).abs().flatten(1).amax(1) > 0.1
    assert changed.all() if p == 1.0 else not changed.any()
    # the generator moves on alike whatever is picked, so later batches do not depend on it
    other = torch.Generator().manual_seed(0)
    Augment(p=1.0 - p)(x, other)
    assert torch.equal(generator.get_state(), other.get_state())


def test_augment_leaves_a_share_of_images_untouched() -> None:
    images, _ = digits(400, 0)
    x = (torch.from_numpy(images).float().unsqueeze(1) / 255 - MEAN) / STD
    out = Augment(p=0.5)(x, torch.Generator().manual_seed(0))
    same = (out == x).flatten(1).all(1)  # bit for bit: not resampled at all
    assert 150 < int(same.sum()) < 250
    assert ((out - x).abs().flatten(1).amax(1)[~same] > 0.1).all()


def test_val_split_is_fixed_disjoint_and_whole(tmp_path: Path) -> None:
    write_mnist(tmp_path, n_train=100, n_test=20)
    whole = load_mnist(tmp_path)
    split = load_mnist(tmp_path, val=30)
    assert (len(split.train_y), len(split.val_y)) == (70, 30)
    assert len(whole.val_y) == 0 and whole.val_x.shape == (0, 1, 28, 28)
    # every training image lands in exactly one of the two sets
    rows = {tuple(img.flatten().tolist()) for img in whole.train_x}
    train = {tuple(img.flatten().tolist()) for img in split.train_x}
    val = {tuple(img.flatten().tolist()) for img in split.val_x}
    assert train | val == rows and not train & val
    again = load_mnist(tmp_path, val=30)  # the same images, whatever the run's seed
    assert torch.equal(again.val_x, split.val_x) and torch.equal(again.train_y, split.train_y)
    assert torch.equal(split.test_x, whole.test_x)


@pytest.mark.parametrize("val", [-1, 100, 101])
def test_val_split_must_leave_training_images(tmp_path: Path, val: int) -> None:
    write_mnist(tmp_path, n_train=100, n_test=20)
    with pytest.raises(DataError, match=f"--val {val}: must be at least 0 and leave"):
        load_mnist(tmp_path, val=val)


def test_the_gpu_resampling_path_gives_the_cpu_paths_images() -> None:
    """A GPU resamples every image and keeps the moved ones (no ``nonzero``, which would wait for
    the device); a CPU resamples only the moved ones. Checked here on the CPU."""
    images, _ = digits(64, 0)
    x = (torch.from_numpy(images).float().unsqueeze(1) / 255 - MEAN) / STD
    theta = torch.eye(2, 3).repeat(64, 1, 1) + 0.1 * torch.randn(64, 2, 3)
    moved = torch.rand(64) < 0.5
    picked = mnist.data._resample_picked(x, theta, moved)
    every = mnist.data._resample_all(x, theta, moved)
    torch.testing.assert_close(every, picked)
    assert torch.equal(picked[~moved], x[~moved]) and not torch.equal(picked[moved], x[moved])
    none = torch.zeros(64, dtype=torch.bool)
    assert torch.equal(mnist.data._resample_all(x, theta, none), x)
    assert torch.equal(mnist.data._resample_picked(x, theta, none), x)


def test_batches_and_jitter_are_drawn_on_the_generators_device() -> None:
    generator = torch.Generator(device="cpu").manual_seed(0)
    assert all(b.device == generator.device for b in shuffled_batches(10, 4, generator))
    if torch.cuda.is_available():
        on_gpu = torch.Generator(device="cuda").manual_seed(0)
        assert all(b.is_cuda for b in shuffled_batches(10, 4, on_gpu))
        x = torch.zeros(4, 1, 28, 28, device="cuda")
        assert Augment(p=1.0)(x, on_gpu).is_cuda
