"""Domain adaptation on a table (Adult census, men -> women): the tabular encoder stands in for a backbone, and
label-shift EM recovers the women's lower >50K share from unlabeled rows."""

from __future__ import annotations

import numpy as np
import pytest

from headstart.adapt.domains import load_domain
from headstart.adapt.labelshift import em_priors
from headstart.adapt.run import AdaptConfig, adapt_run


@pytest.fixture(scope="module")
def adult():  # type: ignore[no-untyped-def]
    men = load_domain("builtin:adult-table@sex=Male")
    women = load_domain("builtin:adult-table@sex=Female")
    keep = np.random.default_rng(0).permutation(len(women.y))[:1200]
    return men, women.subset(np.sort(keep))


def test_tabular_run_scores_every_arm_on_the_target(adult) -> None:  # type: ignore[no-untyped-def]
    men, women = adult
    assert men.modality == "tabular"
    cfg = AdaptConfig(methods=["prior-em", "per-domain"], max_source=800, max_test=300, shift_perm=20)
    r = adapt_run(men, women, cfg)
    names = {a.name for a in r.arms}
    assert {"source-only", "adapted[prior-em]", "adapted[per-domain]", "majority"} <= names
    assert {v["a"] for v in r.verdicts} == {"adapted[prior-em]", "adapted[per-domain]"}
    assert r.shift["before"]["mmd_p"] < 0.05  # men and women differ in the other columns
    assert 0.5 < r.hindsight["source_only"] < 1.0


def test_em_priors_recover_the_target_label_share(adult) -> None:  # type: ignore[no-untyped-def]
    from headstart.adapt.tabular import table_domains
    from headstart.strategies.linear_head import fit_linear_head

    men, women = adult
    rich = men.classes.index(">50K")
    src = np.random.default_rng(0).permutation(len(men.y))[:1500]
    X = table_domains({"s": [men.items[i] for i in src], "t": list(women.items)})
    head = fit_linear_head(X["s"], men.y[src], men.n_classes, seed=0)
    ps = np.bincount(men.y[src], minlength=men.n_classes) / len(src)
    pt = em_priors(head.predict_proba(X["t"]), ps)
    true = float(np.mean(women.y == rich))
    assert ps[rich] > 0.25 > 0.15 > true  # the label shift is real
    assert abs(pt[rich] - true) < abs(ps[rich] - true) / 2
