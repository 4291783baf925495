"""The AWS CLI (v1, which speaks AWS JSON 1.0 to CloudWatch) against the same small service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.api.aws.support import ACCESS_KEY_ID, SECRET
from tests.api.aws_protocols.support import MetricsBook


def _aws(host: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "absent-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "absent-credentials"),
    )
    aws = Path(sys.executable).parent / "aws"
    cmd = [str(aws), "cloudwatch", *args, "--endpoint-url", f"http://{host}", "--output", "json"]
    return subprocess.run(cmd, env=env, capture_output=True, check=False, timeout=60)


def test_cli_lists_metrics_and_reports_query_codes(host: str, book: MetricsBook, tmp_path: Path) -> None:
    out = _aws(
        host, tmp_path, "list-metrics", "--namespace", "Cli/Test", "--dimensions", "Name=Service,Value=web"
    )
    assert out.returncode == 0, out.stderr
    metrics = orjson.loads(out.stdout)["Metrics"]
    assert metrics == [
        {"Namespace": "Cli/Test", "MetricName": "m", "Dimensions": [{"Name": "Service", "Value": "web"}]}
    ]
    assert book.last("ListMetrics")["Dimensions"] == [{"Name": "Service", "Value": "web"}]

    failed = _aws(host, tmp_path, "list-metrics", "--namespace", "raise.InvalidParameterValueException.400")
    assert failed.returncode != 0
    assert b"(InvalidParameterValue) when calling the ListMetrics operation" in failed.stderr
