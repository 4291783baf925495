"""Parsing task-level cpu and memory as ECS accepts them."""

from __future__ import annotations

import pytest

from stowage.model.resources import format_gib, format_vcpu, parse_cpu_units, parse_memory_mib


@pytest.mark.parametrize(
    ("text", "units"),
    [("1024", 1024), ("256", 256), ("1 vCPU", 1024), ("1vcpu", 1024), ("0.25 vCPU", 256),
     ("2 VCPU", 2048), (" 4 vcpus ", 4096), (".5 vCPU", 512)],
)  # fmt: skip
def test_cpu_accepts_units_and_vcpus(text: str, units: int) -> None:
    assert parse_cpu_units(text) == units


@pytest.mark.parametrize("text", ["", "abc", "0", "-1", "1 core", "0.3 vCPU", "1.5", "99999999999", "1 GB"])
def test_cpu_rejects_what_is_not_a_whole_number_of_units(text: str) -> None:
    assert parse_cpu_units(text) is None


@pytest.mark.parametrize(
    ("text", "mib"),
    [("512", 512), ("2 GB", 2048), ("2GB", 2048), ("2gb", 2048), ("0.5 GB", 512), ("3 GiB", 3072),
     ("100 MiB", 100), ("100MB", 100)],
)  # fmt: skip
def test_memory_accepts_mib_and_gb(text: str, mib: int) -> None:
    assert parse_memory_mib(text) == mib


@pytest.mark.parametrize("text", ["", "lots", "0", "2 TB", "1.5", "0.0001 GB", "1 vCPU"])
def test_memory_rejects_other_text(text: str) -> None:
    assert parse_memory_mib(text) is None


def test_human_formats() -> None:
    assert format_vcpu(256) == "0.25"
    assert format_vcpu(2048) == "2"
    assert format_gib(512) == "0.5"
    assert format_gib(30720) == "30"
