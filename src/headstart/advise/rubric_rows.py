"""The rubric's rules as data: the input vocabularies, the data bands and :data:`RUBRIC`, one row per rule.

Each row lists the bands / similarities / compute kinds / unlabeled-data flag it covers (``None`` = either);
every combination of inputs is covered by exactly one row (a test checks this), so row order does not matter.
The engine that looks inputs up here is :func:`headstart.advise.rubric.advise`. Summary (``*`` = any, ``U`` =
unlabeled target data available)::

    id                       data           similarity     compute     U    strategy           confidence
    tiny-similar             tiny           high           *           *    linear-probe       high
    tiny-related             tiny           medium         *           *    linear-probe       medium
    scarce-dissimilar-da     tiny, small    low            *           yes  domain-adaptation  low
    scarce-dissimilar        tiny, small    low            *           no   linear-probe       low
    small-similar            small          high           *           *    linear-probe       high
    small-related-gpu        small          medium         GPU         *    partial            medium
    small-related-cpu        small          medium         cpu         *    linear-probe       medium
    medium-similar-gpu       medium         high, medium   GPU         *    finetune           medium
    medium-dissimilar-gpu    medium         low            GPU         *    finetune           low
    medium-similar-cpu       medium         high           cpu         *    linear-probe       medium
    plenty-related-cpu       medium, large  medium         cpu         *    lora               medium
    plenty-dissimilar-cpu    medium, large  low            cpu         *    lora               low
    large-similar-gpu        large          high, medium   GPU         *    finetune           high
    large-dissimilar-1gpu    large          low            single-gpu  *    finetune           medium
    large-dissimilar-multi   large          low            multi-gpu   *    scratch            low
    large-similar-cpu        large          high           cpu         *    linear-probe       medium

It follows the usual transfer-learning decision matrix (small + similar -> feature extraction; small +
dissimilar -> features from earlier layers, a from-scratch baseline, domain adaptation if unlabeled target
data exists; large + similar -> fine-tune; large + dissimilar -> fine-tune fully or train from scratch; no GPU
-> linear probe or LoRA rather than full fine-tuning). Each row carries a ``justification`` citing:

* Yosinski, Clune, Bengio, Lipson. "How transferable are features in deep neural networks?" NeurIPS 2014.
* Kornblith, Shlens, Le. "Do Better ImageNet Models Transfer Better?" CVPR 2019.
* Howard, Ruder. "Universal Language Model Fine-tuning for Text Classification" (ULMFiT), ACL 2018.
* Hu et al. "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685, 2021 (ICLR 2022).
* Raghu, Zhang, Kleinberg, Bengio. "Transfusion: Understanding Transfer Learning for Medical Imaging",
  NeurIPS 2019.
* Ganin et al. "Domain-Adversarial Training of Neural Networks", JMLR 2016 (domain adaptation).
* He, Girshick, Dollar. "Rethinking ImageNet Pre-training", ICCV 2019 (scratch with enough data/compute).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["COMPUTE_KINDS", "CONFIDENCES", "DATA_BANDS", "RUBRIC", "SIMILARITIES", "STRATEGIES", "RubricRow"]

STRATEGIES: tuple[str, ...] = ("linear-probe", "partial", "finetune", "lora", "domain-adaptation", "scratch")

SIMILARITIES: tuple[str, ...] = ("low", "medium", "high")
COMPUTE_KINDS: tuple[str, ...] = ("cpu", "single-gpu", "multi-gpu")
CONFIDENCES: tuple[str, ...] = ("low", "medium", "high")

#: (band, lowest labels per class included, highest included or None for no upper bound)
DATA_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("tiny", 1, 49),
    ("small", 50, 499),
    ("medium", 500, 5000),
    ("large", 5001, None),
)

_GPU = ("single-gpu", "multi-gpu")
_ANY_COMPUTE = COMPUTE_KINDS

# Risk vocabulary (used verbatim in rows so reports can group them).
_NEG = "negative transfer: source features may not fit this domain, so transfer can lose to the scratch baseline"
_FORGET = "catastrophic forgetting: updating pretrained weights with a large learning rate erases what helps"
_OVERFIT = "overfitting: few labels per class let a trainable network memorise the training set"
_UNDERFIT = "underfitting: frozen features cap accuracy when the domain differs"
_SLOW_CPU = "slow on CPU: every epoch back-propagates through the backbone"
_COMPUTE = "compute cost: full training needs many GPU hours and careful tuning"


@dataclass(frozen=True)
class RubricRow:
    """One rule of the rubric. Tuples list the input values the row covers; ``unlabeled_target=None`` = "
    "any."""

    id: str
    bands: tuple[str, ...]
    similarity: tuple[str, ...]
    compute: tuple[str, ...]
    unlabeled_target: bool | None
    strategy: str
    confidence: str
    headline: str
    reasons: tuple[str, ...]
    risks: tuple[str, ...]
    justification: str

    def covers(self, band: str, similarity: str, compute: str, unlabeled_target: bool) -> bool:
        return (
            band in self.bands
            and similarity in self.similarity
            and compute in self.compute
            and (self.unlabeled_target is None or self.unlabeled_target == unlabeled_target)
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


RUBRIC: tuple[RubricRow, ...] = (
    RubricRow(
        id="tiny-similar",
        bands=("tiny",),
        similarity=("high",),
        compute=_ANY_COMPUTE,
        unlabeled_target=None,
        strategy="linear-probe",
        confidence="high",
        headline="Freeze the backbone and train only a linear classifier on its features.",
        reasons=(
            "Fewer than 50 labels per class is too little to update millions of weights safely.",
            "The domain is close to the backbone's source, so its top-layer features already separate the classes.",
        ),
        risks=(_OVERFIT,),
        justification=(
            "Yosinski et al. 2014: top-layer features transfer well between similar tasks; Kornblith et al. 2019: "
            "logistic regression on penultimate features is competitive, and fine-tuning gains shrink, on small "
            "datasets."
        ),
    ),
    RubricRow(
        id="tiny-related",
        bands=("tiny",),
        similarity=("medium",),
        compute=_ANY_COMPUTE,
        unlabeled_target=None,
        strategy="linear-probe",
        confidence="medium",
        headline="Freeze the backbone and train a linear classifier; there is too little data to adapt it.",
        reasons=(
            "Fewer than 50 labels per class cannot support adapting the backbone without overfitting.",
            "The domain is only partly similar, so expect a gap to what fine-tuning would reach with more data.",
        ),
        risks=(_OVERFIT, _UNDERFIT),
        justification=(
            "Yosinski et al. 2014: transferability of top layers drops as tasks diverge, but fine-tuning needs data; "
            "Kornblith et al. 2019: fixed features + logistic regression remain a strong small-data baseline."
        ),
    ),
    RubricRow(
        id="scarce-dissimilar-da",
        bands=("tiny", "small"),
        similarity=("low",),
        compute=_ANY_COMPUTE,
        unlabeled_target=True,
        strategy="domain-adaptation",
        confidence="low",
        headline="Use the unlabeled target data to align the features across domains (domain adaptation).",
        reasons=(
            "Labels are scarce and the domain is far from the backbone's source.",
            "Unlabeled target examples can pull the representation toward the target domain without labels.",
            "Compare against the from-scratch baseline headstart trains alongside: transfer may not help here.",
        ),
        risks=(_NEG, _SLOW_CPU),
        justification=(
            "Ganin et al. 2016 (DANN): adversarial feature alignment uses unlabeled target data when labels are scarce "
            "and domains differ; Raghu et al. 2019: for dissimilar domains pretrained features help less."
        ),
    ),
    RubricRow(
        id="scarce-dissimilar",
        bands=("tiny", "small"),
        similarity=("low",),
        compute=_ANY_COMPUTE,
        unlabeled_target=False,
        strategy="linear-probe",
        confidence="low",
        headline="Try frozen features with a linear classifier, and trust the scratch baseline if it wins.",
        reasons=(
            "Labels are scarce, so training many weights (fine-tuning or scratch) risks overfitting.",
            "The domain is far from the backbone's source: earlier, more generic layers transfer better than "
            "the top ones, and the from-scratch baseline may match transfer.",
            "With unlabeled target data, domain adaptation becomes an option (pass it and re-run advise).",
        ),
        risks=(_NEG, _UNDERFIT, _OVERFIT),
        justification=(
            "Yosinski et al. 2014: lower layers are general, higher layers source-specific, and transferability falls "
            "with task distance; Raghu et al. 2019 (Transfusion): on dissimilar (medical) domains small models from "
            "scratch come close to ImageNet transfer."
        ),
    ),
    RubricRow(
        id="small-similar",
        bands=("small",),
        similarity=("high",),
        compute=_ANY_COMPUTE,
        unlabeled_target=None,
        strategy="linear-probe",
        confidence="high",
        headline="Freeze the backbone and train a linear classifier on its features.",
        reasons=(
            "With 50-500 labels per class on a similar domain, the pretrained features already fit the task.",
            "It is cheap (minutes on a CPU) and hard to overfit; try partial fine-tuning only if it plateaus.",
        ),
        risks=(_OVERFIT,),
        justification=(
            "Standard decision matrix (small + similar -> feature extraction); Kornblith et al. 2019: logistic "
            "regression on ImageNet features is strong on similar, small datasets; Yosinski et al. 2014."
        ),
    ),
    RubricRow(
        id="small-related-gpu",
        bands=("small",),
        similarity=("medium",),
        compute=_GPU,
        unlabeled_target=None,
        strategy="partial",
        confidence="medium",
        headline="Fine-tune only the top blocks with a small learning rate; keep the lower layers frozen.",
        reasons=(
            "The domain differs somewhat, so the source-specific top layers need to adapt.",
            "With 50-500 labels per class, freezing the generic lower layers limits overfitting.",
            "A GPU makes a few epochs of back-propagation through the top blocks cheap.",
        ),
        risks=(_OVERFIT, _FORGET),
        justification=(
            "Yosinski et al. 2014: lower layers general, upper layers specific; Howard & Ruder 2018 (ULMFiT): gradual "
            "unfreezing and discriminative learning rates fine-tune top layers first and avoid catastrophic forgetting."
        ),
    ),
    RubricRow(
        id="small-related-cpu",
        bands=("small",),
        similarity=("medium",),
        compute=("cpu",),
        unlabeled_target=None,
        strategy="linear-probe",
        confidence="medium",
        headline=("Freeze the backbone and train a linear classifier; adapting it on a CPU costs more than it gains."),
        reasons=(
            "The domain differs somewhat, but 50-500 labels per class give little room for adaptation.",
            "Without a GPU, features are extracted once and the classifier trains in seconds.",
        ),
        risks=(_UNDERFIT, _OVERFIT),
        justification=(
            "Kornblith et al. 2019: fixed features + logistic regression are the cheap, strong baseline; fine-tuning "
            "gains are modest at this size; no GPU -> avoid back-propagating through the backbone."
        ),
    ),
    RubricRow(
        id="medium-similar-gpu",
        bands=("medium",),
        similarity=("high", "medium"),
        compute=_GPU,
        unlabeled_target=None,
        strategy="finetune",
        confidence="medium",
        headline="Fine-tune the whole backbone with a small learning rate.",
        reasons=(
            "500-5000 labels per class are enough to adapt all layers without heavy overfitting.",
            "Fine-tuning beats frozen features once there is this much data, even on similar domains.",
        ),
        risks=(_FORGET, _OVERFIT),
        justification=(
            "Kornblith et al. 2019: fine-tuning outperforms logistic regression on fixed features across datasets; "
            "Howard & Ruder 2018: discriminative learning rates keep fine-tuning stable."
        ),
    ),
    RubricRow(
        id="medium-dissimilar-gpu",
        bands=("medium",),
        similarity=("low",),
        compute=_GPU,
        unlabeled_target=None,
        strategy="finetune",
        confidence="low",
        headline="Fine-tune the whole backbone; pretrained weights are a starting point, not fixed features.",
        reasons=(
            "The domain is far from the source, so frozen top-layer features will underfit.",
            "500-5000 labels per class can re-train all layers; pretrained initialisation still speeds convergence.",
            "Check the verdict against the scratch baseline: on far domains transfer may not help accuracy.",
        ),
        risks=(_NEG, _FORGET),
        justification=(
            "Raghu et al. 2019 (Transfusion): on dissimilar domains transfer mainly speeds convergence and scratch is "
            "competitive; Yosinski et al. 2014: fine-tuning all layers recovers from task distance."
        ),
    ),
    RubricRow(
        id="medium-similar-cpu",
        bands=("medium",),
        similarity=("high",),
        compute=("cpu",),
        unlabeled_target=None,
        strategy="linear-probe",
        confidence="medium",
        headline=("Freeze the backbone and train a linear classifier; a GPU would allow fine-tuning for a bit more."),
        reasons=(
            "On a similar domain, frozen features plus a linear head get most of the accuracy.",
            "Fine-tuning 500-5000 labels per class on a CPU is slow; features are extracted once and cached.",
        ),
        risks=(_UNDERFIT,),
        justification=(
            "Kornblith et al. 2019: the gap between fixed features and fine-tuning is small on similar tasks; no GPU "
            "-> prefer the linear probe over full fine-tuning."
        ),
    ),
    RubricRow(
        id="plenty-related-cpu",
        bands=("medium", "large"),
        similarity=("medium",),
        compute=("cpu",),
        unlabeled_target=None,
        strategy="lora",
        confidence="medium",
        headline="Adapt the backbone with LoRA (low-rank adapters) instead of full fine-tuning.",
        reasons=(
            "The domain differs somewhat and there is enough data to adapt the backbone.",
            "Without a GPU, LoRA trains a small fraction of the weights with much less optimiser memory.",
        ),
        risks=(_SLOW_CPU, _UNDERFIT),
        justification=(
            "Hu et al. 2021 (LoRA): low-rank updates match full fine-tuning quality with far fewer trainable "
            "parameters and less memory; no GPU -> prefer LoRA over full fine-tuning."
        ),
    ),
    RubricRow(
        id="plenty-dissimilar-cpu",
        bands=("medium", "large"),
        similarity=("low",),
        compute=("cpu",),
        unlabeled_target=None,
        strategy="lora",
        confidence="low",
        headline="Adapt the backbone with LoRA; full fine-tuning or scratch training would need a GPU.",
        reasons=(
            "The domain is far from the source, so frozen features will underfit; the backbone must adapt.",
            "Without a GPU, LoRA is the cheapest way to adapt it; the scratch baseline shows whether transfer helps.",
        ),
        risks=(_NEG, _SLOW_CPU, _UNDERFIT),
        justification=(
            "Hu et al. 2021 (LoRA): parameter-efficient adaptation; Raghu et al. 2019: on dissimilar domains scratch "
            "can match transfer, so the paired baseline matters."
        ),
    ),
    RubricRow(
        id="large-similar-gpu",
        bands=("large",),
        similarity=("high", "medium"),
        compute=_GPU,
        unlabeled_target=None,
        strategy="finetune",
        confidence="high",
        headline="Fine-tune the whole backbone.",
        reasons=(
            "More than 5000 labels per class support updating every layer.",
            "On a similar domain the pretrained weights are an excellent initialisation.",
        ),
        risks=(_FORGET,),
        justification=(
            "Standard decision matrix (large + similar -> fine-tune); Kornblith et al. 2019: fine-tuning gives the "
            "best accuracy and better ImageNet models fine-tune better; Yosinski et al. 2014."
        ),
    ),
    RubricRow(
        id="large-dissimilar-1gpu",
        bands=("large",),
        similarity=("low",),
        compute=("single-gpu",),
        unlabeled_target=None,
        strategy="finetune",
        confidence="medium",
        headline="Fine-tune the whole backbone; pretrained weights mostly buy faster convergence here.",
        reasons=(
            "More than 5000 labels per class can re-train every layer.",
            "The domain is far from the source, but pretrained initialisation converges faster than random on one GPU.",
        ),
        risks=(_NEG, _FORGET),
        justification=(
            "Raghu et al. 2019 (Transfusion): on dissimilar domains transfer gives little accuracy but speeds "
            "convergence; He et al. 2019: with enough data scratch catches up, given enough compute."
        ),
    ),
    RubricRow(
        id="large-dissimilar-multi",
        bands=("large",),
        similarity=("low",),
        compute=("multi-gpu",),
        unlabeled_target=None,
        strategy="scratch",
        confidence="low",
        headline=("Train from scratch; with this much data and compute, pretraining on a far domain adds little."),
        reasons=(
            "More than 5000 labels per class on a domain far from the source.",
            "Several GPUs make the longer from-scratch schedule affordable.",
            "Keep the fine-tuned model as the comparison: it may still converge faster.",
        ),
        risks=(_COMPUTE,),
        justification=(
            "Standard decision matrix (large + dissimilar -> fine-tune fully or train from scratch); He et al. 2019 "
            "and Raghu et al. 2019: scratch matches transfer on far domains with enough data and schedule."
        ),
    ),
    RubricRow(
        id="large-similar-cpu",
        bands=("large",),
        similarity=("high",),
        compute=("cpu",),
        unlabeled_target=None,
        strategy="linear-probe",
        confidence="medium",
        headline="Freeze the backbone and train a linear classifier; fine-tune later on a GPU if needed.",
        reasons=(
            "On a similar domain the frozen features are already strong.",
            "More than 5000 labels per class make each fine-tuning epoch long on a CPU.",
        ),
        risks=(_UNDERFIT,),
        justification=(
            "Kornblith et al. 2019: fixed features + logistic regression come close to fine-tuning on similar tasks; "
            "no GPU -> prefer the linear probe or LoRA over full fine-tuning."
        ),
    ),
)
