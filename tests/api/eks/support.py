"""Helpers for the EKS tests: clients, the AWS CLI and kubectl with an update-kubeconfig file,
clusters made and waited for, and extra identities."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config

from stowage.model.identity import Credential
from stowage.resources.credentials import CredentialStore
from tests.support.inproc_control_plane import InProcessControlPlane
from tests.support.server import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
AWS = str(Path(sys.executable).parent / "aws")
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
VPC = {"subnetIds": ["subnet-0a", "subnet-0b"]}
FAST = {"Delay": 1, "MaxAttempts": 30}


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret: str
    arn: str


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@dataclass
class EksEnv:
    plane: InProcessControlPlane
    home: Path

    def client(self, service: str, key: Key | None = None) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.plane.endpoint,
            region_name=REGION,
            aws_access_key_id=key.access_key_id if key else ACCESS_KEY_ID,
            aws_secret_access_key=key.secret if key else SECRET_ACCESS_KEY,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def add_user(self, name: str) -> Key:
        """An IAM user's access key, written to the store as an administrator would."""
        arn = f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"
        akid = "AKIA" + uuid.uuid4().hex[:16].upper()
        cred = Credential(akid, uuid.uuid4().hex + uuid.uuid4().hex[:8], ACCOUNT_ID, arn)
        self.plane.call(CredentialStore(self.plane.records).put(cred))
        return Key(akid, cred.secret_access_key, arn)

    def shell_env(self, key: Key | None = None, kubeconfig: Path | None = None) -> dict[str, str]:
        """What a user's shell has after ``eval "$(stowage env)"``: the AWS CLI and kubectl's
        exec plugin (``aws eks get-token``) find everything in the environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE"))}
        env.update(
            AWS_ENDPOINT_URL=self.plane.endpoint,
            AWS_ACCESS_KEY_ID=key.access_key_id if key else ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY=key.secret if key else SECRET_ACCESS_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=str(self.home / "aws-config-absent"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.home / "aws-credentials-absent"),
            HOME=str(self.home),
            PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
            KUBECONFIG=str(kubeconfig or self.home / "kubeconfig"),
        )
        return env

    def aws(self, *args: str, key: Key | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [AWS, *args], capture_output=True, text=True, timeout=120, env=self.shell_env(key)
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def aws_json(self, *args: str, key: Key | None = None) -> Any:
        return json.loads(self.aws(*args, "--output", "json", key=key).stdout or "{}")

    def kubeconfig_for(self, cluster: str, key: Key | None = None) -> Path:
        """``aws eks update-kubeconfig`` into a file of the cluster's own."""
        path = self.home / f"kubeconfig-{cluster}-{key.access_key_id if key else 'admin'}"
        env = self.shell_env(key, path)
        proc = subprocess.run(
            [AWS, "eks", "update-kubeconfig", "--name", cluster, "--kubeconfig", str(path)],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return path

    def kubectl(
        self,
        kubeconfig: Path,
        *args: str,
        key: Key | None = None,
        check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [KUBECTL, *args], capture_output=True, text=True, input=input, timeout=120,
            env=self.shell_env(key, kubeconfig),
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc


def create_cluster(eks: Any, name: str, **kwargs: Any) -> dict[str, Any]:
    """Create and wait for ACTIVE; the cluster as DescribeCluster shows it."""
    eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC, **kwargs)
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    cluster: dict[str, Any] = eks.describe_cluster(name=name)["cluster"]
    return cluster
