"""``stowage bill``: the real command in a subprocess against a real control plane."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from stowage.cli.bill import parse_time
from tests.api.usage.test_get_usage import DAY0, HOUR, add_task
from tests.support.inproc_control_plane import InProcessControlPlane
from tests.support.server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY


def bill(
    plane: InProcessControlPlane, *args: str, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STOWAGE_"))}
    env.update(COLUMNS="200", AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)
    env.update(AWS_DEFAULT_REGION=REGION)
    where = ["--data-dir", str(data_dir)] if data_dir else ["--endpoint", plane.endpoint]
    return subprocess.run(
        [sys.executable, "-m", "stowage.cli.main", "bill", *where, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture(scope="module")
def cluster(plane: InProcessControlPlane) -> str:
    name = f"bill-{uuid.uuid4().hex[:8]}"
    add_task(plane, name, DAY0, DAY0 + HOUR, group="service:web")
    add_task(plane, name, DAY0, DAY0 + HOUR, group="service:web", provider="FARGATE_SPOT")
    add_task(plane, name, DAY0, DAY0 + 10, group="service:batch", arch="arm64", storage=120)
    return name


def test_table_by_service(plane: InProcessControlPlane, cluster: str) -> None:
    done = bill(plane, "--cluster", cluster, "--by", "service")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    web = next(ln for ln in lines if " web " in ln)
    batch = next(ln for ln in lines if " batch " in ln)
    total = next(ln for ln in lines if "Total" in ln)
    # web: 1 h on FARGATE (0.04937) + 1 h on Spot (0.014811) = 0.064181
    assert "2.0000" in web and "4.0000" in web and "$0.0642" in web
    # batch: one minute of ARM 1 vCPU / 2 GB (0.0395 / 60) + 100 GB of extra storage for a minute
    assert "0.0167" in batch and "$0.0008" in batch  # vCPU-hours 60/3600
    assert "$0.0650" in total
    assert "Fargate usage" in done.stdout and "70% off" in done.stdout


def test_json_output_and_reading_the_data_dir(plane: InProcessControlPlane, cluster: str) -> None:
    # no --endpoint: the endpoint and key come from the server's data dir, as `stowage env` reads them
    done = bill(
        plane, "--cluster", cluster, "--by", "task", "--output", "json", data_dir=plane.config.data_dir
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["groupBy"] == "TASK" and len(answer["rows"]) == 3
    assert sorted(r["billedSeconds"] for r in answer["rows"]) == ["3600", "3600", "60"]
    assert answer["total"]["cost"] == "0.0650243333"  # 0.064181 + (0.0395 + 100 x 0.000111) / 60


def test_since_leaves_old_usage_out(plane: InProcessControlPlane, cluster: str) -> None:
    done = bill(plane, "--cluster", cluster, "--since", "24h", "--output", "json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["rows"] == [] and answer["total"]["cost"] == "0.0000000000"


def test_bad_arguments(plane: InProcessControlPlane) -> None:
    done = bill(plane, "--since", "yesterday-ish")
    assert done.returncode == 1
    assert "neither an ISO date/time" in done.stderr
    done = bill(plane, "--cluster", "bad name!")
    assert done.returncode == 1
    assert "InvalidParameterException" in done.stderr and "Invalid cluster" in done.stderr


def test_parse_time() -> None:
    now = 1_800_000_000.0
    assert parse_time("24h", now) == now - 86400
    assert parse_time("90s", now) == now - 90
    assert parse_time("2w", now) == now - 14 * 86400
    assert parse_time("2023-11-15", now) == DAY0
    assert parse_time("2023-11-15T01:00:00Z", now) == DAY0 + 3600
    assert parse_time("2023-11-15T03:00:00+02:00", now) == DAY0 + 3600


def test_task_table_shows_the_capacity(plane: InProcessControlPlane, cluster: str) -> None:
    done = bill(plane, "--cluster", cluster, "--by", "task")
    assert done.returncode == 0, done.stderr
    spot = next(ln for ln in done.stdout.splitlines() if "FARGATE_SPOT X86_64" in ln)
    assert "$0.0148" in spot  # 30% of 0.04937
    assert "FARGATE ARM64" in done.stdout


def test_the_aws_cli_calls_it_with_the_model_on_its_data_path(
    plane: InProcessControlPlane, cluster: str
) -> None:
    from stowage.model.aws_models import MODELS_DIR

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DATA_PATH=str(MODELS_DIR),
        AWS_ENDPOINT_URL=plane.endpoint,
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    cmd = [
        sys.executable,
        "-m",
        "awscli",
        "stowage",
        "get-usage",
        "--cluster",
        cluster,
        "--group-by",
        "SERVICE",
        "--output",
        "json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert [r["service"] for r in answer["rows"]] == ["batch", "web"]
    assert answer["total"]["cost"] == "0.0650243333"
