# The two commands of the README: `make up` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PY := .venv/bin/python
# Debian packages the test suite needs: a real etcd for the HA store, Docker for real containers,
# busybox-static to build test images without a registry, wrk for benchmarks.
TEST_DEBS := etcd-server docker.io busybox-static wrk

.PHONY: up test setup setup-test lint test-slow bench-api bench-store bench-scheduler bench-task-start bench-k8s-pods bench-fargate-start clean

up: setup
	scripts/ensure-docker.sh
	.venv/bin/stowage up

setup:
	scripts/setup.sh

setup-test:
	scripts/apt-install.sh $(TEST_DEBS)
	scripts/ensure-docker.sh
	scripts/setup.sh test,bench

test: setup-test lint
	.venv/bin/pytest -q

lint: setup-test
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports

test-slow: setup-test
	.venv/bin/pytest -q -m slow

bench-api: setup-test
	$(PY) bench/api.py

bench-store: setup-test
	$(PY) bench/store.py

bench-scheduler: setup-test
	$(PY) bench/scheduler.py

bench-task-start: setup-test
	$(PY) bench/task_start.py

bench-k8s-pods: setup-test
	$(PY) bench/k8s_pods.py

bench-fargate-start: setup-test
	$(PY) bench/fargate_start.py

clean:
	rm -rf .venv .stowage .mypy_cache .pytest_cache .ruff_cache
