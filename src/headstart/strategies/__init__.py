"""Transfer strategies by name. Importing this package registers every built-in strategy."""

from headstart.strategies import contrastive, finetune, linear_probe
from headstart.strategies.base import (
    DESCRIPTIONS,
    OPTION_KEYS,
    STRATEGIES,
    TransferTask,
    check_options,
    get_strategy,
    register_strategy,
)

__all__ = [
    "DESCRIPTIONS",
    "OPTION_KEYS",
    "STRATEGIES",
    "TransferTask",
    "check_options",
    "contrastive",
    "finetune",
    "get_strategy",
    "linear_probe",
    "register_strategy",
]
