"""MODEL_CARD.md in the Hugging Face model-card format: YAML front matter, then the sections a reviewer needs
(lineage, weights hash, license, data, metrics for both sides, verdict, intended use, limitations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from headstart.io import atomic_write_text


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _lineage(config: dict[str, Any]) -> dict[str, Any]:
    from headstart.backbones import backbone_lineage

    return backbone_lineage(str(config["backbone"]))


def render_model_card(config: dict[str, Any], metrics: dict[str, Any], data_provenance: str) -> str:
    t, b, v = metrics["transfer"], metrics["baseline"], metrics["verdict"]
    lin = _lineage(config)
    modality = metrics["data"]["modality"]
    shipped = metrics.get("shipped", {"side": "transfer", "reason": ""})
    shipped_metrics = {"transfer": t, "baseline": b}.get(shipped["side"]) or metrics.get("stack") or t
    from_scratch = shipped["side"] == "baseline"
    slug = "-".join(str(shipped_metrics["name"]).lower().replace("+", " ").split())
    model_name = f"headstart-scratch-{slug}" if from_scratch else f"headstart-{t['strategy']}-{lin['name']}"
    front: dict[str, Any] = {
        "library_name": "headstart",
        # a from-scratch model carries no backbone license: its terms are those of the training data
        "license": "other" if from_scratch else (str(lin["license"]).lower() if lin["license"] else "unknown"),
    }
    if not from_scratch:
        front["base_model"] = lin["name"]
    front.update(
        {
            "tags": [
                "headstart",
                "from-scratch" if from_scratch else "transfer-learning",
                f"{modality}-classification",
                *([] if from_scratch else [t["strategy"]]),
            ],
            "datasets": [metrics["data"]["source"]],
            "metrics": ["accuracy", "f1"],
            "model-index": [
                {
                    "name": model_name,
                    "results": [
                        {
                            "task": {"type": f"{modality}-classification"},
                            "dataset": {"name": metrics["data"]["source"], "type": metrics["data"]["source"]},
                            "metrics": [
                                {"type": "accuracy", "value": round(shipped_metrics["accuracy"], 4)},
                                {"type": "f1", "name": "macro-F1", "value": round(shipped_metrics["macro_f1"], 4)},
                            ],
                        }
                    ],
                }
            ],
        }
    )
    rows = "\n".join(
        f"| {name} | {_pct(m['accuracy'])} | {_pct(m['macro_f1'])} | {_pct(m['balanced_accuracy'])} "
        f"| {m['ece']:.3f} | {m.get('selection', 'val')} {m['val_accuracy']:.3f} |"
        for name, m in ((f"transfer: {t['name']}", t), (f"baseline: {b['name']}", b))
    )
    counts = ", ".join(f"{c}: {n}" for c, n in metrics["data"]["class_counts"].items())
    sizes = metrics["data"]["split_sizes"]
    cka = metrics.get("notes", {}).get("cka")
    forgetting = (
        f"\nRepresentation drift (linear CKA between original and fine-tuned embeddings on the test "
        f"inputs): {cka:.3f}.\n"
        if isinstance(cka, float)
        else ""
    )
    audit = metrics.get("audit")
    audit_md = ""
    if audit:
        from headstart.evaluation.audit import audit_summary

        audit_md = (
            "\n## Subgroup audit\n\n"
            + "\n".join(f"- `{line.split(':', 1)[0]}`:{line.split(':', 1)[1]}" for line in audit_summary(audit))
            + "\n"
        )
    variance = metrics.get("variance")
    if variance:
        check = v.get("variance_check", {})
        audit_md += (
            f"\n## Variance ({variance['k']} {variance['mode']})\n\n"
            f"Transfer {_pct(variance['transfer']['mean'])} ± {_pct(variance['transfer']['std'])}, baseline "
            f"{_pct(variance['baseline']['mean'])} ± {_pct(variance['baseline']['std'])}; delta "
            f"{100 * variance['delta']['mean']:+.1f} ± {100 * variance['delta']['std']:.1f} points (min "
            f"{100 * variance['delta']['min']:+.1f}, max {100 * variance['delta']['max']:+.1f})."
            + (
                f" The single-split verdict {check.get('label_before')!r} was downgraded to no-difference because "
                "the sign of the delta was not consistent across runs.\n"
                if check.get("downgraded")
                else "\n"
            )
        )
    if "stack" in metrics:
        st = metrics["stack"]
        audit_md += (
            f"\nStacked combiner ({st['name']}): test accuracy {_pct(st['accuracy'])}, macro-F1 "
            f"{_pct(st['macro_f1'])}, cross-validated accuracy {st['val_accuracy']:.3f}.\n"
        )
    warn = "\n".join(f"- {w}" for w in metrics.get("warnings", [])) or "- none"
    if from_scratch:
        title = f"{shipped_metrics['name']} trained from scratch"
        compared = (
            f"\nThe transfer model it was compared with: {t['name']} ({t['strategy']} on {lin['name']}), "
            f"{_pct(t['accuracy'])} test accuracy; the lineage below describes that model, which did not ship.\n"
        )
    else:
        title = f"{t['strategy']} transfer from {lin['name']}"
        compared = f"\nThe from-scratch model it was compared with: {b['name']}, {_pct(b['accuracy'])} test accuracy.\n"
    cascade = ""
    if "transfer_calibrate_int8" in metrics.get("timing", {}):
        cascade = (
            "\n`headstart predict` on a CPU without bf16 matrix units embeds 1024 or more texts in int8 first and\n"
            "again in fp32 near the decision boundary (the precision cascade, measured to keep the fp32 labels);\n"
            "`headstart --backend onnx-fp32 predict ...` runs all in fp32. The evaluation above is fp32.\n"
        )
    refs = metrics.get("references", {})
    if "majority" in refs:
        compared += f"Majority-class reference on the same test items: {_pct(refs['majority']['accuracy'])}.\n"
    return f"""---
{yaml.safe_dump(front, sort_keys=False).strip()}
---

# {title}

Trained with headstart. **Verdict: {v["label"]}.** {v["sentence"]}

Shipped model: **{shipped["side"]}** ({shipped_metrics["name"]}) — {shipped["reason"]}.
{compared}

## Lineage

| field | value |
|---|---|
| base model | {lin["name"]} |
| weights sha256 | `{lin["sha256"]}` |
| license | {lin["license"]} |
| source package | {lin["source_package"]} {lin["source_version"]} |
| pre-training domain | {lin["source_domain"]} |
| strategy | {t["strategy"]} |
| seed | {config["seed"]} |
| versions | {", ".join(f"{k} {val}" for k, val in config.get("versions", {}).items())} |

## Training data

Source: `{metrics["data"]["source"]}` — {data_provenance}.
Classes ({len(metrics["data"]["classes"])}): {counts}. Imbalance ratio {metrics["data"]["imbalance_ratio"]:.2f}.
Splits (stratified, seed {config["seed"]}): train {sizes["train"]}, validation {sizes["val"]}, test {sizes["test"]}
(indices in `splits.json`). Labels per class: {config.get("labels_per_class") or "all"}.
Skipped items: {len(metrics["data"].get("skipped", []))}.

## Evaluation (held-out test split)

| model | accuracy | macro-F1 | balanced acc. | ECE | selection score |
|---|---|---|---|---|---|
{rows}

Paired bootstrap (n={v["n_boot"]}) of the accuracy difference: {100 * v["delta"]:+.1f} points,
95% CI [{100 * v["ci_low"]:+.1f}, {100 * v["ci_high"]:+.1f}] on {v["n_test"]} test examples.
{forgetting}{audit_md}
## Intended use

Classifying {modality} inputs into the classes above, for data resembling the training source. Check the
verdict before use: a `negative-transfer` verdict means the pretrained backbone hurt on this data.
{cascade}
## Limitations and warnings

{warn}
- Accuracy was measured on {v["n_test"]} examples from the same source as the training data; expect lower
  accuracy under distribution shift.
- The pretrained backbone may carry biases of its pre-training data ({lin["source_domain"]}).
"""


def write_model_card(run_dir: Path, config: dict[str, Any], metrics: dict[str, Any], data: Any) -> None:
    if metrics["data"].get("task") == "regression":
        from headstart.regression_run import render_regression_card

        atomic_write_text(run_dir / "MODEL_CARD.md", render_regression_card(config, metrics, data.provenance))
        return
    atomic_write_text(run_dir / "MODEL_CARD.md", render_model_card(config, metrics, data.provenance))
