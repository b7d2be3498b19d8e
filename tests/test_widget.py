"""The chat widget (GET /widget.js, GET /) in a real browser against real `rag serve` processes.

Debian's chromium drives the pages (Playwright's own browser download is not used), one browser per
module, a fresh context (so fresh sessionStorage) per test. Nothing sleeps blind: every wait is a
Playwright auto-waiting assertion with a timeout.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    Dialog,
    Locator,
    Page,
    Request,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "api" / "static"
SHOTS = ROOT / "artifacts" / "screenshots"  # docs/ holds copies of these for the README
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
MOBILE: ViewportSize = {"width": 360, "height": 740}
ANSWER_MS = 20_000  # a first question loads the embedder; later ones take milliseconds
CSP = "default-src 'self'; script-src 'self'"

MEXICO = "Which clouds are building datacentres in Mexico?"
IFLYTEK = "科大讯飞新加坡办公室什么时候开业？"
OUTSIDE = "What is the capital of Australia?"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (./dev test installs it)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def launcher(page: Page, name: str = "Ask the articles") -> Locator:
    return page.locator("rag-chat").get_by_role("button", name=name, exact=True)


def question_box(page: Page, label: str = "Your question") -> Locator:
    return page.locator("rag-chat").get_by_label(label)


def replies(page: Page) -> Locator:
    return page.locator("rag-chat .reply")


def viewer(page: Page) -> Locator:
    """The source viewer (one per widget, over the conversation)."""
    return page.locator("rag-chat .viewer")


def ask(page: Page, question: str) -> None:
    """Type into the open widget and press Enter, as a person would."""
    question_box(page).fill(question)
    question_box(page).press("Enter")


def ask_and_capture(page: Page, question: str) -> dict[str, Any]:
    """Ask and return the /ask response the widget received."""
    with page.expect_response(lambda r: r.url.endswith("/ask"), timeout=ANSWER_MS) as info:
        ask(page, question)
    return info.value.json()


def shoot(page: Page, name: str) -> None:
    """Screenshot with the last question at the top of the conversation and its answer below."""
    page.locator("rag-chat .msg.user").last.evaluate(
        """el => { const log = el.parentElement;
        log.scrollTop += el.getBoundingClientRect().top - log.getBoundingClientRect().top - 12; }"""
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))


def test_demo_example_answers_with_citation_chips_that_open_the_quote(
    page: Page, seed_server: Any
) -> None:
    page.goto(f"{seed_server.url}/")
    with page.expect_response(lambda r: r.url.endswith("/ask"), timeout=ANSWER_MS) as info:
        page.get_by_role("button", name=MEXICO).click()  # a demo-page example, outside the widget
    data = info.value.json()
    reply = replies(page).last
    expect(reply).to_be_visible(timeout=ANSWER_MS)
    chips = reply.locator(".chip")
    expect(chips.first).to_be_visible()

    shoot(page, "widget-desktop.png")
    first = data["citations"][0]
    chips.first.click()
    card = viewer(page)
    expect(card.locator("h3")).to_have_text(first["title"] or "Untitled article")
    expect(card.locator("mark")).to_have_text(first["quote"])
    doc = httpx.get(f"{seed_server.url}/documents/{first['doc_id']}").json()
    before = re.sub(r"\s+", " ", doc["text"][max(0, first["start"] - 20) : first["start"]])
    expect(card.locator(".doc")).to_contain_text(before)  # the quote in its article
    href = first["url"] or f"{seed_server.url}/documents/{first['doc_id']}"
    expect(card.get_by_role("link", name="Open the source")).to_have_attribute("href", href)

    card.get_by_role("button", name="Back to the chat").click()
    expect(card).to_have_count(0)
    expect(chips.first).to_be_focused()  # focus goes back to the citation that opened it
    assert chips.count() >= 2, (
        f"answer {data['answer']!r} shows {chips.count()} citation chip(s); the Mexico question "
        "needs two sources (阿里云 and 亚马逊云科技)"
    )


def test_waiting_shows_a_typing_indicator_and_blocks_a_second_submit(
    page: Page, seed_server: Any
) -> None:
    held: list[Route] = []
    page.route(
        "**/ask", lambda route: held.append(route)
    )  # hold the request until the test has looked
    page.goto(f"{seed_server.url}/")
    launcher(page).click()
    ask(page, MEXICO)
    expect(page.locator("rag-chat .typing")).to_be_visible()
    expect(page.locator("rag-chat").get_by_role("button", name="Send")).to_be_disabled()
    ask(page, OUTSIDE)  # Enter again while waiting: ignored, the text stays for later
    expect(page.locator("rag-chat .msg.user")).to_have_count(1)
    expect(question_box(page)).to_have_value(OUTSIDE)
    assert len(held) == 1
    held[0].continue_()
    expect(replies(page)).to_have_count(1, timeout=ANSWER_MS)
    expect(page.locator("rag-chat .typing")).to_have_count(0)
    expect(page.locator("rag-chat").get_by_role("button", name="Send")).to_be_enabled()


def test_abstention_says_not_found_and_offers_related_passages(
    page: Page, seed_server: Any
) -> None:
    page.goto(f"{seed_server.url}/")
    launcher(page).click()
    data = ask_and_capture(page, OUTSIDE)
    assert data["abstained"], f"the service answered {data['answer']!r} to {OUTSIDE!r}"
    reply = replies(page).last
    expect(reply).to_contain_text("couldn't find that in the articles", timeout=ANSWER_MS)
    related = reply.locator(".rel")
    expect(related).to_have_count(min(3, len(data["passages"])))
    related.first.click()
    expect(viewer(page).locator("mark")).to_have_text(data["passages"][0]["text"])


def test_markup_from_the_server_is_shown_as_text_and_never_runs(
    browser: Browser, server_factory: Any, index_copy: Path
) -> None:
    server = server_factory(index_copy, {"RAG_ADMIN_TOKEN": "t0k", "RAG_RATE_LIMIT": "0"}).start()
    text = (
        "The Quillmere Lighthouse stands on the northern cape of Varrow Island. "
        "<img src=x onerror=alert(1)> The keeper of the Quillmere Lighthouse is Odalys Brenn, "
        "who has tended its lamp since 2019. <script>alert(2)</script> Visitors may climb its "
        "212 steps on Sundays."
    )
    title = "Quillmere <b>Lighthouse</b> <img src=x onerror=alert(3)>"
    doc = {"doc_id": "xss-probe", "title": title, "url": "javascript:alert(4)", "text": text}
    auth = {"Authorization": "Bearer t0k"}
    r = httpx.post(f"{server.url}/documents", json=doc, headers=auth, timeout=60)
    if r.status_code == 422:  # the API may refuse a javascript: url; the rest still applies
        doc.pop("url")
        r = httpx.post(f"{server.url}/documents", json=doc, headers=auth, timeout=60)
    assert r.status_code == 201, r.text

    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:  # an alert() from injected markup would land here
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(f"{server.url}/")
    launcher(page).click()
    ask(page, "Who is the keeper of the Quillmere Lighthouse?")
    reply = replies(page).last
    expect(reply).to_be_visible(timeout=ANSWER_MS)
    reply.locator(".chip, .rel").first.click()  # a citation, or a related passage on abstention
    card = viewer(page)
    expect(card).to_contain_text("<img src=x onerror=alert(1)>")
    expect(card).to_contain_text("<script>alert(2)</script>")  # in the article around the quote
    expect(card.locator("h3")).to_have_text(title)
    href = card.locator("a").first.get_attribute("href") or ""
    assert href.startswith(server.url), f"unsafe source link {href!r}"
    injected = page.evaluate(
        "document.querySelector('rag-chat').shadowRoot.querySelectorAll('img, script, b').length"
    )
    assert injected == 0
    assert dialogs == []
    context.close()


def test_network_loss_shows_an_error_with_retry_that_recovers_after_restart(
    page: Page, server_factory: Any, index_copy: Path
) -> None:
    env = {"RAG_RATE_LIMIT": "0"}
    server = server_factory(index_copy, env).start()
    page.goto(f"{server.url}/")
    launcher(page).click()
    ask(page, MEXICO)
    expect(replies(page)).to_have_count(1, timeout=ANSWER_MS)

    server.kill9()
    ask(page, IFLYTEK)
    error = page.locator("rag-chat .error")
    expect(error).to_contain_text("Couldn't reach the server")
    retry = page.locator("rag-chat").get_by_role("button", name="Retry")
    expect(retry).to_be_visible()

    server_factory(index_copy, env, port=server.port).start()
    retry.click()
    expect(replies(page)).to_have_count(2, timeout=ANSWER_MS)
    expect(error).to_have_count(0)
    expect(page.locator("rag-chat .msg.user")).to_have_count(2)  # the retry asked no new question


def test_rate_limit_and_server_errors_show_a_message_and_retry(
    page: Page, seed_server: Any
) -> None:
    failures = [429, 503, 500]  # then the real server answers

    def flaky(route: Route, request: Request) -> None:
        if failures:
            route.fulfill(status=failures.pop(0), json={"detail": "injected by the test"})
        else:
            route.continue_()

    page.route("**/ask", flaky)
    page.goto(f"{seed_server.url}/")
    launcher(page).click()
    ask(page, MEXICO)
    error = page.locator("rag-chat .error")
    retry = page.locator("rag-chat").get_by_role("button", name="Retry")
    for message in ("Too many questions", "starting up", "ran into a problem"):
        expect(error).to_contain_text(message)
        retry.click()
    expect(replies(page)).to_have_count(1, timeout=ANSWER_MS)
    expect(error).to_have_count(0)


def test_keyboard_only_use(page: Page, seed_server: Any) -> None:
    page.goto(f"{seed_server.url}/")
    button = launcher(page)
    for _ in range(40):  # Tab through the demo page until the launcher has focus
        page.keyboard.press("Tab")
        if button.evaluate("el => el.getRootNode().activeElement === el"):
            break
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")

    page.keyboard.press("Enter")
    dialog = page.locator("rag-chat").get_by_role("dialog", name="Ask the articles")
    expect(dialog).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(dialog.get_by_role("log")).to_have_attribute("aria-live", "polite")
    expect(question_box(page)).to_be_focused()
    page.keyboard.type(MEXICO)
    page.keyboard.press("Enter")
    expect(replies(page)).to_have_count(1, timeout=ANSWER_MS)
    expect(question_box(page)).to_be_focused()

    chip = replies(page).locator(".chip").last
    for _ in range(10):  # Shift+Tab back from the input to the answer's last chip
        page.keyboard.press("Shift+Tab")
        if chip.evaluate("el => el.getRootNode().activeElement === el"):
            break
    expect(chip).to_be_focused()
    page.keyboard.press("Enter")
    expect(viewer(page).locator("mark")).to_be_visible()
    expect(viewer(page).get_by_role("button", name="Back to the chat")).to_be_focused()

    page.keyboard.press("Escape")  # the viewer closes first, and the citation has focus again
    expect(viewer(page)).to_have_count(0)
    expect(chip).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")


def test_fits_a_360px_screen_without_horizontal_scroll(browser: Browser, seed_server: Any) -> None:
    context = browser.new_context(viewport=MOBILE)
    page = context.new_page()
    page.goto(f"{seed_server.url}/")
    page.get_by_role("button", name=IFLYTEK).click()
    reply = replies(page).last
    expect(reply).to_be_visible(timeout=ANSWER_MS)
    reply.locator(".chip, .rel").first.click()
    expect(viewer(page).locator("mark")).to_be_visible()

    dialog = page.locator("rag-chat").get_by_role("dialog", name="Ask the articles")
    box = dialog.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= MOBILE["width"], box
    assert box["y"] >= 0 and box["y"] + box["height"] <= MOBILE["height"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
    log = dialog.get_by_role("log")
    assert log.evaluate("el => el.scrollWidth <= el.clientWidth")
    shoot(page, "widget-mobile.png")
    page.screenshot(path=str(SHOTS / "viewer-mobile.png"))
    context.close()


def test_history_survives_a_reload(page: Page, seed_server: Any) -> None:
    page.goto(f"{seed_server.url}/")
    launcher(page).click()
    ask(page, MEXICO)
    expect(replies(page)).to_have_count(1, timeout=ANSWER_MS)
    answer = replies(page).locator(".answer").inner_text()
    chips = replies(page).locator(".chip").count()

    page.reload()
    expect(page.locator("rag-chat .msg.user")).to_contain_text([MEXICO])
    expect(replies(page).locator(".answer")).to_have_text(answer)
    expect(replies(page).locator(".chip")).to_have_count(chips)
    replies(page).locator(".chip").first.click()  # and the restored chips still work
    expect(viewer(page).locator("mark")).to_be_visible()


def test_works_under_a_strict_content_security_policy(page: Page, seed_server: Any) -> None:
    def with_csp(route: Route) -> None:
        response = route.fetch()
        route.fulfill(
            response=response, headers={**response.headers, "content-security-policy": CSP}
        )

    page.add_init_script(
        "addEventListener('securitypolicyviolation', e =>"
        " (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI), true)"
    )
    page.route(f"{seed_server.url}/", with_csp)
    page.goto(f"{seed_server.url}/")
    page.get_by_role("button", name=MEXICO).click()
    reply = replies(page).last
    expect(reply).to_be_visible(timeout=ANSWER_MS)
    reply.locator(".chip").first.click()
    expect(viewer(page).locator("mark")).to_be_visible()
    # The widget's styles (a constructed stylesheet) apply under the policy.
    expect(launcher(page)).to_have_css("position", "fixed")
    assert page.evaluate("window.__csp || []") == []


@contextmanager
def host_page(html: str) -> Iterator[str]:
    """A third-party page on its own origin (another loopback port), serving `html`."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            body = html.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_ui_follows_a_chinese_host_page_on_another_origin(page: Page, seed_server: Any) -> None:
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>宿主页面</title>'
        f'<script src="{seed_server.url}/widget.js" defer></script></head>'
        "<body><p>宿主页面的内容。</p></body></html>"
    )
    with host_page(html) as host:
        page.goto(f"{host}/article.html")
        launcher(page, "问问文章").click()
        expect(page.locator("rag-chat").get_by_role("dialog", name="问问文章")).to_be_visible()
        box = question_box(page, "你的问题")
        box.fill(IFLYTEK)
        box.press("Enter")  # no data-endpoint: the widget asks the server it was loaded from
        reply = replies(page).last
        expect(reply).to_be_visible(timeout=ANSWER_MS)
        expect(reply.locator(".chip, .rel").first).to_be_visible()
        expect(page.locator("rag-chat").get_by_role("button", name="发送")).to_be_visible()


def test_widget_script_is_small_and_never_parses_strings_as_html() -> None:
    source = (STATIC / "widget.js").read_text("utf-8")
    raw = source.encode("utf-8")
    # Measured at issue 18 (viewer, feedback, follow-ups, three languages): about 40 KB raw and
    # 11 KB gzipped; the bounds leave room, not a licence to double it.
    assert len(raw) < 48_000, len(raw)
    assert len(gzip.compress(raw, 9)) < 14_000
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "Function(",
    ):
        assert sink not in source, sink
    assert not re.search(r"setAttribute\(\s*[\"'](style|on\w+)[\"']", source)
    assert not re.search(r"\.style\.", source)


# -- issue 18: a chat that converses ----------------------------------------------------------
PERPLEXITY = "Perplexity的估值达到多少？"
ITS_CEO = "它的CEO是谁？"
GEN3 = "What is the price of the Gen3 AI ring?"
ITS_PARENT = "What is its parent company valued at?"


def ask_and_capture_request(page: Page, question: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ask; return the /ask request body the widget sent and the response it got."""
    with page.expect_response(lambda r: r.url.endswith("/ask"), timeout=ANSWER_MS) as info:
        ask(page, question)
    response = info.value
    return json.loads(response.request.post_data or "{}"), response.json()


@pytest.mark.parametrize(
    ("first", "follow_up", "expected"),
    [(GEN3, ITS_PARENT, "25.5亿美元"), (PERPLEXITY, ITS_CEO, "Aravind Srinivas")],
    ids=["en", "zh"],
)
def test_a_follow_up_is_sent_with_the_conversation_and_shows_how_it_was_read(
    page: Page, seed_server: Any, first: str, follow_up: str, expected: str
) -> None:
    page.goto(f"{seed_server.url}/")
    launcher(page).click()
    sent, before = ask_and_capture_request(page, first)
    assert sent["history"] == []
    expect(replies(page)).to_have_count(1, timeout=ANSWER_MS)
    expect(replies(page).last.locator(".readas")).to_have_count(0)  # nothing to read into

    sent, data = ask_and_capture_request(page, follow_up)
    answer = "" if before["abstained"] else before["answer"]
    assert sent["history"] == [{"question": first, "answer": answer}]
    reply = replies(page).last
    expect(reply).to_be_visible(timeout=ANSWER_MS)
    assert data["resolved_question"] != follow_up, data["resolved_question"]
    expect(reply.locator(".readas")).to_contain_text(data["resolved_question"])
    expect(reply.locator(".answer")).to_contain_text(expected)


def test_a_citation_opens_the_article_at_the_quote_and_its_permalink_opens_it_again(
    browser: Browser, page: Page, seed_server: Any
) -> None:
    page.goto(f"{seed_server.url}/")
    launcher(page).click()
    data = ask_and_capture(page, MEXICO)
    citation = data["citations"][-1]
    replies(page).last.locator(".chip").last.click()
    view = viewer(page)
    mark = view.locator("mark")
    expect(mark).to_have_text(citation["quote"])
    doc = httpx.get(f"{seed_server.url}/documents/{citation['doc_id']}").json()
    assert doc["text"][citation["start"] : citation["end"]] == mark.text_content()
    expect(view.locator("h3")).to_have_text(doc["title"])
    if doc["published"]:
        expect(view.locator("time")).to_have_attribute("datetime", doc["published"])
    # Scrolled to the quote: the highlighted range is inside the visible part of the article.
    box, pane = mark.bounding_box(), view.locator(".doc").bounding_box()
    assert box and pane and pane["y"] <= box["y"] <= pane["y"] + pane["height"], (box, pane)
    page.screenshot(path=str(SHOTS / "viewer-desktop.png"))

    link = view.locator("a.permalink").get_attribute("href") or ""
    assert f"start={citation['start']}" in link and f"end={citation['end']}" in link, link
    context = browser.new_context(viewport=DESKTOP)
    other = context.new_page()
    other.goto(link)
    expect(other.locator("rag-chat .viewer mark")).to_have_text(citation["quote"])
    context.close()


def test_copy_link_puts_the_permalink_on_the_clipboard(browser: Browser, seed_server: Any) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=seed_server.url)
    page = context.new_page()
    page.goto(f"{seed_server.url}/")
    launcher(page).click()
    ask_and_capture(page, IFLYTEK)
    replies(page).last.locator(".chip").first.click()
    view = viewer(page)
    view.get_by_role("button", name="Copy link").click()
    expect(view.get_by_role("status")).to_have_text("Link copied")
    link = view.locator("a.permalink").get_attribute("href")
    assert page.evaluate("navigator.clipboard.readText()") == link
    context.close()


def test_a_long_article_opens_quickly_as_a_window_around_the_quote(
    page: Page, seed_server: Any
) -> None:
    # The API caps a document at 64 KiB, so this article (2 million characters, what a crawled
    # report can reach when ingested from files) comes from the test instead of the index.
    text = "".join(f"第{i}段：出海的中国AI企业在各地建设数据中心。\n" for i in range(80_000))
    start = text.index("第40000段")
    end = start + len("第40000段")
    body = {"doc_id": "long", "title": "A long article", "url": None, "published": None}
    page.route("**/documents/long", lambda route: route.fulfill(json={**body, "text": text}))
    page.goto(f"{seed_server.url}/")
    page.evaluate(f"document.querySelector('rag-chat').view('long', {start}, {end})")
    expect(viewer(page).locator("mark")).to_have_text("第40000段")
    rendered = viewer(page).locator(".doc").evaluate("el => el.textContent.length")
    assert rendered < 50_000, rendered  # a window, not the whole article
    viewer(page).get_by_role("button", name="Show later text").click()
    expect(viewer(page).locator("mark")).to_have_text("第40000段")
    assert viewer(page).locator(".doc").evaluate("el => el.textContent.length") > rendered


def test_a_thumbs_down_with_a_comment_is_stored_and_exported(page: Page, seed_server: Any) -> None:
    page.goto(f"{seed_server.url}/")
    launcher(page).click()
    data = ask_and_capture(page, OUTSIDE)
    reply = replies(page).last
    expect(reply).to_be_visible(timeout=ANSWER_MS)
    down = reply.get_by_role("button", name="Not helpful")
    expect(down).to_have_attribute("aria-pressed", "false")
    down.click()
    comment = reply.get_by_label("What was wrong or missing? (optional)")
    expect(comment).to_be_focused()
    comment.fill("The articles say nothing about Australia: say so faster.")
    comment.press("Enter")
    expect(reply.get_by_role("status")).to_have_text("Thanks for the feedback.")
    expect(down).to_have_attribute("aria-pressed", "true")

    auth = {"Authorization": "Bearer test-token"}
    lines = httpx.get(f"{seed_server.url}/feedback", headers=auth).text.splitlines()
    stored = [json.loads(line) for line in lines]
    mine = [f for f in stored if f["question"] == OUTSIDE and f["vote"] == "down"]
    assert mine, stored
    assert mine[-1]["comment"] == "The articles say nothing about Australia: say so faster."
    assert mine[-1]["answer"] == ("" if data["abstained"] else data["answer"])
    assert mine[-1]["created"].endswith("Z") and mine[-1]["id"]


def test_options_language_title_position_and_colours(page: Page, seed_server: Any) -> None:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>host</title>'
        "<style>rag-chat { --rag-accent: rgb(10, 120, 30); }</style>"
        f'<script src="{seed_server.url}/widget.js" data-lang="zh-Hant" data-title="文章助手" '
        'data-position="bottom-left" defer></script></head><body><p>An English page.</p></body>'
        "</html>"
    )
    with host_page(html) as host:
        page.goto(f"{host}/")
        button = launcher(page, "文章助手")
        expect(button).to_have_css("background-color", "rgb(10, 120, 30)")
        box = button.bounding_box()
        assert box is not None and box["x"] < DESKTOP["width"] / 2, box  # bottom-left
        button.click()
        expect(page.locator("rag-chat").get_by_role("dialog", name="文章助手")).to_be_visible()
        expect(page.locator("rag-chat").get_by_role("button", name="發送")).to_be_visible()
        box = question_box(page, "你的問題")
        box.fill("科大訊飛新加坡辦公室是哪天開業的？")
        box.press("Enter")
        reply = replies(page).last
        expect(reply.locator(".answer")).to_contain_text("5月10日", timeout=ANSWER_MS)
        expect(reply.get_by_role("button", name="有幫助", exact=True)).to_be_visible()
