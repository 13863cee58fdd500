// The search page's script, served as /app.js: the page's Content-Security-Policy allows no inline code.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("search-form"), queryBox = $("q"), kBox = $("k"), button = $("go");
  const statusLine = $("status"), warning = $("warning"), errorBox = $("error"), list = $("results");
  let pending = null;

  function show(element, text) {
    element.textContent = text;
    element.hidden = !text;
  }

  function describe(info) {
    const b = info.backend;
    const parts = [`${b.videos.toLocaleString()} videos`];
    if (b.collection) parts.push(`collection ${b.collection}`);
    if (b.model) parts.push(`model ${b.model}`);
    if (b.dim) parts.push(`${b.dim}-d space`);
    if (info.thumbnails) parts.push(`${info.thumbnails.toLocaleString()} thumbnail${info.thumbnails === 1 ? "" : "s"}`);
    if (info.playable_videos) parts.push(`${info.playable_videos.toLocaleString()} playable`);
    $("about").textContent = "Searching " + parts.join(" · ") + ".";
    queryBox.maxLength = info.limits.max_query_chars;
    kBox.max = String(info.limits.max_k);
  }

  // The one player open on the page: { item, video, button } of the result it plays.
  let playing = null;

  function closePlayer() {
    if (!playing) return;
    playing.video.pause();
    playing.video.removeAttribute("src");
    playing.video.parentElement.remove();
    playing.button.textContent = "Play";
    playing.button.setAttribute("aria-expanded", "false");
    playing = null;
  }

  // Shows a <video> under the result and plays it; a second click (or another result) closes it.
  function togglePlayer(li, hit, button) {
    const same = playing && playing.item === li;
    closePlayer();
    if (same) return;
    const box = document.createElement("div");
    box.className = "player";
    const video = document.createElement("video");
    video.controls = true;
    video.preload = "none";
    video.src = hit.video;
    video.setAttribute("aria-label", `Video ${hit.id}`);
    box.append(video);
    li.append(box);
    button.textContent = "Close";
    button.setAttribute("aria-expanded", "true");
    playing = { item: li, video, button };
    video.play().catch(() => {});
  }

  function hitItem(hit) {
    const li = document.createElement("li");
    li.className = "hit";
    li.dataset.id = hit.id;
    const rank = document.createElement("span");
    rank.className = "rank";
    rank.textContent = hit.rank;
    rank.setAttribute("aria-label", `rank ${hit.rank}`);
    li.append(rank);
    let img = null;
    if (hit.thumbnail) {
      img = document.createElement("img");
      img.className = "thumb";
      img.src = hit.thumbnail;
      img.alt = `Thumbnail of ${hit.id}`;
      img.loading = "lazy";
      li.append(img);
    }
    const text = document.createElement("div");
    text.className = "text";
    const id = document.createElement("span");
    id.className = "id";
    id.textContent = hit.id;
    text.append(id);
    if (hit.caption) {
      const caption = document.createElement("p");
      caption.className = "caption";
      caption.textContent = hit.caption;
      text.append(caption);
    }
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `score ${Number(hit.score).toFixed(4)}`;
    li.append(text, score);
    if (hit.video) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "play";
      button.textContent = "Play";
      button.setAttribute("aria-expanded", "false");
      button.setAttribute("aria-label", `Play ${hit.id}`);
      button.addEventListener("click", () => togglePlayer(li, hit, button));
      li.append(button);
      if (img) {
        img.classList.add("playable");
        img.addEventListener("click", () => togglePlayer(li, hit, button));
      }
    }
    return li;
  }

  function render(answer) {
    closePlayer();
    list.replaceChildren(...answer.results.map(hitItem));
    const n = answer.results.length;
    show(statusLine, `${n} result${n === 1 ? "" : "s"} for “${answer.query}” in ${answer.took_ms.toFixed(1)} ms`);
    show(warning, answer.unknown_words.length
      ? `Not in the vocabulary, ignored: ${answer.unknown_words.join(", ")}` : "");
  }

  function fail(message, unknownWords) {
    closePlayer();
    list.replaceChildren();
    show(statusLine, "");
    show(warning, unknownWords && unknownWords.length
      ? `Not in the vocabulary: ${unknownWords.join(", ")}` : "");
    show(errorBox, message);
  }

  async function search(query, k) {
    if (pending) pending.abort();
    const controller = new AbortController();
    pending = controller;
    show(errorBox, "");
    if (!query.trim()) { fail("Type a few words to search."); return; }
    show(statusLine, "Searching…");
    list.setAttribute("aria-busy", "true");
    button.disabled = true;
    try {
      const url = `/api/search?q=${encodeURIComponent(query)}&k=${encodeURIComponent(k)}`;
      const response = await fetch(url, { signal: controller.signal, headers: { Accept: "application/json" } });
      const answer = await response.json();
      if (response.ok) render(answer); else fail(answer.error || `HTTP ${response.status}`, answer.unknown_words);
    } catch (error) {
      if (error.name !== "AbortError") fail(`The search failed: ${error.message}`);
    } finally {
      if (pending === controller) {
        pending = null;
        button.disabled = false;
        list.removeAttribute("aria-busy");
      }
    }
  }

  function fromLocation() {
    const params = new URLSearchParams(window.location.search);
    const query = params.get("q") || "";
    queryBox.value = query;
    if (params.get("k")) kBox.value = params.get("k");
    if (query) search(query, kBox.value);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = queryBox.value, k = kBox.value || "10";
    const url = new URL(window.location.href);
    url.search = new URLSearchParams({ q: query, k }).toString();
    history.pushState(null, "", url);
    search(query, k);
  });
  window.addEventListener("popstate", fromLocation);

  fetch("/api/info").then((r) => r.ok ? r.json() : null).then((info) => info && describe(info)).catch(() => {});
  fromLocation();
  queryBox.focus();
})();
