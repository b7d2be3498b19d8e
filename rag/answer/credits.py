"""Credits: who wrote, reported or edited an article, read from its byline.

Entry point: `credited(question, result, index) -> AnswerResult | None`: the rules' result
answered from a byline instead, where the question asks for a credit one of its documents gives.

    >>> credits("界面新闻记者 | 肖芳\\n\\n界面新闻编辑 | 文姝琪\\n\\n2月初，…")
    [Credit(role='reporter', start=9, end=11), Credit(role='editor', start=22, end=25)]

Chinese news articles carry a byline of "role | name" lines ("记者 | 肖芳", "编辑 | 苏建勋",
"文 | 周鑫雨"), or a closing credit line ("本文作者为…"); English ones a "By …" or "Editor: …"
line. A reader trained on encyclopaedic paragraphs has never seen one: asked who edited an
article it names whoever the passage mentions (seeds dev: the reporter for the editor, a quoted
executive, an interviewee: 3 of 3 such questions wrong). A question for an article's author,
reporter or editor is answered from the byline of the best-ranked retrieved document that
credits that role; one with no byline falls through to the readers. Traditional script is read
as Simplified (`rag.script.fold`, which keeps offsets).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.compose import AnswerResult, lead
from rag.answer.question import AnswerType
from rag.script import HAN, fold
from rag.store import Store
from rag.types import Citation

# A byline is read, not inferred; with three such questions in the dev gold there is nothing to
# calibrate on, so a credit found is answered as surely as the readers' surest answers.
CREDIT_CONFIDENCE = 0.95

# Byline labels by role, longest first (责任编辑 before 编辑). "文" alone is a byline label only at
# the start of a line ("文 | 周鑫雨"); after an outlet's name it is a word ("中文", "原文").
_LABELS = {"editor": "责任编辑|责编|编辑", "reporter": "记者", "author": "作者|撰文|撰稿|文"}
_ROLE_OF = {label: role for role, labels in _LABELS.items() for label in labels.split("|")}
_LABEL = "|".join(sorted(_ROLE_OF, key=len, reverse=True))
# "界面新闻记者 | 肖芳", "> 编辑：苏建勋", "文/周鑫雨"; several on a line ("文 | 甲 编辑 | 乙").
_SEP = r"[ \t]*[|｜:：/][ \t]*"
_OUTLET = r"[^\s|｜:：/]{0,10}?"
_BYLINE = re.compile(
    rf"(?:^|(?<=[ \t]))[> \t]*(?P<outlet>{_OUTLET})(?P<label>{_LABEL}){_SEP}"
    rf"(?P<name>[^\n|｜:：/]{{1,40}}?)(?=[ \t]+{_OUTLET}(?:{_LABEL}){_SEP}|[ \t]*$)",
    re.MULTILINE,
)
# "本文作者为日本经济新闻（日经中文网）藤野逸郎 广州": the whole credit, as written.
_CREDIT_LINE = re.compile(
    rf"^[> \t]*(?:本文|该文|文章)(?P<label>{_LABEL})(?:为|是|：|:)[ \t]*"
    r"(?P<name>[^\n]{2,40}?)[ \t]*$",
    re.MULTILINE,
)
# "By Jane Doe", "Edited by Li Wei", "Reporter: Ann Lee": a line of its own, the name capitalised
# (a sentence that opens with "By" runs on: "By 2025, …", "By contrast, the market…").
_EN_LABELS = {
    "author": "by|written by|author",
    "reporter": "reported by|reporter",
    "editor": "edited by|editing by|editor",
}
_EN_ROLE_OF = {label: role for role, labels in _EN_LABELS.items() for label in labels.split("|")}
_EN_LABEL = "|".join(sorted(_EN_ROLE_OF, key=len, reverse=True))
_EN_BYLINE = re.compile(
    rf"^[> \t]*(?P<label>{_EN_LABEL})\b[ \t]*:?[ \t]*"
    r"(?P<name>[A-Z][\w.'-]*(?:[ \t]+(?:[A-Z][\w.'-]*|and|de|van|von|der|la|du))*)[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
_OUTLET_ALIAS = re.compile(r"[^\n（(]{2,20}[（(][^）)\n]{1,20}[）)][ \t]*")
_DATELINE = re.compile(f"[ \\t]+[{HAN}]{{2,3}}(?:报道|电)?$")
# What a question asks for, per role: its words in either language. An author is also credited
# as the article's reporter (a reporter writes the report), an editor only as its editor.
_ASKS = {
    "editor": re.compile(r"编辑|责编|\beditor|\bedited\b", re.IGNORECASE),
    "reporter": re.compile(r"记者|\breporter|\bjournalist|\bcorrespondent", re.IGNORECASE),
    "author": re.compile(
        r"作者|谁写|撰写|执笔|撰文|写的|\bauthor|\bwr[io]te\b|\bwritten\b|\bwriter", re.IGNORECASE
    ),
}
_ACCEPTS = {"editor": ("editor",), "reporter": ("reporter",), "author": ("author", "reporter")}
# An author is asked of many things (a book, a report quoted); only a piece of writing the
# articles are is answered from their bylines. An editor or reporter is always the article's.
_ARTICLE = re.compile(
    r"这篇|本文|该文|文章|一文|报道|稿件|专栏|\barticle|\bstory\b|\bpiece\b|\bpost\b|\breport\b|"
    r"\bcolumn\b|\bblog\b",
    re.IGNORECASE,
)
_WHO = re.compile(r"谁|哪位|叫什么|名字|\bwho\b|\bwhich\b|\bname\b", re.IGNORECASE)


@dataclass(frozen=True)
class Credit:
    role: str  # "author", "reporter" or "editor"
    start: int  # the name's characters in the document
    end: int


def credits(text: str) -> list[Credit]:
    """The roles a document's byline credits, each with its name's offsets, in reading order."""
    found = []
    for m in _BYLINE.finditer(text):
        if m.group("label") == "文" and m.group("outlet"):
            continue
        found.append(Credit(_ROLE_OF[m.group("label")], *m.span("name")))
    for m in _CREDIT_LINE.finditer(text):
        a, b = m.span("name")
        # "日本经济新闻（日经中文网）藤野逸郎 广州": the outlet, its alias in brackets, the name and
        # the dateline's city; the name alone where both ends are so written.
        outlet = _OUTLET_ALIAS.match(text, a, b)
        if outlet and b - outlet.end() >= 2:
            a = outlet.end()
        city = _DATELINE.search(text, a, b)
        if city and city.start() - a >= 2:
            b = city.start()
        found.append(Credit(_ROLE_OF[m.group("label")], a, b))
    for m in _EN_BYLINE.finditer(text):
        if m.group("name")[0].isupper():  # the pattern ignores case for its labels only
            found.append(Credit(_EN_ROLE_OF[m.group("label").lower()], *m.span("name")))
    # "本文作者：张三" is both a byline and a credit line: one credit.
    return sorted({c.start: c for c in found}.values(), key=lambda c: c.start)


def asked_roles(question: str) -> tuple[str, ...]:
    """The byline roles that answer a question, most specific first; () for other questions."""
    if not _WHO.search(question):
        return ()
    roles: list[str] = []
    for role in ("editor", "reporter", "author"):
        if _ASKS[role].search(question) and (role != "author" or _ARTICLE.search(question)):
            roles += [r for r in _ACCEPTS[role] if r not in roles]
    return tuple(roles)


def _line(text: str, start: int, end: int) -> tuple[int, int]:
    """The line holding [start, end), without its quoting marks and spaces."""
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    b = len(text) if b < 0 else b
    while a < start and text[a] in "> \t":
        a += 1
    return a, b


def credited(question: str, result: AnswerResult, index: Store) -> AnswerResult | None:
    """`result` (the rules', whose ranking orders the documents) answered from the byline of
    its best-ranked document to credit the role asked for; None when the question asks for no
    credit or no document gives it."""
    roles = asked_roles(question)
    found = _credit(roles, [r.doc_id for r in result.ranking], index) if roles else None
    if found is None:
        return None
    name, cited = found
    return AnswerResult(
        f"{name} [1]",
        False,
        CREDIT_CONFIDENCE,
        AnswerType.WHO.value,
        [cited],
        result.evidence,
        lead(result.ranking, lambda r: r.doc_id == cited.doc_id),
    )


def _credit(
    roles: tuple[str, ...], doc_ids: Sequence[str], index: Store
) -> tuple[str, Citation] | None:
    """The name the byline of the first of `doc_ids` (best first) to credit one of `roles`
    (`asked_roles`, most specific first) gives, with its byline line as the citation."""
    for doc_id in dict.fromkeys(doc_ids):
        doc = index.documents[doc_id]
        found = credits(fold(doc.text))
        for role in roles:
            hit = next((c for c in found if c.role == role), None)
            if hit is not None:
                a, b = _line(doc.text, hit.start, hit.end)
                return doc.text[hit.start : hit.end], Citation.of(1, doc, a, b)
    return None
