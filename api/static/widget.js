/* <rag-chat>: the embeddable chat widget of the article QA service (CONTRACT.md, "HTTP API").
 *   <script src="https://host/widget.js" data-endpoint="https://host" defer></script>
 * data-endpoint is optional (default: this script's origin). Options, on the script tag or the
 * element: data-lang (en, zh-Hans, zh-Hant; default: the page's lang), data-title, data-position
 * (bottom-right, bottom-left). Follow-ups are sent with the conversation so far (`history`) and
 * the reply shows how the service read them; a citation opens the article in a viewer at the
 * quote, with a permalink (#rag-doc=ID&start=S&end=E on the demo page); each answer takes a
 * thumbs up or down (POST /feedback). No framework: a custom element with a
 * shadow root keeps the host's CSS out and ours in; styles come from a constructed stylesheet
 * (adoptedStyleSheets), so a strict Content-Security-Policy needs no 'unsafe-inline'. No eval, no
 * inline handlers, no style attributes. Every string from the server goes in as text, never HTML:
 * the corpus holds HTML, and anyone with the admin token can ingest more.
 * API: el.ask(question) -> Promise, el.open(), el.close(), el.clear(), el.view(doc_id, start, end);
 * any host-page element with data-rag-ask="question" asks it when clicked.
 * Theme: rag-chat { --rag-accent: #b4232a; --rag-bg; --rag-fg; --rag-muted; --rag-mark; }
 */
(() => {
  "use strict";
  if (!window.customElements || customElements.get("rag-chat")) return;

  const script = document.currentScript;
  const scriptOrigin = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  const DEFAULT_ENDPOINT = (script && script.dataset.endpoint) || scriptOrigin;

  const WINDOW = 20000; // characters of an article rendered either side of a quote, at first
  const RELATED = 3; // passages offered when the service abstains
  const HISTORY = 10; // turns sent with a question (the contract's limit)
  const FIELD = 1000; // characters of one history field (the contract's limit)
  const SNIPPET = 110; // characters of a related passage shown before it is opened
  const MAX_MESSAGES = 60; // kept in sessionStorage; older ones are dropped
  const TIMEOUT_MS = 30000; // a request slower than this counts as a network error
  const ERRORS = ["network", "rate", "busy", "server", "bad"]; // keys of STRINGS below

  const STRINGS = {
    en: {
      title: "Ask the articles",
      subtitle: "Answers are quoted from the articles, with their sources.",
      launcher: "Ask the articles",
      close: "Close",
      clear: "New chat",
      clearLabel: "Start a new conversation",
      log: "Conversation",
      welcome: "Ask me about the articles, in English or Chinese. Every answer links to its source.",
      inputLabel: "Your question",
      placeholder: "Ask a question…",
      send: "Send",
      you: "You:",
      bot: "Answer:",
      typing: "Searching the articles…",
      notFound: "Sorry, I couldn't find that in the articles.",
      related: "Related passages:",
      readAs: "Read as:",
      source: (n, title) => `Source ${n}: ${title}`,
      passage: (title) => `Related passage: ${title}`,
      openSource: "Open the source",
      untitled: "Untitled article",
      docError: "Couldn't load the article; showing the quote alone.",
      viewer: "Source article",
      back: "Back to the chat",
      permalink: "Link to this passage",
      copyLink: "Copy link",
      copied: "Link copied",
      earlier: "Show earlier text",
      later: "Show later text",
      loading: "Loading the article…",
      feedback: "Was this answer helpful?",
      up: "Helpful",
      down: "Not helpful",
      comment: "What was wrong or missing? (optional)",
      sendFeedback: "Send feedback",
      thanks: "Thanks for the feedback.",
      feedbackError: "Couldn't send the feedback. Please try again.",
      retry: "Retry",
      network: "Couldn't reach the server. Check the connection and try again.",
      rate: "Too many questions in a short time. Please wait a moment and try again.",
      busy: "The service is starting up. Please try again in a moment.",
      server: "The server ran into a problem. Please try again.",
      bad: "That question couldn't be processed. Try rephrasing it.",
    },
    "zh-Hans": {
      title: "问问文章",
      subtitle: "答案摘自文章原文，并附出处。",
      launcher: "问问文章",
      close: "关闭",
      clear: "新对话",
      clearLabel: "开始新的对话",
      log: "对话记录",
      welcome: "可以用中文或英文提问文章里的内容，每个答案都附有出处。",
      inputLabel: "你的问题",
      placeholder: "请输入问题…",
      send: "发送",
      you: "你：",
      bot: "回答：",
      typing: "正在检索文章…",
      notFound: "抱歉，文章中没有找到相关答案。",
      related: "相关段落：",
      readAs: "理解为：",
      source: (n, title) => `出处 ${n}：${title}`,
      passage: (title) => `相关段落：${title}`,
      openSource: "查看原文",
      untitled: "无标题文章",
      docError: "无法加载文章，仅显示引文。",
      viewer: "出处文章",
      back: "返回对话",
      permalink: "这段引文的链接",
      copyLink: "复制链接",
      copied: "链接已复制",
      earlier: "显示前文",
      later: "显示后文",
      loading: "正在加载文章…",
      feedback: "这个回答有帮助吗？",
      up: "有帮助",
      down: "没有帮助",
      comment: "哪里不对或缺了什么？（可不填）",
      sendFeedback: "提交反馈",
      thanks: "感谢你的反馈。",
      feedbackError: "反馈发送失败，请重试。",
      retry: "重试",
      network: "无法连接服务器，请检查网络后重试。",
      rate: "提问太频繁了，请稍等片刻再试。",
      busy: "服务正在启动，请稍后再试。",
      server: "服务器出错了，请重试。",
      bad: "无法处理这个问题，请换个说法再试。",
    },
    "zh-Hant": {
      title: "問問文章",
      subtitle: "答案摘自文章原文，並附出處。",
      launcher: "問問文章",
      close: "關閉",
      clear: "新對話",
      clearLabel: "開始新的對話",
      log: "對話記錄",
      welcome: "可以用中文或英文提問文章裡的內容，每個答案都附有出處。",
      inputLabel: "你的問題",
      placeholder: "請輸入問題…",
      send: "發送",
      you: "你：",
      bot: "回答：",
      typing: "正在檢索文章…",
      notFound: "抱歉，文章中沒有找到相關答案。",
      related: "相關段落：",
      readAs: "理解為：",
      source: (n, title) => `出處 ${n}：${title}`,
      passage: (title) => `相關段落：${title}`,
      openSource: "查看原文",
      untitled: "無標題文章",
      docError: "無法載入文章，僅顯示引文。",
      viewer: "出處文章",
      back: "返回對話",
      permalink: "這段引文的連結",
      copyLink: "複製連結",
      copied: "連結已複製",
      earlier: "顯示前文",
      later: "顯示後文",
      loading: "正在載入文章…",
      feedback: "這個回答有幫助嗎？",
      up: "有幫助",
      down: "沒有幫助",
      comment: "哪裡不對或缺了什麼？（可不填）",
      sendFeedback: "提交回饋",
      thanks: "感謝你的回饋。",
      feedbackError: "回饋發送失敗，請重試。",
      retry: "重試",
      network: "無法連接伺服器，請檢查網路後重試。",
      rate: "提問太頻繁了，請稍等片刻再試。",
      busy: "服務正在啟動，請稍後再試。",
      server: "伺服器出錯了，請重試。",
      bad: "無法處理這個問題，請換個說法再試。",
    },
  };
  // A page language to one of STRINGS' keys: zh-TW, zh-HK, zh-Hant-* read Traditional.
  function pickLang(value) {
    const v = String(value || "").toLowerCase();
    if (!v.startsWith("zh")) return "en";
    return /hant|tw|hk|mo/.test(v) ? "zh-Hant" : "zh-Hans";
  }

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.root {
  --accent: var(--rag-accent, #1d5fd1);
  --bg: var(--rag-bg, #ffffff);
  --fg: var(--rag-fg, #1f2328);
  --muted: var(--rag-muted, #5b6472);
  --line: #d9dee5;
  --soft: #f3f5f8;
  --mark: var(--rag-mark, #ffe58a);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB",
    "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif;
  color: var(--fg);
}
button, input { font: inherit; color: inherit; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.launcher {
  position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  display: flex; align-items: center; gap: 8px; min-height: 52px; padding: 0 20px 0 16px;
  border: 0; border-radius: 26px; background: var(--accent); color: #fff; cursor: pointer;
  font-weight: 600; box-shadow: 0 6px 20px rgba(15, 30, 60, .28);
}
.launcher:hover { filter: brightness(1.08); }
.launcher:focus-visible { outline-color: var(--fg); outline-offset: 3px; }
.launcher svg { width: 22px; height: 22px; fill: currentColor; flex: none; }
.launcher[aria-expanded="true"] .i-chat, .launcher[aria-expanded="false"] .i-close { display: none; }
.panel {
  position: fixed; right: 20px; bottom: 84px; z-index: 2147483001;
  display: flex; flex-direction: column; width: 400px; max-width: calc(100vw - 24px);
  height: 620px; max-height: calc(100vh - 104px); overflow: hidden;
  background: var(--bg); border: 1px solid var(--line); border-radius: 14px;
  box-shadow: 0 16px 48px rgba(15, 30, 60, .25);
}
header {
  display: flex; align-items: flex-start; gap: 8px; padding: 12px 12px 10px 16px;
  border-bottom: 1px solid var(--line);
}
.heading { flex: 1; min-width: 0; }
h2 { margin: 0; font-size: 16px; line-height: 1.3; }
.sub { margin: 2px 0 0; font-size: 12.5px; color: var(--muted); }
.tool {
  flex: none; min-width: 36px; height: 36px; padding: 0 10px; border: 1px solid var(--line);
  border-radius: 8px; background: var(--bg); cursor: pointer; font-size: 13px;
}
.tool:hover { background: var(--soft); }
.tool.x { display: grid; place-items: center; padding: 0; }
.tool.x svg { width: 18px; height: 18px; fill: currentColor; }
.log {
  flex: 1; overflow-y: auto; overflow-x: hidden; padding: 14px 14px 6px;
  display: flex; flex-direction: column; gap: 10px; overscroll-behavior: contain;
}
.msg { max-width: 92%; padding: 9px 12px; border-radius: 12px; overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; background: var(--accent); color: #fff; border-bottom-right-radius: 4px; }
.msg.bot { align-self: flex-start; background: var(--soft); border-bottom-left-radius: 4px; }
.msg.note { color: var(--muted); font-size: 14px; }
.msg.error { border: 1px solid #e0a1a1; background: #fff4f4; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.answer { margin: 0; white-space: pre-wrap; }
.chip {
  display: inline-flex; align-items: center; justify-content: center; min-width: 26px; height: 24px;
  margin: 0 2px; padding: 0 7px; vertical-align: 1px; border: 1px solid var(--accent);
  border-radius: 12px; background: var(--bg); color: var(--accent); cursor: pointer;
  font-size: 12.5px; font-weight: 700; line-height: 1;
}
.chip:hover, .chip[aria-expanded="true"] { background: var(--accent); color: #fff; }
.lead { margin: 0 0 6px; }
.related { margin: 0; padding: 0; list-style: none; display: flex; flex-direction: column; gap: 6px; }
.rel {
  display: block; width: 100%; padding: 7px 9px; text-align: left; border: 1px solid var(--line);
  border-radius: 8px; background: var(--bg); cursor: pointer; font-size: 13.5px;
}
.rel:hover, .rel[aria-expanded="true"] { border-color: var(--accent); }
.readas { margin: 4px 0 0; font-size: 12px; color: var(--muted); }
.votes { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-top: 6px; font-size: 12.5px; color: var(--muted); }
.vote {
  min-width: 34px; height: 28px; padding: 0 8px; border: 1px solid var(--line); border-radius: 8px;
  background: var(--bg); cursor: pointer; font-size: 14px; line-height: 1;
}
.vote[aria-pressed="true"] { border-color: var(--accent); background: var(--accent); color: #fff; }
.fb { display: flex; gap: 6px; width: 100%; }
.fb input { height: 32px; font-size: 13px; }
.fb button, .more { flex: none; padding: 0 10px; border: 1px solid var(--accent); border-radius: 8px; background: var(--bg); color: var(--accent); cursor: pointer; font-size: 13px; }
.viewer {
  position: absolute; inset: 0; z-index: 2; display: flex; flex-direction: column;
  background: var(--bg);
}
.viewer header { align-items: center; }
.viewer h3 {
  margin: 0; font-size: 15px; line-height: 1.35; overflow: hidden;
  display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2;
}
.meta { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 12px; padding: 8px 16px; font-size: 12.5px; color: var(--muted); border-bottom: 1px solid var(--line); }
.meta a { color: var(--accent); }
.meta button { padding: 2px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); cursor: pointer; font-size: 12.5px; }
.doc { flex: 1; overflow-y: auto; padding: 12px 16px; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 14.5px; line-height: 1.7; overscroll-behavior: contain; }
.more { display: block; height: 30px; margin: 6px 0; }
mark { background: var(--mark); color: inherit; padding: 0 1px; border-radius: 2px; scroll-margin: 40px; }
.retry {
  margin-top: 8px; padding: 5px 14px; border: 1px solid var(--accent); border-radius: 8px;
  background: var(--accent); color: #fff; cursor: pointer; font-weight: 600;
}
.typing { display: inline-flex; gap: 4px; padding: 4px 0; }
.typing i { width: 7px; height: 7px; border-radius: 50%; background: var(--muted); animation: blink 1.2s infinite; }
.typing i:nth-child(2) { animation-delay: .2s; }
.typing i:nth-child(3) { animation-delay: .4s; }
@keyframes blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
form { display: flex; gap: 8px; padding: 10px 12px 12px; border-top: 1px solid var(--line); }
input {
  flex: 1; min-width: 0; height: 42px; padding: 0 12px; border: 1px solid #aab3bf;
  border-radius: 10px; background: var(--bg);
}
input:focus-visible { outline-offset: 0; border-color: var(--accent); }
.send {
  flex: none; height: 42px; padding: 0 16px; border: 0; border-radius: 10px;
  background: var(--accent); color: #fff; cursor: pointer; font-weight: 600;
}
.send:disabled { opacity: .55; cursor: progress; }
.root.left .launcher { left: 20px; right: auto; }
.root.left .panel { left: 20px; right: auto; }
@media (max-width: 480px) {
  .panel { left: 8px; right: 8px; top: 8px; bottom: 76px; width: auto; height: auto; max-width: none; max-height: none; }
  .launcher, .root.left .launcher { right: 12px; left: auto; bottom: 12px; }
  .root.left .panel { left: 8px; right: 8px; }
  .msg { max-width: 96%; }
}
@media (prefers-reduced-motion: reduce) { .typing i { animation: none; opacity: .7; } }
`;

  let sheet = null; // one constructed stylesheet shared by every widget on the page
  function adoptStyles(root) {
    try {
      sheet = sheet || new CSSStyleSheet();
      if (!sheet.cssRules.length) sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (_) {
      // Browsers without constructable stylesheets: a <style> element (blocked only by strict CSPs).
      root.append(h("style", { text: CSS }));
    }
  }

  // The only way this file builds DOM: attributes via setAttribute, text via text nodes.
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value == null || value === false) continue;
      if (key === "text") el.textContent = value;
      else if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child != null && child !== false) el.append(child); // strings become text nodes
    }
    return el;
  }

  function icon(d, cls) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", cls);
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    svg.append(path);
    return svg;
  }
  const CHAT_ICON = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z";
  const CLOSE_ICON = "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z";

  // Only http(s) links leave the widget: a javascript: URL from the corpus must never be clickable.
  function safeHref(url, fallback) {
    try {
      const u = new URL(String(url), fallback);
      if (u.protocol === "http:" || u.protocol === "https:") return u.href;
    } catch (_) { /* not a URL: use the fallback */ }
    return fallback;
  }

  function formatDate(value, lang) {
    if (!value) return "";
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(value));
    if (!m) return String(value);
    try {
      const date = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
      const locale = lang === "en" ? "en" : lang === "zh-Hant" ? "zh-TW" : "zh-CN";
      return new Intl.DateTimeFormat(locale, { dateStyle: "long", timeZone: "UTC" }).format(date);
    } catch (_) {
      return m[0];
    }
  }

  const flat = (s) => s.replace(/\s+/g, " ");
  const clip = (s, n) => (s.length > n ? s.slice(0, n).trimEnd() + "…" : s);

  class RagChat extends HTMLElement {
    constructor() {
      super();
      this._root = this.attachShadow({ mode: "open" });
      this._docs = new Map(); // doc_id -> Promise of GET /documents/{doc_id}
      this._nodes = new Map(); // message -> its element in the log
      this._messages = [];
      this._busy = false;
      this._built = false;
    }

    get endpoint() {
      return (this.getAttribute("endpoint") || DEFAULT_ENDPOINT).replace(/\/+$/, "");
    }

    connectedCallback() {
      if (this._built) return;
      this._built = true;
      const opt = (name) => this.getAttribute(`data-${name}`) || (script && script.dataset[name]) || "";
      this._lang = pickLang(opt("lang") || this.getAttribute("lang") || document.documentElement.lang);
      this._t = { ...STRINGS[this._lang] };
      if (opt("title")) this._t.title = this._t.launcher = opt("title");
      this._position = opt("position") === "bottom-left" ? "left" : "right";
      this._key = `rag-chat:v1:${this.endpoint}`;
      this._build();
      this._restore();
      this._openFromHash();
    }

    _build() {
      const t = this._t;
      const uid = `rag-${Math.random().toString(36).slice(2, 8)}`;
      adoptStyles(this._root);
      this._launcher = h("button", {
        class: "launcher", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false",
        "aria-controls": `${uid}-panel`, onclick: () => this._toggle(),
      }, icon(CHAT_ICON, "i-chat"), icon(CLOSE_ICON, "i-close"), h("span", { text: t.launcher }));
      this._log = h("div", {
        class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
        "aria-label": t.log, tabindex: "-1",
      });
      this._welcome = h("p", { class: "msg bot note", text: t.welcome });
      this._log.append(this._welcome);
      this._input = h("input", {
        id: `${uid}-q`, type: "text", name: "question", autocomplete: "off", maxlength: "1000",
        enterkeyhint: "send", placeholder: t.placeholder,
      });
      this._send = h("button", { class: "send", type: "submit", text: t.send });
      const form = h("form", { onsubmit: (e) => { e.preventDefault(); this._submit(this._input.value); } },
        h("label", { class: "sr", for: `${uid}-q`, text: t.inputLabel }), this._input, this._send);
      this._panel = h("section", {
        class: "panel", id: `${uid}-panel`, role: "dialog", "aria-modal": "false",
        "aria-labelledby": `${uid}-title`, "aria-describedby": `${uid}-sub`, hidden: true,
      },
      h("header", {},
        h("div", { class: "heading" },
          h("h2", { id: `${uid}-title`, text: t.title }),
          h("p", { class: "sub", id: `${uid}-sub`, text: t.subtitle })),
        h("button", { class: "tool", type: "button", "aria-label": t.clearLabel, text: t.clear, onclick: () => this.clear() }),
        h("button", { class: "tool x", type: "button", "aria-label": t.close, onclick: () => this.close() }, icon(CLOSE_ICON, ""))),
      this._log, form);
      this._root.append(h("div", {
        class: `root ${this._position}`, lang: this._lang === "en" ? "en" : this._lang === "zh-Hant" ? "zh-Hant" : "zh-Hans",
        onkeydown: (e) => {
          if (e.key !== "Escape" || this._panel.hidden) return;
          e.preventDefault();
          if (this._viewer) this._closeViewer();
          else this.close();
        },
      }, this._panel, this._launcher));
    }

    // ---- public API -------------------------------------------------------------------------

    open() {
      if (!this._panel.hidden) return;
      this._panel.hidden = false;
      this._launcher.setAttribute("aria-expanded", "true");
      this._save();
      this._scrollDown();
      this._input.focus({ preventScroll: true });
    }

    close() {
      if (this._panel.hidden) return;
      this._panel.hidden = true;
      this._launcher.setAttribute("aria-expanded", "false");
      this._save();
      this._launcher.focus();
    }

    clear() {
      if (this._busy) return;
      this._closeViewer();
      for (const node of this._nodes.values()) node.remove();
      this._nodes.clear();
      this._messages = [];
      this._welcome.hidden = false;
      this._save();
      this._input.focus();
    }

    ask(question) {
      this.open();
      this._input.value = String(question);
      return this._submit(this._input.value);
    }

    // ---- conversation -----------------------------------------------------------------------

    _toggle() {
      if (this._panel.hidden) this.open();
      else this.close();
    }

    async _submit(raw) {
      const question = String(raw || "").trim();
      if (!question || this._busy) return null; // one question at a time: no double submit
      this._input.value = "";
      this._add({ role: "user", text: question });
      return this._fetchAnswer(question);
    }

    // The conversation so far, as the contract's `history`: the answered turns, oldest first.
    _history() {
      return this._messages
        .filter((m) => m.role === "bot" && typeof m.question === "string")
        .slice(-HISTORY)
        .map((m) => ({
          question: m.question.slice(0, FIELD),
          answer: m.abstained ? "" : String(m.answer || "").slice(0, FIELD),
        }));
    }

    async _fetchAnswer(question) {
      this._setBusy(true);
      const typing = h("div", { class: "msg bot" },
        h("span", { class: "typing", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
        h("span", { class: "sr", text: this._t.typing }));
      this._log.append(typing);
      this._scrollDown();
      let message;
      try {
        const body = JSON.stringify({ question, history: this._history() });
        const res = await this._fetch("/ask", { method: "POST", headers: { "Content-Type": "application/json" }, body });
        if (!res.ok) {
          const kind = res.status === 429 ? "rate" : res.status === 503 ? "busy" : res.status >= 500 ? "server" : "bad";
          message = { role: "error", kind, question };
        } else {
          const data = await res.json();
          message = { role: "bot", question, ...this._keep(data) };
        }
      } catch (_) {
        message = { role: "error", kind: "network", question };
      } finally {
        typing.remove();
        this._setBusy(false);
      }
      this._add(message);
      return message;
    }

    // Keep what the widget shows, so sessionStorage stays small.
    _keep(data) {
      const citations = Array.isArray(data.citations) ? data.citations : [];
      const passages = Array.isArray(data.passages) ? data.passages.slice(0, RELATED) : [];
      const resolved = typeof data.resolved_question === "string" ? data.resolved_question : "";
      return {
        answer: String(data.answer || ""), abstained: Boolean(data.abstained), resolved,
        vote: data.vote === "up" || data.vote === "down" ? data.vote : null,
        citations: citations.map(({ n, doc_id, title, url, published, quote, start, end }) => ({ n, doc_id, title, url, published, quote, start, end })),
        passages: data.abstained || !citations.length ? passages.map(({ doc_id, text, start, end }) => ({ doc_id, text, start, end })) : [],
      };
    }

    _fetch(path, init) {
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
      return fetch(this.endpoint + path, { ...init, signal: ctrl.signal, credentials: "omit" })
        .finally(() => clearTimeout(timer));
    }

    _setBusy(busy) {
      this._busy = busy;
      this._send.disabled = busy;
      this.toggleAttribute("busy", busy);
    }

    _add(message, persist = true) {
      this._messages.push(message);
      const node = this._render(message);
      this._nodes.set(message, node);
      this._welcome.hidden = true;
      this._log.append(node);
      if (persist) this._save();
      this._scrollDown();
    }

    _remove(message) {
      const node = this._nodes.get(message);
      if (node) node.remove();
      this._nodes.delete(message);
      this._messages = this._messages.filter((m) => m !== message);
    }

    _render(m) {
      const t = this._t;
      if (m.role === "user") {
        return h("div", { class: "msg user" }, h("span", { class: "sr", text: t.you }), m.text);
      }
      if (m.role === "error") {
        const retry = h("button", { class: "retry", type: "button", text: t.retry });
        retry.addEventListener("click", () => {
          if (this._busy) return;
          this._remove(m);
          this._fetchAnswer(m.question);
          this._input.focus();
        });
        const kind = ERRORS.includes(m.kind) ? m.kind : "network";
        return h("div", { class: "msg bot error" }, h("div", { text: t[kind] }), retry);
      }
      const found = !m.abstained && Boolean(m.answer);
      const box = h("div", { class: found ? "msg bot reply" : "msg bot reply abstained" },
        h("span", { class: "sr", text: t.bot }));
      if (found) box.append(this._answer(m));
      else {
        box.append(h("p", { class: "lead", text: t.notFound }));
        if (m.passages.length) {
          box.append(h("p", { class: "lead", text: t.related }));
          const list = h("ul", { class: "related" });
          for (const p of m.passages) {
            const btn = h("button", {
              class: "rel", type: "button", "aria-haspopup": "dialog",
              text: clip(flat(String(p.text || "")), SNIPPET),
            });
            btn.addEventListener("click", () => this._openViewer({ doc_id: p.doc_id, quote: p.text, start: p.start, end: p.end }, btn));
            list.append(h("li", {}, btn));
          }
          box.append(list);
        }
      }
      // How a follow-up was read, so a wrong reading is visible.
      if (m.resolved && m.question && flat(m.resolved).trim() !== flat(m.question).trim()) {
        box.append(h("p", { class: "readas" }, h("span", { text: `${t.readAs} ` }), h("q", { text: m.resolved })));
      }
      box.append(this._votes(m));
      return box;
    }

    // The answer's text with each [n] that has a citation turned into a chip button.
    _answer(m) {
      const byN = new Map(m.citations.map((c) => [Number(c.n), c]));
      const p = h("p", { class: "answer" });
      let last = 0;
      for (const match of m.answer.matchAll(/\[(\d+)\]/g)) {
        const c = byN.get(Number(match[1]));
        if (!c) continue; // a stray bracket stays plain text
        p.append(m.answer.slice(last, match.index).replace(/\s+$/, ""), " ");
        const title = c.title || this._t.untitled;
        const chip = h("button", {
          class: "chip", type: "button", "aria-haspopup": "dialog",
          "aria-label": this._t.source(c.n, title), title, text: String(c.n),
        });
        chip.addEventListener("click", () => this._openViewer(c, chip));
        p.append(chip);
        last = match.index + match[0].length;
      }
      p.append(m.answer.slice(last));
      return p;
    }

    // ---- feedback: thumbs up at once; thumbs down asks for an optional comment first ---------

    _votes(m) {
      const t = this._t;
      const row = h("div", { class: "votes", role: "group", "aria-label": t.feedback });
      const status = h("span", { role: "status" });
      const mk = (vote, glyph, label) => h("button", {
        class: "vote", type: "button", "aria-label": label, title: label,
        "aria-pressed": m.vote === vote ? "true" : "false", text: glyph,
      });
      const up = mk("up", "👍", t.up);
      const down = mk("down", "👎", t.down);
      const form = h("form", { class: "fb", hidden: true });
      const comment = h("input", { type: "text", maxlength: "2000", "aria-label": t.comment, placeholder: t.comment });
      form.append(comment, h("button", { type: "submit", text: t.sendFeedback }));
      const send = async (vote, text) => {
        status.textContent = "";
        const body = {
          question: m.question, resolved_question: m.resolved || null, answer: m.abstained ? "" : m.answer, vote,
          citations: m.citations.map(({ n, doc_id, start, end }) => ({ n, doc_id, start, end })),
          comment: text || null,
        };
        let ok = false;
        try {
          const res = await this._fetch("/feedback", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
          ok = res.ok;
        } catch (_) { /* shown below */ }
        status.textContent = ok ? t.thanks : t.feedbackError;
        if (!ok) return;
        m.vote = vote;
        up.setAttribute("aria-pressed", String(vote === "up"));
        down.setAttribute("aria-pressed", String(vote === "down"));
        form.hidden = true;
        this._save();
      };
      up.addEventListener("click", () => { if (m.vote !== "up") send("up", ""); });
      down.addEventListener("click", () => {
        if (m.vote === "down") return;
        form.hidden = false;
        comment.focus();
      });
      form.addEventListener("submit", (e) => { e.preventDefault(); send("down", comment.value.trim()); });
      row.append(h("span", { class: "sr", text: t.feedback }), up, down, status, form);
      return row;
    }

    // ---- the source viewer: the whole article, scrolled to the cited range ------------------

    view(docId, start, end) {
      this.open();
      return this._openViewer({ doc_id: String(docId), start: Number(start), end: Number(end) }, null);
    }

    _permalink(src) {
      const base = new URL("/", this.endpoint + "/");
      const params = new URLSearchParams({ "rag-doc": src.doc_id, start: String(src.start), end: String(src.end) });
      base.hash = params.toString();
      return base.href;
    }

    _closeViewer() {
      const v = this._viewer;
      if (!v) return;
      this._viewer = null;
      v.node.remove();
      if (v.opener && v.opener.isConnected) v.opener.focus();
      else this._input.focus();
    }

    async _openViewer(src, opener) {
      const t = this._t;
      this._closeViewer();
      const uid = `v${Math.random().toString(36).slice(2, 8)}`;
      const title = h("h3", { id: `${uid}-t`, text: src.title || t.loading });
      const close = h("button", { class: "tool", type: "button", text: t.back, onclick: () => this._closeViewer() });
      const meta = h("div", { class: "meta" });
      const doc = h("div", { class: "doc", tabindex: "0", "aria-label": t.viewer, "aria-busy": "true" });
      const node = h("section", { class: "viewer", role: "dialog", "aria-modal": "true", "aria-labelledby": `${uid}-t` },
        h("header", {}, h("div", { class: "heading" }, title), close), meta, doc);
      const state = { node, opener, src };
      this._viewer = state;
      this._panel.append(node);
      close.focus();
      let article = null;
      try {
        article = await this._doc(src.doc_id);
      } catch (_) { /* shown below */ }
      if (this._viewer !== state) return; // closed, or another source opened meanwhile
      doc.removeAttribute("aria-busy");
      const text = article && typeof article.text === "string" ? article.text : null;
      const info = { ...(article || {}), ...Object.fromEntries(Object.entries(src).filter(([, v]) => v != null)) };
      title.textContent = info.title || t.untitled;
      const fallback = `${this.endpoint}/documents/${encodeURIComponent(src.doc_id)}`;
      const date = formatDate(info.published, this._lang);
      if (date) meta.append(h("time", { datetime: String(info.published), text: date }));
      meta.append(h("a", { href: safeHref(info.url || fallback, fallback), target: "_blank", rel: "noopener noreferrer", text: `${t.openSource} ↗` }));
      const valid = text !== null && Number.isInteger(src.start) && Number.isInteger(src.end) && 0 <= src.start && src.start <= src.end && src.end <= text.length;
      if (!valid) {
        doc.append(h("p", { text: t.docError }), h("mark", { text: String(src.quote || "") }));
        return;
      }
      const link = this._permalink(src);
      const copied = h("span", { role: "status" });
      const copy = h("button", { type: "button", text: t.copyLink });
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(link);
          copied.textContent = t.copied;
        } catch (_) {
          copied.textContent = link; // no clipboard access: show it to copy by hand
        }
      });
      meta.append(h("a", { class: "permalink", href: link, text: t.permalink }), copy, copied);
      this._fillDoc(doc, text, src.start, src.end, Math.max(0, src.start - WINDOW), Math.min(text.length, src.end + WINDOW));
    }

    // A window of the article around the range, widened on request, so a long article stays
    // quick to open; one text node each side of the <mark>.
    _fillDoc(doc, text, start, end, a, b) {
      const t = this._t;
      const mark = h("mark", { text: text.slice(start, end) });
      const parts = [];
      if (a > 0) {
        parts.push(h("button", { class: "more", type: "button", text: t.earlier,
          onclick: () => { this._fillDoc(doc, text, start, end, Math.max(0, a - WINDOW), b); } }));
      }
      parts.push("…".repeat(a > 0 ? 1 : 0) + text.slice(a, start), mark, text.slice(end, b) + "…".repeat(b < text.length ? 1 : 0));
      if (b < text.length) {
        parts.push(h("button", { class: "more", type: "button", text: t.later,
          onclick: () => { this._fillDoc(doc, text, start, end, a, Math.min(text.length, b + WINDOW)); } }));
      }
      doc.replaceChildren(...parts);
      const top = mark.offsetTop - doc.offsetTop - doc.clientHeight / 3;
      doc.scrollTop = Math.max(0, top);
    }

    // A permalink (#rag-doc=ID&start=S&end=E) opens the viewer at its range.
    _openFromHash() {
      const params = new URLSearchParams(location.hash.replace(/^#/, ""));
      const docId = params.get("rag-doc");
      const start = Number(params.get("start"));
      const end = Number(params.get("end"));
      if (docId && Number.isInteger(start) && Number.isInteger(end)) this.view(docId, start, end);
    }

    _doc(docId) {
      if (!this._docs.has(docId)) {
        const p = this._fetch(`/documents/${encodeURIComponent(docId)}`, {}).then((res) => {
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          return res.json();
        });
        p.catch(() => this._docs.delete(docId)); // a failed fetch is tried again next time
        this._docs.set(docId, p);
      }
      return this._docs.get(docId);
    }

    _scrollDown() {
      this._log.scrollTop = this._log.scrollHeight;
    }

    // ---- history (sessionStorage: survives a reload, not a new tab) ---------------------------

    _save() {
      try {
        const messages = this._messages.slice(-MAX_MESSAGES);
        sessionStorage.setItem(this._key, JSON.stringify({ open: !this._panel.hidden, messages }));
      } catch (_) { /* storage full or disabled: history is a nicety */ }
    }

    _restore() {
      let saved = null;
      try {
        saved = JSON.parse(sessionStorage.getItem(this._key) || "null");
      } catch (_) { /* corrupt: start afresh */ }
      if (!saved || !Array.isArray(saved.messages)) return;
      for (const m of saved.messages) {
        if (!m || typeof m !== "object") continue;
        if (m.role === "user" && typeof m.text === "string") this._add(m, false);
        else if (m.role === "error" && typeof m.question === "string") this._add(m, false);
        else if (m.role === "bot") {
          const question = typeof m.question === "string" ? m.question : undefined;
          this._add({ role: "bot", question, ...this._keep({ ...m, resolved_question: m.resolved }) }, false);
        }
      }
      if (saved.open) {
        this._panel.hidden = false;
        this._launcher.setAttribute("aria-expanded", "true");
        this._scrollDown();
      }
    }
  }

  customElements.define("rag-chat", RagChat);

  function mount() {
    let el = document.querySelector("rag-chat");
    if (!el) {
      el = document.createElement("rag-chat");
      if (script && script.dataset.endpoint) el.setAttribute("endpoint", script.dataset.endpoint);
      document.body.append(el);
    }
    // Host-page buttons: <button data-rag-ask="question">…</button>
    document.addEventListener("click", (e) => {
      const target = e.target instanceof Element ? e.target.closest("[data-rag-ask]") : null;
      if (!target) return;
      e.preventDefault();
      el.ask(target.getAttribute("data-rag-ask"));
    });
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
})();
