"""The README stays a front page whose links resolve; the docs site itself is built with `mkdocs build --strict` by
`.ci/run` (a broken link, anchor or a page missing from the nav fails CI there)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_is_a_front_page_whose_relative_links_exist():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    targets = [target for target in re.findall(r"\]\(([^)\s]+)\)", readme) if not re.match(r"[a-z]+:", target)]
    assert targets, "the README links the docs"
    missing = [target for target in targets if not (ROOT / target.split("#")[0]).exists()]
    assert not missing, missing


def test_every_docs_page_is_in_the_site_nav():
    def pages(entries) -> list[str]:
        found = []
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            found += pages(value) if isinstance(value, list) else [value]
        return found

    nav = pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    on_disk = sorted(str(path.relative_to(ROOT / "docs")) for path in (ROOT / "docs").rglob("*.md"))
    assert sorted(nav) == on_disk
