"""Loading one domain of a data set: ``DATA@COLUMN=V1,V2`` keeps the items whose group ``COLUMN`` is one of the
values (e.g. ``builtin:spam@folder=easy-ham-1,spam-1``, ``builtin:adult@sex=Female``); class alignment between a
source and a target (``--class-map old=new``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from headstart.data import LabeledData, load_data
from headstart.errors import HeadstartError

__all__ = ["align_classes", "load_domain", "parse_class_map"]


def load_domain(spec: str, **kwargs: object) -> LabeledData:
    """``load_data`` plus an optional ``@COLUMN=V1,V2`` filter on a group column."""
    if "@" not in spec:
        return load_data(spec, **kwargs)  # type: ignore[arg-type]
    base, _, cond = spec.rpartition("@")
    column, eq, values = cond.partition("=")
    if not eq or not column or not values:
        raise HeadstartError(f"{spec}: a domain filter reads DATA@COLUMN=V1,V2 (e.g. builtin:adult@sex=Female)")
    groups = tuple(kwargs.pop("group_columns", ()) or ())  # type: ignore[arg-type]
    data = load_data(base, group_columns=(*groups, column) if column not in groups else groups, **kwargs)  # type: ignore[arg-type]
    if column not in data.groups:
        have = ", ".join(data.groups) or "none"
        raise HeadstartError(f"{spec}: {base} has no column {column!r} to filter on; available: {have}")
    wanted = [v.strip() for v in values.split(",") if v.strip()]
    raw = np.asarray([str(v).strip() for v in data.groups[column]])
    keep = np.flatnonzero(np.isin(raw, wanted))
    if not len(keep):
        seen = ", ".join(sorted(set(raw.tolist()))[:12])
        raise HeadstartError(f"{spec}: no item has {column} in {wanted}; values present: {seen}")
    sub = data.subset(keep)
    sub.source = spec
    return sub


def parse_class_map(text: str | None) -> dict[str, str]:
    """``"old=new,old2=new2"`` -> dict; a one-line error for a malformed pair."""
    out: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        old, eq, new = pair.partition("=")
        if not eq or not old.strip() or not new.strip():
            raise HeadstartError(
                f"--class-map: {pair!r} is not old=new; write e.g. --class-map neg=negative,pos=positive"
            )
        out[old.strip()] = new.strip()
    return out


def align_classes(source: LabeledData, target: LabeledData, class_map: Mapping[str, str] | None = None) -> np.ndarray:
    """The source labels as codes into ``target.classes`` (after renaming with ``class_map``).

    HeadstartError (one line) naming the classes that differ when the two label sets are not the same.
    """
    mapping = dict(class_map or {})
    unknown = [k for k in mapping if k not in source.classes]
    if unknown:
        raise HeadstartError(f"--class-map renames {', '.join(unknown)}, which the source {source.source} lacks")
    renamed = [mapping.get(c, c) for c in source.classes]
    only_s = sorted(set(renamed) - set(target.classes))
    only_t = sorted(set(target.classes) - set(renamed))
    if only_s or only_t:
        raise HeadstartError(
            f"source {source.source} and target {target.source} have different classes: "
            f"only in source: {', '.join(only_s) or 'none'}; only in target: {', '.join(only_t) or 'none'}; "
            "rename with --class-map old=new,..."
        )
    index = {c: i for i, c in enumerate(target.classes)}
    lut = np.array([index[c] for c in renamed], dtype=np.int64)
    return lut[source.y]
