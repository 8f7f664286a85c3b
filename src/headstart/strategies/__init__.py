"""Transfer strategies by name. Importing this package registers every built-in strategy."""

from headstart.strategies import linear_probe
from headstart.strategies.base import DESCRIPTIONS, STRATEGIES, TransferTask, get_strategy, register_strategy

__all__ = ["DESCRIPTIONS", "STRATEGIES", "TransferTask", "get_strategy", "linear_probe", "register_strategy"]
