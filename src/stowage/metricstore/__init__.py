"""Embedded time-series storage for usage metrics: series of fixed-layout points in their own
SQLite file (``metrics.db``), raw and minute tiers, compaction, retention and a size bound.
Knows nothing of ECS: the controllers decide what the series are. Imports only the standard
library and ``orjson``."""

from stowage.metricstore.codec import FLOAT, ChunkError, Columns
from stowage.metricstore.layout import MINUTE, MINUTE_S, RAW, Layout, rollup_column
from stowage.metricstore.maintenance import PassResult
from stowage.metricstore.statistics import (
    StatisticError,
    StatSet,
    basic_statistic,
    new_statset,
    parse_statistic,
    percentile,
)
from stowage.metricstore.store import DB_FILE, MetricStore, MetricStoreClosed, SeriesInfo, StoreConfig

__all__ = [
    "DB_FILE",
    "FLOAT",
    "MINUTE",
    "MINUTE_S",
    "RAW",
    "ChunkError",
    "Columns",
    "Layout",
    "MetricStore",
    "MetricStoreClosed",
    "PassResult",
    "SeriesInfo",
    "StatSet",
    "StatisticError",
    "StoreConfig",
    "basic_statistic",
    "new_statset",
    "parse_statistic",
    "percentile",
    "rollup_column",
]
