/* The demo page's own script (the widget needs none of it): ?lang=zh switches the page to
 * Chinese before widget.js runs, and the embed snippet shows this server's real address. The
 * example buttons need no code here: widget.js handles any [data-rag-ask] button. */
(() => {
  "use strict";
  const lang = new URLSearchParams(location.search).get("lang");
  if (lang && lang.toLowerCase().startsWith("zh")) {
    // ?lang=zh-Hant: the widget speaks Traditional Chinese (the page text stays Simplified).
    document.documentElement.lang = /hant|tw|hk/i.test(lang) ? "zh-Hant" : "zh-CN";
    document.title = "问问文章：附出处的中文科技新闻问答";
    for (const el of document.querySelectorAll("[data-zh]")) el.textContent = el.dataset.zh;
  }
  const snippet = document.getElementById("snippet");
  if (snippet) {
    snippet.textContent = `<script src="${location.origin}/widget.js" defer></script>`;
  }
})();
