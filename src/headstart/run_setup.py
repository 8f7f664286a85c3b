"""The preparation steps of a standard run, before anything is fitted.

Load the data and make its seeded stratified splits, resolve and license-check the backbone, validate the
study options, write ``config.json`` + ``splits.json``, resolve ``--strategy auto`` and build the
:class:`headstart.strategies.TransferTask` every arm is fitted from. :func:`headstart.pipeline.fit_run` calls
them in this order.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from headstart.backbones import check_license, get_spec, probe_view
from headstart.baselines import check_baseline
from headstart.config import FitConfig
from headstart.data import LabeledData, Splits, load_data, make_splits
from headstart.data.targets import regression_strata
from headstart.errors import HeadstartError
from headstart.features import default_image_size
from headstart.io import atomic_write_json
from headstart.outputs import package_versions
from headstart.stage_timer import Echo, Timer
from headstart.strategies import FROZEN_STRATEGIES, TransferTask

DEFAULT_BACKBONE = {"text": "minilm-l6", "image": "mobilenetv2", "tabular": "minilm-l6"}
# A strategy that only reads frozen features gets the default's probe view (same pinned weights, layers 4-6 for
# MiniLM: 1-12 points better for probes, benchmarks/results/fewshot.md) when no backbone is named.
DEFAULT_PROBE_BACKBONE = {"text": probe_view(DEFAULT_BACKBONE["text"])}
READS = {"tabular": "text"}  # tables reach a backbone as rows serialized to text (strategies.row_text)


def load_and_split(cfg: FitConfig, timer: Timer) -> tuple[LabeledData, Splits, str, int | None, list[str]]:
    """The data, its seeded stratified splits, and the checked backbone (modality + license gate)."""
    with timer("load_data"):
        data = load_data(
            cfg.data,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            group_columns=tuple(cfg.group_columns),
            on_bad_item=cfg.on_bad_item,
            modality=cfg.modality,
            task=cfg.task,
        )
    backbone, license_warnings = resolve_backbone(cfg, data)
    image_size = cfg.image_size or default_image_size(data, backbone)
    splits = make_splits(
        regression_strata(data.y) if data.task == "regression" else data.y,
        seed=cfg.seed,
        test_size=cfg.test_size,
        val_size=cfg.val_size,
        labels_per_class=cfg.labels_per_class,
        max_test=cfg.max_test,
        classes=data.classes,
    )
    if cfg.add_labels:  # labeled rows from `headstart query` join train; the test split stays identical
        from headstart.active.add_labels import merge_added_labels

        data, splits = merge_added_labels(data, splits, cfg.add_labels)
    return data, splits, backbone, image_size, license_warnings


def resolve_backbone(cfg: FitConfig, data: LabeledData) -> tuple[str, list[str]]:
    """The backbone name, after the modality check and the license gate (also for ``hf:``/``timm:``)."""
    default = DEFAULT_BACKBONE[data.modality]
    if cfg.strategy in FROZEN_STRATEGIES:
        default = DEFAULT_PROBE_BACKBONE.get(data.modality, default)
    backbone = cfg.backbone or default
    spec = get_spec(backbone)
    reads = READS.get(data.modality, data.modality)
    if spec.modality != reads:
        raise HeadstartError(
            f"backbone {backbone!r} is for {spec.modality}, but {cfg.data} is {data.modality}"
            f"; pick a {reads} backbone (see `headstart backbones`)"
        )
    return backbone, check_license(spec, cfg.use)


def check_studies(cfg: FitConfig, data: LabeledData, splits: Splits) -> None:
    """Validate the study options against the data before anything is written."""
    from headstart.evaluation.audit import positive_class_index
    from headstart.study_curve import parse_fractions
    from headstart.study_variance import check_variance_config

    check_baseline(cfg.baseline, data.modality, data.task)
    if data.task == "regression":
        from headstart.regression_run import check_regression_config

        check_regression_config(cfg)
    if cfg.folds or cfg.seeds:
        check_variance_config(data.y, splits, folds=cfg.folds, seeds=cfg.seeds, classes=data.classes)
    if cfg.group_columns:
        positive_class_index(data.classes, cfg.positive_class)
    if cfg.curve:
        parse_fractions(cfg.curve_fractions)


def write_config(work: Path, cfg: FitConfig, backbone: str, image_size: int | None, splits: Splits) -> dict[str, Any]:
    config_doc = {
        **asdict(cfg),
        "backbone": backbone,
        "image_size": image_size,
        "versions": package_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_json(work / "config.json", config_doc)
    atomic_write_json(work / "splits.json", splits.to_json())
    return config_doc


def resolve_strategy(
    cfg: FitConfig,
    data: LabeledData,
    splits: Splits,
    backbone: str,
    image_size: int | None,
    config_doc: dict[str, Any],
    work: Path,
    say: Echo,
) -> str:
    if cfg.strategy != "auto":
        return cfg.strategy
    if data.modality == "tabular" or data.task == "regression":
        why = "tables and regression targets: the linear probe (the tree/ridge baseline is the side to beat)"
        config_doc["strategy_chosen"] = {"strategy": "linear-probe", "why": why}
        atomic_write_json(work / "config.json", config_doc)
        return "linear-probe"
    from headstart.advise.auto import choose_strategy

    strategy, why = choose_strategy(data, splits, backbone, image_size=image_size, seed=cfg.seed)
    say(f"--strategy auto chose {strategy}: {why}")
    config_doc["strategy_chosen"] = {"strategy": strategy, "why": why}
    atomic_write_json(work / "config.json", config_doc)
    return strategy


def make_task(
    cfg: FitConfig,
    data: LabeledData,
    splits: Splits,
    backbone: str,
    image_size: int | None,
    work: Path,
    resume: bool,
) -> TransferTask:
    return TransferTask.from_splits(
        data,
        splits,
        backbone,
        seed=cfg.seed,
        image_size=image_size,
        progress=cfg.progress,
        work_dir=work,
        resume=resume,
        options={**cfg.options, "loss": cfg.loss, "focal_gamma": cfg.focal_gamma},
    )
