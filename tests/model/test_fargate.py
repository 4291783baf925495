"""The Fargate task-size table and the helpers over it."""

from __future__ import annotations

import pytest

from stowage.model import fargate


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [(256, 512), (256, 1024), (256, 2048), (512, 1024), (512, 4096), (1024, 2048), (1024, 8192),
     (2048, 4096), (2048, 16384), (4096, 8192), (4096, 30720), (8192, 16384), (8192, 61440),
     (16384, 32768), (16384, 122880), (4096, 9216), (8192, 20480), (16384, 40960)],
)  # fmt: skip
def test_valid_pairs(cpu: int, memory: int) -> None:
    assert fargate.is_valid_size(cpu, memory)


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [(256, 256), (256, 1536), (256, 3072), (512, 512), (512, 5120), (1024, 1024), (1024, 9216),
     (2048, 3072), (2048, 17408), (4096, 31744), (8192, 17408), (8192, 65536), (16384, 36864),
     (16384, 131072), (128, 512), (3072, 8192), (32768, 131072), (1024, 2500)],
)  # fmt: skip
def test_invalid_pairs(cpu: int, memory: int) -> None:
    assert not fargate.is_valid_size(cpu, memory)


def test_table_sizes() -> None:
    counts = {cpu: len(fargate.memory_values(cpu)) for cpu in fargate.CPU_VALUES}
    assert counts == {256: 3, 512: 4, 1024: 7, 2048: 13, 4096: 23, 8192: 12, 16384: 12}
    sizes = fargate.all_sizes()
    assert len(sizes) == sum(counts.values())
    assert sizes == sorted(sizes)
    assert all(fargate.is_valid_size(c, m) for c, m in sizes)
    assert fargate.memory_values(300) == []


@pytest.mark.parametrize(
    ("want", "size"),
    [((1, 1), (256, 512)), ((256, 600), (256, 1024)), ((256, 3000), (512, 3072)),
     ((512, 6000), (1024, 6144)), ((2000, 100), (2048, 4096)), ((4096, 30720), (4096, 30720)),
     ((4096, 31000), (8192, 32768)), ((16384, 122880), (16384, 122880))],
)  # fmt: skip
def test_smallest_fitting(want: tuple[int, int], size: tuple[int, int]) -> None:
    assert fargate.smallest_fitting(*want) == size


def test_nothing_fits_beyond_the_largest_size() -> None:
    assert fargate.smallest_fitting(16385, 1024) is None
    assert fargate.smallest_fitting(1024, 122881) is None


def test_price() -> None:
    # 1 vCPU and 2 GB for an hour at the us-east-1 Linux/x86 rates.
    assert fargate.price_per_hour(1024, 2048, 0.04048, 0.004445) == pytest.approx(0.04048 + 2 * 0.004445)
