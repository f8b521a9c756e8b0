"""Moved to :mod:`hybridtl.scaleout`; this name stays so that existing imports keep working."""

from .scaleout import connect, local_cluster, worker_environment

__all__ = ["connect", "local_cluster", "worker_environment"]
