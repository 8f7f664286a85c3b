"""Transfer strategies by name. Importing this package registers every built-in strategy."""

from headstart.strategies import contrastive, fewshot_text, finetune, linear_probe, ridge_probe, row_text
from headstart.strategies.base import (
    DESCRIPTIONS,
    FROZEN_STRATEGIES,
    OPTION_KEYS,
    STRATEGIES,
    TransferTask,
    check_options,
    get_strategy,
    register_strategy,
)

__all__ = [
    "DESCRIPTIONS",
    "FROZEN_STRATEGIES",
    "OPTION_KEYS",
    "STRATEGIES",
    "TransferTask",
    "check_options",
    "contrastive",
    "fewshot_text",
    "finetune",
    "get_strategy",
    "linear_probe",
    "register_strategy",
    "ridge_probe",
    "row_text",
]
