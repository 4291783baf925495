"""Fixtures of the simulated-host tests (defined in ``helpers``)."""

from tests.simulate.helpers import clean, sim

__all__ = ["clean", "sim"]
