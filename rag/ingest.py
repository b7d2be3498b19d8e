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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import yaml
from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from rag.errors import RagError
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
# Every repetition inside the markdown patterns is bounded, so each match attempt looks at most a
# few hundred characters ahead and cleaning stays linear in the text: with open-ended `.+?`, a
# 30 KB line of unmatched `**` or `[` took 28-44 s (every start scanned to the end of the line).
# The bounds are far above any real link text, URL or emphasised phrase.
# Possessive (`{m,n}+`) where the class excludes the character that must follow: the same
# matches, without backtracking into the run.
_MD_IMAGE = re.compile(r"!\[[^\[\]\n]{0,500}+\]\([^)\n]{0,2000}+\)")
_MD_LINK = re.compile(
    r"\[([^\[\]\n]{0,500}+)\]\(([^)\s]{0,2000}+)(?:\s{1,20}+\"[^\"\n]{0,500}+\")?\)"
)
_MD_EMPHASIS = re.compile(
    r"(\*\*|__)(?=\S)(.{1,300}?)(?<=\S)\1|(?<![\w*])\*(?=\S)([^*\n]{1,300}?)(?<=\S)\*"
)
_MD_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.M)
_MD_QUOTE = re.compile(r"^[ \t]{0,3}>[ \t]?", re.M)
_MD_RULE = re.compile(r"^[ \t]*([-=*_])(?:[ \t]*\1){2,}[ \t]*$", re.M)
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")
_URL = re.compile(r"https?://[^\s/?#]+\S*\Z")  # with a host; no spaces or line breaks
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class IngestError(RagError, ValueError):
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
            except (IngestError, UnicodeDecodeError, OSError, RecursionError) as exc:
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
    if published is not None and published.strip() and normalise_date(published) is None:
        raise IngestError(
            f"published {_show(published)} is not a valid date or time "
            "(use e.g. 2024-05-23 or 2024-05-23T10:30:00+08:00)"
        )
    return _finish(
        doc_id=doc_id,
        body=body,
        title=title or meta.get("title"),
        url=(url.strip() or None) if url is not None else meta.get("url"),
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
    m = re.match(
        r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?\s*(?:(\d{1,2}):(\d{2})(?::(\d{2}))?)?", s
    )
    if m:
        try:
            day = date(int(m[1]), int(m[2]), int(m[3]))
            if m[4] is not None:  # a time after it must be one too (not 25:61:00)
                time(int(m[4]), int(m[5]), int(m[6] or 0))
        except ValueError:
            return None
        return day.isoformat()
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
    for key in ("doc_id", "title", "url", "published"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise IngestError(f"{key}: expected a string or null, got {_shape(obj[key])}")
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
    if doc_id in (".", ".."):
        # Clients resolve `/documents/..` to `/` before sending it: such a document could be
        # stored but never fetched or deleted.
        raise IngestError(
            f"invalid doc_id {doc_id!r}: '.' and '..' are not URL path segments; use a name"
        )
    if url is not None and not _URL.match(url):
        raise IngestError(
            f"url {_show(url)} is not an http or https URL: only http:// and https:// links "
            "are stored (a citation link must be safe to open)"
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


MAX_FRONT_MATTER_CHARS = 20_000  # real front matter is a few hundred characters
_AUTHOR_PARTS = 50  # names in one author field; also bounds what YAML aliases can expand to


def _front_matter(block: str) -> dict[str, Any]:
    """The fields we use from a YAML front matter block, each checked on its own: a bad value
    is an IngestError that names the field and what it accepts.

    Loaded with YAML's BaseLoader, which builds strings, lists and mappings only: YAML's own
    date resolution would turn `2024-02-30` into a ValueError before we could say which field
    held it, and the fields we do not use are never interpreted at all."""
    if len(block) > MAX_FRONT_MATTER_CHARS:
        raise IngestError(
            f"front matter is {len(block)} characters (limit {MAX_FRONT_MATTER_CHARS}): "
            "keep it to the article's metadata"
        )
    try:
        data = yaml.load(block, Loader=yaml.BaseLoader)  # noqa: S506 - builds plain str/list/dict
    except yaml.YAMLError as exc:
        raise IngestError(f"front matter is not valid YAML ({exc.__class__.__name__})") from exc
    except RecursionError:
        raise IngestError("front matter is nested too deeply: keep it to flat fields") from None
    if not isinstance(data, dict):
        return {}
    meta: dict[str, Any] = {}
    title = data.get("title")
    if title not in (None, ""):
        if not isinstance(title, str):
            raise IngestError(f"front matter title: expected text, got {_shape(title)}")
        meta["title"] = title
    for key in ("date", "lastmod"):
        value = data.get(key)
        if value in (None, ""):
            continue
        published = _front_matter_date(value) if isinstance(value, str) else None
        if published is None:
            raise IngestError(
                f"front matter {key}: {_show(value)} is not a valid date or time "
                "(use e.g. 2024-05-23 or 2024-05-23T10:30:00+08:00)"
            )
        meta["published"] = published
        break
    url = data.get("url")
    if url not in (None, "") and not (isinstance(url, str) and _URL.match(url.strip())):
        raise IngestError(
            f"front matter url: {_show(url)} is not an http or https URL: "
            "only http:// and https:// links are kept"
        )
    for key in ("from", "url", "source", "link"):
        value = data.get(key)
        if isinstance(value, str) and _URL.match(value.strip()):
            meta["url"] = value.strip()
            break
    author = data.get("author") or data.get("authors")
    names: list[str] = []
    if not _collect_names(author, names, depth=0):
        raise IngestError(
            f"front matter author: expected a name or a short list of names, got {_shape(author)}"
        )
    meta["author"] = ", ".join(n for n in names if n) or None
    return meta


def _front_matter_date(value: str) -> str | None:
    """An ISO date for a front matter date string, read first as YAML reads a timestamp
    (`2001-12-14 21:59:43.10 -5`), then as `normalise_date` reads text; an impossible date or
    time (`2024-02-30`, `25:61:00`) is None."""
    try:
        parsed = yaml.safe_load(value)
    except (yaml.YAMLError, ValueError, OverflowError):
        parsed = None
    if isinstance(parsed, (date, datetime)):
        return normalise_date(parsed)
    return normalise_date(value)


def _collect_names(value: Any, names: list[str], depth: int) -> bool:
    """Names of an author field (a name, a list of names, `{user: name}` mappings, nested up to
    three levels, as blog front matter writes them); False when it is anything bigger."""
    if value is None:
        return True
    if isinstance(value, str):
        names.append(value.strip())
        return len(names) <= _AUTHOR_PARTS
    if depth >= 3:
        return False
    items = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(items, list):
        return False
    return all(_collect_names(v, names, depth + 1) for v in items)


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return _show(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
    if "url" in meta and not _URL.match(meta["url"]):
        del meta["url"]  # a relative or non-web link in a page's own tags: not a citation link
    body = soup.body or soup
    return _normalise(_html_to_text(body)), meta


def _html_to_text(node: Tag) -> str:
    """Text of an HTML tree: block elements become line breaks, dropped tags vanish.

    Walks the tree with an explicit stack, not recursion: a page nested a thousand levels deep
    (a RecursionError, and an HTTP 500, when this recursed) costs no more than a flat one."""
    out: list[str] = []
    stack: list[tuple[Iterator[Any], bool]] = [(iter(node.children), False)]
    while stack:
        children, block = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if block:
                out.append("\n")
            continue
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            out.append(str(child))
        elif isinstance(child, Tag):
            name = child.name.lower()
            if name in _DROP_TAGS:
                continue
            child_block = name in _BLOCK_TAGS
            if child_block:
                out.append("\n")
            stack.append((iter(child.children), child_block))
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
