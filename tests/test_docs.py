"""The docs stay true to the tree: the generated Layout sections, and every relative link."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _load_layout():
    spec = importlib.util.spec_from_file_location("layout_script", ROOT / "scripts/layout.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


layout = _load_layout()


@pytest.mark.parametrize("name", [name for name, _, _ in layout.TARGETS])
def test_layout_section_matches_the_code(name):
    wanted = layout.render()[name]
    assert (ROOT / name).read_text(encoding="utf-8") == wanted, (
        f"{name}: the Layout section is out of date: run `make layout`"
    )


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / "src/pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Path("src/pkg")


def test_layout_lists_every_package_and_module_sorted(tmp_path):
    package = _package(
        tmp_path,
        {
            "__init__.py": '"""The top package."""\n',
            "zeta.py": '"""Z, last of the modules.\n\nNot in the summary."""\n',
            "alpha.py": '"""A, a summary on\ntwo lines."""\n',
            "sub/__init__.py": '"""A subpackage: a|b, <env>."""\n',
            "sub/new.py": '"""A module added later."""\n',
            "sub/__pycache__/new.cpython-311.pyc": "",
            "notes/readme.txt": "no Python here",
        },
    )
    found = layout.entries(tmp_path, package)
    assert [e.path.as_posix() for e in found] == [
        "src/pkg",
        "src/pkg/alpha.py",
        "src/pkg/zeta.py",
        "src/pkg/sub",
        "src/pkg/sub/new.py",
    ]
    assert found[1].summary == "A, a summary on two lines."
    assert found[2].summary == "Z, last of the modules."
    full = layout.table(found, "../", package)
    assert "| [`sub/new.py`](../src/pkg/sub/new.py) | A module added later. |" in full
    assert "| [`sub/`](../src/pkg/sub/) | A subpackage: a\\|b, &lt;env>. |" in full
    short = layout.table(found, "", package, full=False)
    assert "zeta.py" in short and "sub/" in short and "new.py" not in short


def test_a_module_without_a_docstring_is_an_error_naming_it(tmp_path):
    package = _package(
        tmp_path,
        {"__init__.py": '"""The top package."""\n', "sub/__init__.py": "", "sub/x.py": "X = 1\n"},
    )
    with pytest.raises(layout.LayoutError, match=r"src/pkg/sub/__init__\.py has no docstring"):
        layout.entries(tmp_path, package)
    (tmp_path / "src/pkg/sub/__init__.py").write_text('"""Sub."""\n')
    with pytest.raises(layout.LayoutError, match=r"src/pkg/sub/x\.py has no docstring"):
        layout.entries(tmp_path, package)


def test_a_file_without_its_markers_is_an_error():
    with pytest.raises(layout.LayoutError, match="README.md needs one <!-- layout:start -->"):
        layout.replace_section("# no markers\n", "table", "README.md")


FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = _slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(path: Path) -> list[str]:
    """Relative links of a Markdown file whose file (or heading, after `#`) does not exist."""
    text = CODE_SPAN.sub("`code`", FENCE.sub("", path.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        if SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor.lower() not in _anchors(linked):
            broken.append(f"{target} (no heading '{anchor}' in {linked.name})")
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_an_existing_file(doc):
    assert broken_links(doc) == [], f"{doc.relative_to(ROOT)}: broken links"


def test_the_link_check_finds_a_broken_link_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A `code` heading, twice\n\n## Twice\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](other.md) [ok](other.md#a-code-heading-twice) [ok](#top) [web](https://x.org/y)\n"
        "# Top\n\n[gone](missing.md) [bad](other.md#nowhere) `[code](ignored.md)`\n\n"
        "```\n[fenced](ignored.md)\n```\n![img](images/none.png)\n"
    )
    assert broken_links(doc) == [
        "missing.md (no such file)",
        "other.md#nowhere (no heading 'nowhere' in other.md)",
        "images/none.png (no such file)",
    ]


def test_the_readme_stays_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 150, f"README.md has {lines} lines: move detail into docs/"
