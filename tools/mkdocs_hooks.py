"""mkdocs hooks (mkdocs.yml `hooks:`): the site also shows the documents that live beside the
code (the README, the model cards, the training notes), and every link keeps working both on
the site and when the Markdown is read in the repository.

The pages link to one another by their paths in the repository (`../README.md`,
`../affectlens/models/cards/affectlens_falls.md`), which is what a reader of the repository
follows. mkdocs only knows files under docs/, so `--strict` would refuse those links. These
hooks add the outside documents to the site under the paths in ``EXTRA`` and rewrite each link
that leaves docs/ to where its target sits on the site. A link to a file in neither place is
left as written, so `mkdocs build --strict` still fails on it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent

# Repository path (a glob) -> the folder or file it has on the site.
EXTRA: dict[str, str] = {
    "README.md": "overview.md",  # the site's home is docs/index.md; README.md is its index too
    "affectlens/models/cards/*.md": "cards/",
    "training/README.md": "training/README.md",
    "training/logs/*.log": "training/logs/",
}

# [text](target) and [text](target "title"); images too. Fenced code is skipped (_FENCE).
_LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def _extra_files() -> dict[str, str]:
    """Repository path -> site path of every outside document the site shows."""
    found: dict[str, str] = {}
    for pattern, place in EXTRA.items():
        for path in sorted(ROOT.glob(pattern)):
            repo = path.relative_to(ROOT).as_posix()
            found[repo] = place + path.name if place.endswith("/") else place
    return found


def on_files(files: Files, config: Any) -> Files:
    for repo, site in _extra_files().items():
        files.append(File.generated(config, site, abs_src_path=str(ROOT / repo)))
    return files


def _site_path(repo: str, docs_dir: str, extra: dict[str, str]) -> str | None:
    if repo.startswith(docs_dir + "/"):
        return repo[len(docs_dir) + 1:]
    return extra.get(repo)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Rewrite links by where their targets sit in the repository to where they sit here."""
    docs_dir = Path(config["docs_dir"]).resolve().relative_to(ROOT).as_posix()
    extra = _extra_files()
    site_of_page = page.file.src_uri
    repo_of_page = next((repo for repo, site in extra.items() if site == site_of_page),
                        f"{docs_dir}/{site_of_page}")

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("#", "/", "mailto:")):
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo = posixpath.normpath(posixpath.join(posixpath.dirname(repo_of_page), path))
        site = _site_path(repo, docs_dir, extra)
        if site is None:
            return match.group(0)  # left for --strict to report
        relative = posixpath.relpath(site, posixpath.dirname(site_of_page) or ".")
        return match.group(1) + relative + ("#" + anchor if anchor else "") + match.group(3)

    # Links inside fenced code are text, not links: rewrite only between fences.
    out, last = [], 0
    for fence in _FENCE.finditer(markdown):
        out.append(_LINK.sub(rewrite, markdown[last:fence.start()]))
        out.append(fence.group(0))
        last = fence.end()
    out.append(_LINK.sub(rewrite, markdown[last:]))
    return "".join(out)
