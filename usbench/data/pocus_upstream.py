"""The upstream POCUS repository at one commit: which files it holds and their git blob ids.

Every source file ``lus`` reads is checked against the git blob SHA-1 the pinned commit
records for it, so a frame can only come from the exact bytes of that commit. The listing
(``path → blob id``) comes from one of two places:

* a local clone (``--data-root`` pointing at it): ``git ls-tree -r <commit>``, so the
  clone must contain the commit (``git fetch`` it if not); files are read from its work
  tree and each is checked against the listing (a locally modified file is refused, with
  the ``git checkout`` that restores it);
* otherwise GitHub's tree API for the commit, saved once as ``tree-<commit>.json`` in the
  cache; each file is then downloaded from ``raw.githubusercontent.com`` at the commit
  and verified before it is kept.

``tree.get("data/dataset_metadata.csv")`` → blob id; :meth:`UpstreamTree.fetch` → a local,
verified path.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from usbench.data.download import (
    ChecksumError,
    DownloadError,
    download_verified,
    fetch_bytes,
    file_digest,
    join_url,
)
from usbench.errors import UsbenchError
from usbench.fileio import atomic_write_text

UPSTREAM_REPO = "jannisborn/covid19_ultrasound"
RAW_BASE = f"https://raw.githubusercontent.com/{UPSTREAM_REPO}"
TREE_API = f"https://api.github.com/repos/{UPSTREAM_REPO}/git/trees"
METADATA_PATH = "data/dataset_metadata.csv"


class UpstreamUnavailable(UsbenchError, RuntimeError):
    """The upstream listing or a file could not be read; the message says what to do."""


@dataclass(frozen=True)
class UpstreamTree:
    """The blob ids of one commit, and where its files are read from.

    commit: the 40-hex commit. blobs: ``{repository path: git blob SHA-1}``.
    clone: a local clone's root (files are read from its work tree), or ``None``.
    cache: folder where downloaded files are kept (``<cache>/<repository path>``).
    raw_base: base URL of raw files; the commit is appended.
    """

    commit: str
    blobs: dict[str, str]
    clone: Path | None
    cache: Path
    raw_base: str = RAW_BASE

    def paths(self) -> list[str]:
        """Every file path of the commit, sorted."""
        return sorted(self.blobs)

    def fetch(self, path: str) -> Path:
        """A local copy of ``path`` whose git blob id equals the commit's.

        Raises:
            KeyError: ``path`` is not in the commit.
            ChecksumError: the clone's copy differs from the commit (nothing is deleted).
            UpstreamUnavailable: it could not be downloaded.
        """
        expected = self.blobs[path]
        if self.clone is not None:
            local = self.clone / path
            if not local.is_file() or file_digest(local, "git-blob-sha1") != expected:
                raise ChecksumError(
                    f"{local} is missing or differs from commit {self.commit[:12]}; restore "
                    f"it with: git -C {self.clone} checkout {self.commit} -- '{path}'"
                )
            return local
        local = self.cache / path
        if local.is_file() and file_digest(local, "git-blob-sha1") == expected:
            return local
        url = join_url(f"{self.raw_base.rstrip('/')}/{self.commit}", path)
        try:
            return download_verified(url, local, expected=expected, kind="git-blob-sha1")
        except DownloadError as err:
            raise UpstreamUnavailable(_how_to_provide(self.commit, err)) from err


def open_tree(
    commit: str, *, clone: Path | None, cache: Path, api: str = TREE_API, raw_base: str = RAW_BASE
) -> UpstreamTree:
    """The listing of ``commit`` from a local ``clone`` or from the (cached) tree API."""
    if clone is not None:
        return UpstreamTree(commit, _ls_tree(clone, commit), clone, cache, raw_base)
    return UpstreamTree(commit, _api_tree(commit, cache, api), None, cache, raw_base)


def _ls_tree(clone: Path, commit: str) -> dict[str, str]:
    if not clone.is_dir():
        raise FileNotFoundError(
            f"--data-root {clone} does not exist; give a clone of "
            f"https://github.com/{UPSTREAM_REPO} (git clone, then git checkout {commit})"
        )
    try:
        out = subprocess.run(
            ["git", "-C", str(clone), "ls-tree", "-r", "-z", commit],
            check=True,
            capture_output=True,
        ).stdout
    except FileNotFoundError as err:
        raise UpstreamUnavailable("reading a local clone needs git on the PATH") from err
    except subprocess.CalledProcessError as err:
        raise UpstreamUnavailable(
            f"{clone} is not a git clone holding commit {commit}: "
            f"{err.stderr.decode(errors='replace').strip()}. Clone "
            f"https://github.com/{UPSTREAM_REPO} there and run git fetch origin {commit}."
        ) from err
    blobs: dict[str, str] = {}
    for entry in out.decode("utf-8").split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        _mode, kind, sha = meta.split()
        if kind == "blob":
            blobs[path] = sha
    return blobs


def _api_tree(commit: str, cache: Path, api: str) -> dict[str, str]:
    saved = cache / f"tree-{commit}.json"
    if not saved.is_file():
        url = f"{api.rstrip('/')}/{commit}?recursive=1"
        try:  # the listing itself is what pins every other file
            payload = json.loads(fetch_bytes(url).decode("utf-8"))
        except DownloadError as err:
            raise UpstreamUnavailable(_how_to_provide(commit, err)) from err
        if payload.get("truncated"):
            raise UpstreamUnavailable(
                f"GitHub truncated the listing of {commit}; use a local clone (--data-root)"
            )
        blobs = {e["path"]: e["sha"] for e in payload["tree"] if e.get("type") == "blob"}
        atomic_write_text(saved, json.dumps(blobs, indent=0, sort_keys=True))
    return json.loads(saved.read_text(encoding="utf-8"))


def _how_to_provide(commit: str, err: Exception) -> str:
    return (
        f"the POCUS repository could not be read ({err}). Clone it and point --data-root at "
        f"the clone: git clone https://github.com/{UPSTREAM_REPO} && git -C covid19_ultrasound "
        f"checkout {commit}; then usbench run ... -d lus --data-root covid19_ultrasound"
    )
