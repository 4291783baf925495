"""The etcd server fixture of the store suite, shared with the server tests."""

from tests.store.conftest import etcd_server

__all__ = ["etcd_server"]
