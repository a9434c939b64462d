"""Every relative link in README.md and docs/*.md leads somewhere: the file exists, the #anchor is a heading there.

Anchors are GitHub's heading slugs (lower case, punctuation dropped, spaces to
hyphens, ``-1``, ``-2`` ... for repeated headings) or explicit
``<a id="...">`` / ``<a name="...">`` tags. Links to the web (``http:``,
``https:``, ``mailto:``) are not followed, and nothing inside code (fenced
blocks or inline code spans) is a link.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1[`~]*[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.IGNORECASE)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"<a\b[^>]*\b(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def without_code(text: str) -> str:
    """``text`` with fenced code blocks, inline code spans and HTML comments blanked out."""
    text = FENCE.sub("", text)
    text = HTML_COMMENT.sub("", text)
    return INLINE_CODE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: lower case, only letters, digits, spaces, - and _; spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()  # tags and code marks go
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters and digits of any script, and _
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor a link may point to in ``page``."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    found, seen = set(), {}
    for heading in HEADING.findall(text):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found | set(HTML_ANCHOR.findall(text))


def links(page: Path) -> list[str]:
    """Every link target of ``page`` outside code, in order."""
    text = without_code(page.read_text(encoding="utf-8"))
    return LINK.findall(text) + REFERENCE.findall(text) + HTML_LINK.findall(text)


def shown(path: Path) -> str:
    """``path`` relative to the checkout when it is inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def broken(page: Path, target: str) -> str | None:
    """Why ``target`` (a link in ``page``) leads nowhere; None when it resolves."""
    if EXTERNAL.match(target):
        return None
    path, _, anchor = target.partition("#")
    destination = (page.parent / unquote(path)).resolve() if path else page
    if not destination.exists():
        return f"{shown(destination)} does not exist"
    if anchor and destination.suffix == ".md" and unquote(anchor) not in anchors(destination):
        return f"no heading #{anchor} in {shown(destination)}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_relative_link_resolves(page):
    problems = [f"{target}: {why}" for target in links(page) if (why := broken(page, target))]
    assert not problems, f"{page.relative_to(REPO)}:\n  " + "\n  ".join(problems)


def test_every_docs_page_is_linked_from_the_readme():
    readme = {(REPO / target.partition("#")[0]).resolve() for target in links(REPO / "README.md")}
    unlinked = [page.name for page in PAGES[1:] if page.resolve() not in readme]
    assert not unlinked, f"README.md does not link {', '.join(unlinked)}"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Training throughput (paper's model, CPU)", "training-throughput-papers-model-cpu"),
        ("XLA (`--jit-compile`) per architecture", "xla---jit-compile-per-architecture"),
        ("Web page: mouse-up to answer", "web-page-mouse-up-to-answer"),
        ("Seconds to 99%: `mnist-keras fit --model fast`", "seconds-to-99-mnist-keras-fit---model-fast"),
        ("Raspberry Pi (no TensorFlow)", "raspberry-pi-no-tensorflow"),
    ],
)
def test_slugs_are_githubs(heading, anchor):
    assert slug(heading) == anchor


def test_links_in_code_are_not_links(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n[ok](#title) `[no](missing.md)`\n\n```md\n[no](gone.md)\n```\n\n[bad](#nope) [file](absent.md)\n"
    )
    assert links(page) == ["#title", "#nope", "absent.md"]
    assert broken(page, "#title") is None
    assert "no heading #nope" in broken(page, "#nope") and "does not exist" in broken(page, "absent.md")
