"""Small synthetic MNIST-format files for the mnist tests (no real data needed)."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file: magic 0x0000 08 <ndim>, big-endian dims, then the bytes."""
    header = bytes((0, 0, 8, array.ndim)) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable fake digits: class k is a bright 6x6 square at one of ten spots, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.uint8) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
    for i, k in enumerate(labels):
        row, col = 3 + 12 * (k // 5), 2 + 5 * (k % 5)
        images[i, row : row + 6, col : col + 6] = 255
    return images, labels


def write_mnist(
    data_dir: Path, n_train: int = 512, n_test: int = 256, gz: bool = True, seed: int = 0
) -> Path:
    """Write the four files under ``data_dir/MNIST/raw`` and return that folder."""
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    train_x, train_y = digits(n_train, seed)
    test_x, test_y = digits(n_test, seed + 1)
    for stem, array in (
        ("train-images-idx3-ubyte", train_x),
        ("train-labels-idx1-ubyte", train_y),
        ("t10k-images-idx3-ubyte", test_x),
        ("t10k-labels-idx1-ubyte", test_y),
    ):
        payload = idx_bytes(array)
        if gz:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(payload, mtime=0))
        else:
            (raw / stem).write_bytes(payload)
    return raw


def gzip_bomb(header: bytes, zero_mib: int) -> bytes:
    """A valid ``.gz`` of ``header`` then ``zero_mib`` MiB of zeros, about 1 KB per MiB.

    One MiB of zeros is compressed once and its block repeated: a full flush ends each block
    with an empty history, so every copy decodes alike. Built this way in ~0.3 s per GiB (the
    CRC), where compressing the zeros would take seconds.
    """
    mib = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw: we write the framing
    start = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush(zlib.Z_FINISH)
    crc = zlib.crc32(header)
    for _ in range(zero_mib):
        crc = zlib.crc32(mib, crc)
    size = (len(header) + zero_mib * len(mib)) % (1 << 32)  # gzip keeps the size modulo 2**32
    framing = b"\x1f\x8b\x08\x00" + bytes(4) + b"\x00\xff"  # magic, deflate, mtime 0, OS unknown
    return framing + start + block * zero_mib + end + struct.pack("<II", crc, size)
