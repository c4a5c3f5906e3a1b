"""Errors raised on bad input.

Every error carries a one-line message naming the problem, so the CLI can print it as is and exit 2.
"""

from __future__ import annotations

__all__ = [
    "InvalidInput",
    "CycleError",
    "CostError",
    "DeviceError",
    "ClusterError",
    "FormatError",
]


class InvalidInput(ValueError):
    """Base class of every bad-input error in hetflow (a ``ValueError``)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class CycleError(InvalidInput):
    """The task graph has a cycle; the message names it."""


class CostError(InvalidInput):
    """A cost, speed, size, bandwidth or latency is negative, NaN or infinite."""


class DeviceError(InvalidInput):
    """A task names an unknown device class, or no worker can run it."""


class ClusterError(InvalidInput):
    """The cluster is malformed: duplicate worker names, links to unknown workers, no workers."""


class FormatError(InvalidInput):
    """A file is not valid JSON or not in one of the formats of DESIGN.md."""
