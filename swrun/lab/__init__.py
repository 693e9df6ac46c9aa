"""`swrun lab`: a small production look-alike on this machine's loopback addresses."""

from swrun.lab.lab import Lab, LabError

__all__ = ["Lab", "LabError"]
