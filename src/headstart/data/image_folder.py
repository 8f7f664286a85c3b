"""An image folder as labeled data: one subfolder per class, every image decoded once to catch bad files.

Hidden entries (dot files, ``__MACOSX``) are ignored; an image that does not decode is a bad item (an error,
or skipped with ``on_bad_item="skip"``).
"""

from __future__ import annotations

from pathlib import Path

from headstart.data.dataset import LabeledData
from headstart.data.images import IMAGE_EXTENSIONS, ImageDecodeError, is_image_path, read_image
from headstart.data.labeled import _BadItems, build_labeled
from headstart.errors import HeadstartError


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(root).parts)


def _load_image_folder(root: Path, display: str, bad: _BadItems) -> LabeledData:
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p, root))
    exts = " ".join(IMAGE_EXTENSIONS)
    if not subdirs:
        if any(p.is_file() and is_image_path(p.name) for p in root.iterdir()):
            raise HeadstartError(
                f"{display}: images must sit in one subfolder per class ({display}/<class>/<image>); "
                "move them into class folders"
            )
        raise HeadstartError(
            f"{display}: folder is empty (no class subfolders with {exts} images); "
            "put one subfolder per class inside it"
        )
    items: list[str] = []
    ids: list[str] = []
    labels: list[str] = []
    ignored: list[str] = []
    classes = [d.name for d in subdirs]
    for d in subdirs:
        present = sorted(p for p in d.rglob("*") if p.is_file() and not _hidden(p, root))
        files = [p for p in present if is_image_path(p.name)]
        ignored += [p.relative_to(root).as_posix() for p in present if not is_image_path(p.name)]
        for p in files:
            shown = f"{display.rstrip('/')}/{p.relative_to(root).as_posix()}"
            try:
                read_image(p, locator=shown)
            except ImageDecodeError as exc:
                bad.bad(shown, exc.reason, "re-save or remove the file")
                continue
            items.append(str(p.resolve()))
            ids.append(shown)
            labels.append(d.name)
    if not items and not bad.skipped:
        raise HeadstartError(
            f"{display}: no images ({exts}) found in its class subfolders; add images or check the path"
        )
    data = build_labeled(
        items,
        labels,
        modality="image",
        source=display,
        provenance=f"user image folder {root.resolve()}",
        ids=ids,
        skipped=bad.skipped,
        classes=sorted(classes),
        label_source="one class per subfolder",
    )
    if ignored:  # a .heic or .avif export would otherwise vanish without a word
        kinds = "/".join(IMAGE_EXTENSIONS)
        data.warnings.append(
            f"{display}: 1 file in the class folders is not a {kinds} image and was ignored (e.g. {ignored[0]}); "
            "convert it to use it"
            if len(ignored) == 1
            else f"{display}: {len(ignored)} files in the class folders are not {kinds} images and were ignored "
            f"(e.g. {ignored[0]}); convert them to use them"
        )
    return data
