"""Ingest: read sources and clean them into `Document`s.

Entry point: `load_sources(paths) -> IngestResult`.

    >>> result = load_sources([Path("seeds")])
    >>> [d.doc_id for d in result.documents][:1]
    ['000_8acd2f9418a98b58']

Articles here are `.txt`/`.md` files that mix YAML front matter, HTML fragments, annotation tags
(`<cand>`, `<a>`) and markdown; `.html` files are whole pages; `.jsonl` carries ready texts.
Cleaning keeps the words and the paragraph breaks and drops markup, images and scripts; the
cleaned `text` is what every offset in the index refers to.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import yaml
from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from rag.types import Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
MAX_DOCUMENT_CHARS = 2_000_000  # a bound that keeps one bad file from eating the machine

_DROP_TAGS = {"script", "style", "noscript", "template", "img", "svg", "iframe", "head", "video"}
_BLOCK_TAGS = {
    "p", "div", "br", "tr", "li", "ul", "ol", "table", "section", "article", "header",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "figure",
    "figcaption", "dl", "dt", "dd", "main", "aside", "nav", "td", "th", "caption",
}  # fmt: skip
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_MD_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_MD_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]*)(?:\s+\"[^\"\n]*\")?\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1|(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*")
_MD_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.M)
_MD_QUOTE = re.compile(r"^[ \t]{0,3}>[ \t]?", re.M)
_MD_RULE = re.compile(r"^[ \t]*([-=*_])(?:[ \t]*\1){2,}[ \t]*$", re.M)
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")
_URL = re.compile(r"^https?://\S+$")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class IngestError(ValueError):
    """A source that cannot be turned into a document (the message says why)."""


@dataclass
class IngestResult:
    documents: list[Document] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)


def load_sources(paths: list[Path]) -> IngestResult:
    """Read files, folders of files and `.jsonl` files; report and skip what cannot be read."""
    result = IngestResult()
    seen: dict[str, str] = {}
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES)
        elif path.exists():
            files = [path]
        else:
            result.skipped.append((str(path), "no such file or folder"))
            continue
        for file in files:
            try:
                docs, bad_records = _read_file(file)
            except (IngestError, UnicodeDecodeError, OSError) as exc:
                result.skipped.append((str(file), _reason(exc)))
                continue
            result.skipped.extend(bad_records)
            for doc in docs:
                if doc.doc_id in seen:
                    result.skipped.append(
                        (
                            str(file),
                            f"duplicate doc_id {doc.doc_id!r} (first in {seen[doc.doc_id]})",
                        )
                    )
                    continue
                seen[doc.doc_id] = str(file)
                result.documents.append(doc)
    return result


def make_document(
    *,
    doc_id: str,
    text: str | None = None,
    html: str | None = None,
    markdown: str | None = None,
    title: str | None = None,
    url: str | None = None,
    published: str | None = None,
    source: str | None = None,
) -> Document:
    """Build one cleaned document from exactly one of plain `text`, `html` or `markdown`.

    Plain text is kept as written (only line ends and blank runs are normalised), so markup a user
    typed stays visible as text; `html` and `markdown` are parsed and cleaned like article files.
    """
    given = [
        k for k, v in (("text", text), ("html", html), ("markdown", markdown)) if v is not None
    ]
    if len(given) != 1:
        raise IngestError("give exactly one of text, html or markdown")
    meta: dict[str, Any] = {}
    if text is not None:
        body = _normalise(text)
    elif html is not None:
        body, meta = _clean_html_page(html)
    else:
        assert markdown is not None
        body, meta = _clean_article(markdown)
    return _finish(
        doc_id=doc_id,
        body=body,
        title=title or meta.get("title"),
        url=url or meta.get("url"),
        published=published or meta.get("published"),
        author=meta.get("author"),
        source=source,
    )


def normalise_date(value: Any) -> str | None:
    """ISO 8601 for the date shapes articles use (ISO, RFC 2822, YAML dates); None if unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    s = str(value).strip()
    if _ISO_DATE.fullmatch(s):  # a bare date stays a date (no invented midnight), as YAML dates do
        try:
            return date.fromisoformat(s).isoformat()
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(s).isoformat()
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(s).isoformat()
    except (TypeError, ValueError, IndexError):
        pass
    m = re.match(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})", s)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return None
    return None


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    return str(exc) or type(exc).__name__


def _read_file(path: Path) -> tuple[list[Document], list[tuple[str, str]]]:
    """The documents of one file, and the records of it that were skipped (JSONL lines)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"unsupported file type {suffix!r} (use {', '.join(SUPPORTED_SUFFIXES)})")
    raw = path.read_bytes().decode("utf-8")
    if suffix == ".jsonl":
        return _read_jsonl(raw, path)
    if suffix in (".html", ".htm"):
        body, meta = _clean_html_page(raw)
    else:
        body, meta = _clean_article(raw)
    doc = _finish(
        doc_id=path.stem,
        body=body,
        title=meta.get("title"),
        url=meta.get("url"),
        published=meta.get("published"),
        author=meta.get("author"),
        source=str(path),
    )
    return [doc], []


def _read_jsonl(raw: str, path: Path) -> tuple[list[Document], list[tuple[str, str]]]:
    """One document a line; a bad line is skipped with its reason, the other lines still count."""
    docs: list[Document] = []
    skipped: list[tuple[str, str]] = []
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            docs.append(_jsonl_record(line, path, lineno))
        except IngestError as exc:
            skipped.append((f"{path}:{lineno}", str(exc)))
    return docs, skipped


def _jsonl_record(line: str, path: Path, lineno: int) -> Document:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise IngestError(f"invalid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise IngestError("expected an object with a string 'text'")
    return make_document(
        doc_id=str(obj.get("doc_id") or f"{path.stem}-{lineno}"),
        text=obj["text"],
        title=obj.get("title") or None,
        url=obj.get("url") or None,
        published=normalise_date(obj.get("published")),
        source=f"{path}:{lineno}",
    )


def _finish(
    *,
    doc_id: str,
    body: str,
    title: str | None,
    url: str | None,
    published: str | None,
    author: str | None,
    source: str | None,
) -> Document:
    doc_id = doc_id.strip()
    if not doc_id or len(doc_id) > 200 or any(c in "/\\" or not c.isprintable() for c in doc_id):
        raise IngestError(
            f"invalid doc_id {doc_id!r}: 1-200 characters, no slashes or control characters"
        )
    if not body.strip():
        raise IngestError("no text left after cleaning (empty, or only markup and scripts)")
    if len(body) > MAX_DOCUMENT_CHARS:
        raise IngestError(f"document too long: {len(body)} characters (limit {MAX_DOCUMENT_CHARS})")
    first_line = body.strip().split("\n", 1)[0].strip()
    # A lead paragraph makes a poor title: keep its first sentence, and at most a line's worth.
    first_line = re.split(r"(?<=[。！？!?])", first_line, maxsplit=1)[0][:80]
    return Document(
        doc_id=doc_id,
        text=body,
        title=(title or "").strip() or first_line,
        url=url,
        published=normalise_date(published),
        author=author,
        source=source,
    )


def _clean_article(raw: str) -> tuple[str, dict[str, Any]]:
    """A `.txt`/`.md` article: front matter, then markdown mixed with HTML fragments."""
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    meta: dict[str, Any] = {}
    m = _FRONT_MATTER.match(raw)
    if m:
        meta = _front_matter(m.group(1))
        raw = raw[m.end() :]
    text = _html_to_text(BeautifulSoup(raw, "html.parser"))
    text, source_url = _strip_markdown(text)
    if source_url and not meta.get("url"):
        meta["url"] = source_url
    return _normalise(text), meta


def _front_matter(block: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        raise IngestError(f"front matter is not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(data, dict):
        return {}
    meta: dict[str, Any] = {}
    if data.get("title"):
        meta["title"] = str(data["title"])
    meta["published"] = normalise_date(data.get("date") or data.get("lastmod"))
    for key in ("from", "url", "source", "link"):
        value = data.get(key)
        if isinstance(value, str) and _URL.match(value.strip()):
            meta["url"] = value.strip()
            break
    author = data.get("author") or data.get("authors")
    meta["author"] = _flatten_author(author)
    return meta


def _flatten_author(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values())
    if isinstance(value, list):
        parts = [_flatten_author(v) for v in value]
        return ", ".join(p for p in parts if p) or None
    return str(value)


# <meta> tags that carry a document field, by preference (the first found wins).
_HTML_META: list[tuple[dict[str, Any], str]] = [
    ({"property": "og:title"}, "title"),
    ({"property": "og:url"}, "url"),
    ({"property": "article:published_time"}, "published"),
    ({"name": "date"}, "published"),
    ({"name": "author"}, "author"),
]


def _clean_html_page(raw: str) -> tuple[str, dict[str, Any]]:
    soup = BeautifulSoup(raw, "lxml")
    meta: dict[str, Any] = {}
    if soup.title and soup.title.string:
        meta["title"] = soup.title.string.strip()
    for attrs, key in _HTML_META:
        tag = soup.find("meta", attrs=attrs)
        if isinstance(tag, Tag) and tag.get("content") and key not in meta:
            meta[key] = str(tag["content"]).strip()
    canonical = soup.find("link", rel="canonical")
    if isinstance(canonical, Tag) and canonical.get("href") and "url" not in meta:
        meta["url"] = str(canonical["href"])
    body = soup.body or soup
    return _normalise(_html_to_text(body)), meta


def _html_to_text(node: Tag) -> str:
    """Text of an HTML tree: block elements become line breaks, dropped tags vanish."""
    out: list[str] = []

    def walk(el: Tag) -> None:
        for child in el.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                out.append(str(child))
            elif isinstance(child, Tag):
                name = child.name.lower()
                if name in _DROP_TAGS:
                    continue
                block = name in _BLOCK_TAGS
                if block:
                    out.append("\n")
                walk(child)
                if block:
                    out.append("\n")

    walk(node)
    return "".join(out)


def _strip_markdown(text: str) -> tuple[str, str | None]:
    """Remove markdown syntax, keep the words; return the trailing source link's URL if any."""
    source_url = None
    lines = text.rstrip().split("\n")
    if lines:
        last = _MD_LINK.fullmatch(lines[-1].strip())
        if last and _URL.match(last.group(2)):
            source_url = last.group(2)
            lines.pop()
    text = "\n".join(lines)
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(lambda m: m.group(1), text)
    text = _MD_EMPHASIS.sub(lambda m: m.group(2) or m.group(3) or "", text)
    text = _MD_HEADING.sub("", text)
    text = _MD_QUOTE.sub("", text)
    text = _MD_RULE.sub("", text)
    return text, source_url


def _normalise(text: str) -> str:
    """One space for runs of spaces, no blank-line runs, trimmed lines: paragraphs stay apart."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()
