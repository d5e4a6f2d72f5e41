// CIR results page: answers arrive live (Server-Sent Events), newest first; the catalogue
// view searches, auditions, finds similar entries and draws a 2-D map per family.
// Everything comes from this page's own origin; actions send the run's token.
"use strict";

const TOKEN = document.querySelector('meta[name="cir-token"]').content;
const FAMILY_ORDER = ["percussion", "bass", "lead", "pad", "keys"];
const state = { answers: new Map(), selectedAnswer: null, mapFamily: null, mapData: null,
                catalogue: null, searchTimer: null };

// --- small helpers ------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

async function post(url, body, headers = {}) {
  const response = await fetch(url, {
    method: "POST", body, headers: { "X-CIR-Token": TOKEN, ...headers },
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function notice(text, isError = false) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.className = isError ? "notice error" : "notice";
  box.hidden = !text;
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    notice(`copied: ${text}`);
  } catch {
    notice(`copy this: ${text}`);
  }
}

function sourceLabel(source) {
  return { "cir-bridge": "CIR Bridge plugin", "cir match": "cir match", "cir record": "cir record",
           "cir listen": "cir listen", "cir demo": "cir demo", "results page": "this page" }[source]
         || source;
}

function sortedFamilies(results) {
  return Object.keys(results).sort((a, b) => {
    const ia = FAMILY_ORDER.indexOf(a), ib = FAMILY_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
}

function percent(x) { return `${Math.round(Math.max(0, Math.min(1, x)) * 100)}%`; }

// --- drawing ------------------------------------------------------------------------------

const MAGMA = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
               [245, 125, 21], [250, 193, 39], [252, 255, 164]];
const PALETTE = (() => {
  const table = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (MAGMA.length - 1), k = Math.min(Math.floor(t), MAGMA.length - 2);
    const f = t - k;
    for (let c = 0; c < 3; c++) table[i * 3 + c] = MAGMA[k][c] * (1 - f) + MAGMA[k + 1][c] * f;
  }
  return table;
})();

function drawSpectrogram(canvas, spec) {
  const bytes = Uint8Array.from(atob(spec.data), (ch) => ch.charCodeAt(0));
  canvas.width = spec.columns;
  canvas.height = spec.bands;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(spec.columns, spec.bands);
  for (let x = 0; x < spec.columns; x++) {
    for (let b = 0; b < spec.bands; b++) {
      const v = bytes[x * spec.bands + b], y = spec.bands - 1 - b, o = (y * spec.columns + x) * 4;
      image.data[o] = PALETTE[v * 3]; image.data[o + 1] = PALETTE[v * 3 + 1];
      image.data[o + 2] = PALETTE[v * 3 + 2]; image.data[o + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
  canvas.dataset.drawn = "spectrogram";
}

function drawWaveform(canvas, wave, color = "#f0a33c") {
  const width = canvas.clientWidth || 600, height = canvas.clientHeight || 48;
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = color;
  const n = wave.min.length;
  for (let i = 0; i < n; i++) {
    const x = (i / n) * width, w = Math.max(1, width / n);
    const top = (1 - (wave.max[i] + 1) / 2) * height, bottom = (1 - (wave.min[i] + 1) / 2) * height;
    ctx.fillRect(x, top, w, Math.max(1, bottom - top));
  }
  canvas.dataset.drawn = "waveform";
}

async function drawMedia(url, waveCanvas, specCanvas) {
  try {
    const view = await getJSON(url);
    if (waveCanvas) drawWaveform(waveCanvas, view.waveform);
    if (specCanvas) drawSpectrogram(specCanvas, view.spectrogram);
  } catch (error) {
    if (specCanvas) specCanvas.title = error.message;
  }
}

// --- comparing by ear ---------------------------------------------------------------------

function stopAll() {
  for (const audio of document.querySelectorAll("audio")) audio.pause();
}

function playAlternately(loop, preview) {
  stopAll();
  loop.currentTime = 0;
  preview.currentTime = 0;
  loop.addEventListener("ended", () => { preview.currentTime = 0; preview.play(); },
                        { once: true });
  loop.play();
}

function playTogether(loop, preview) {
  stopAll();
  loop.currentTime = 0;
  preview.currentTime = 0;
  loop.play();
  preview.play();
}

// --- answers ------------------------------------------------------------------------------

function howBlock(hit) {
  const how = hit.how || {};
  const box = el("div", { class: "how" }, el("div", { text: how.text || "" }));
  (how.files || []).forEach((file, index) => {
    if (!file) return;
    box.append(el("div", { class: "line" }, el("code", { text: file }),
      el("button", { class: "small", onclick: () => copy(file) }, "copy"),
      el("button", { class: "small", onclick: () => reveal(hit.preset_id, index) }, "reveal")));
  });
  for (const command of how.commands || []) {
    box.append(el("div", { class: "line" }, el("code", { text: command }),
      el("button", { class: "small", onclick: () => copy(command) }, "copy")));
  }
  if (how.export) {
    const out = el("div");
    box.append(el("div", { class: "line" },
      el("button", { class: "small export", onclick: () => exportPreset(hit.preset_id, out) },
         "export preset file")), out);
  }
  return box;
}

async function reveal(presetId, index) {
  try {
    const result = await post(`/api/presets/${presetId}/reveal?file=${index}`);
    notice(`shown in the file manager: ${result.revealed}`);
  } catch (error) { notice(error.message, true); }
}

async function exportPreset(presetId, out) {
  try {
    const result = await post(`/api/presets/${presetId}/export`);
    out.replaceChildren(
      el("div", { class: "line" }, el("code", { text: result.path }),
        el("button", { class: "small", onclick: () => copy(result.path) }, "copy")),
      ...result.commands.map((c) => el("div", { class: "line" }, el("code", { text: c }),
        el("button", { class: "small", onclick: () => copy(c) }, "copy"))));
  } catch (error) { notice(error.message, true); }
}

function hitRow(hit, loopAudio, presence) {
  const preview = hit.preview_url
    ? el("audio", { class: "preview", controls: true, preload: "none", src: hit.preview_url,
                    dataset: { preset: hit.preset_id } })
    : el("span", { class: "muted", text: "no preview" });
  const spec = el("canvas", { class: "spec small hit-spec" });
  let how = null;
  const row = el("div", { class: "hit", dataset: { preset: hit.preset_id } },
    el("div", { class: "rank", text: hit.rank }),
    el("div", {},
      el("div", { class: "name", text: hit.name }),
      el("div", { class: "src",
                  text: `${hit.source} · ${hit.key}${hit.source_path && hit.source !== "builtin"
                         ? " · " + hit.source_path.split(/[\\/]/).pop() : ""}` }),
      preview,
      el("div", { class: "actions" },
        hit.preview_url ? el("button", { class: "small", title: "the loop, then this preset",
          onclick: () => playAlternately(loopAudio, preview) }, "loop → preset") : null,
        hit.preview_url ? el("button", { class: "small", title: "both at once",
          onclick: () => playTogether(loopAudio, preview) }, "together") : null,
        el("button", { class: "small", onclick: () => {
          if (how) { how.remove(); how = null; } else { how = howBlock(hit); row.append(how); }
        } }, "get it into your DAW"),
        el("button", { class: "small", onclick: () => showSimilar(hit.preset_id) }, "similar"),
        el("button", { class: "small", onclick: () => showOnMap(hit.family, hit.preset_id) },
           "map"))),
    el("div", {},
      el("div", { class: "score similarity", title: "cosine similarity" }, "score",
        el("div", { class: "bar" }, barFill(hit.score)), (hit.score ?? 0).toFixed(3)),
      presence !== undefined && presence !== null ? el("div", { class: "score",
        title: "how present this family is in the loop" }, "presence",
        el("div", { class: "bar presence" }, barFill(presence)), percent(presence)) : null,
      spec));
  if (hit.preview_url) drawMedia(`/api/presets/${hit.preset_id}/view`, null, spec);
  return row;
}

function barFill(x) {
  const fill = el("span");
  fill.style.width = percent(x ?? 0);
  return fill;
}

function familyPresence(answer, family, hits) {
  const p = answer.presence && answer.presence[family];
  if (typeof p === "number") return p;
  if (p && typeof p.score === "number") return p.score;
  if (hits.length && typeof hits[0].presence === "number") return hits[0].presence;
  return null;
}

function answerCard(answer) {
  const q = answer.query || {};
  const loop = el("audio", { class: "loop", controls: true, preload: "metadata",
                             src: answer.audio_url });
  const wave = el("canvas", { class: "wave" }), spec = el("canvas", { class: "spec" });
  const meta = [
    new Date(answer.time).toLocaleTimeString(),
    `from ${sourceLabel(answer.source)}${answer.loop_region ? " (loop region)" : ""}`,
    q.seconds ? `${Number(q.seconds).toFixed(1)} s` : null,
    q.sample_rate ? `${q.sample_rate / 1000} kHz` : null,
    q.channels ? (q.channels === 1 ? "mono" : q.channels === 2 ? "stereo" : `${q.channels} ch`) : null,
    q.tempo ? `${q.tempo} BPM` : null,
    answer.timing_ms && answer.timing_ms.total ? `${answer.timing_ms.total.toFixed(0)} ms` : null,
  ].filter(Boolean).join(" · ");
  const card = el("article", { class: "answer fresh", id: `answer-${answer.id}`,
                               dataset: { answer: answer.id } },
    el("div", { class: "answer-head" }, el("h2", { text: `#${answer.id}` }),
       el("span", { class: "meta", text: meta }),
       el("button", { class: "small", onclick: () => { state.selectedAnswer = answer.id;
         showView("catalogue"); drawMap(); } }, "show on map")),
    answer.ok ? null : el("div", { class: "error-line",
      text: `the daemon refused this request: ${(answer.error || {}).message || "unknown"}` }),
    ...(answer.warnings || []).map((w) => el("div", { class: "warning-line", text: w })),
    el("div", { class: "query" }, el("div", {}, loop, wave), spec));
  const families = el("div", { class: "families" });
  for (const family of sortedFamilies(answer.results || {})) {
    const hits = answer.results[family];
    const presence = familyPresence(answer, family, hits);
    families.append(el("section", { class: "family", dataset: { family } },
      el("h3", {}, family, presence !== null
        ? el("span", { class: "presence", text: `presence ${percent(presence)}` }) : null),
      ...hits.map((hit) => hitRow(hit, loop, typeof hit.presence === "number"
        ? hit.presence : null))));
  }
  card.append(families);
  drawMedia(`/api/answers/${answer.id}/view`, wave, spec);
  setTimeout(() => card.classList.remove("fresh"), 4000);
  return card;
}

// "open page" in the plugin's window links to its answer: #request=<its request id>.
function showRequested() {
  const wanted = /^#request=(.+)$/.exec(window.location.hash);
  if (!wanted) return;
  const id = decodeURIComponent(wanted[1]);
  const card = [...document.querySelectorAll("#answers > article")]
    .find((c) => c.dataset.request === id);
  if (!card) return;
  for (const other of document.querySelectorAll("article.requested")) other.classList.remove("requested");
  card.classList.add("requested");
  card.scrollIntoView({ block: "start" });
}

function addAnswer(answer) {
  if (state.answers.has(answer.id)) return;
  state.answers.set(answer.id, answer);
  if (state.selectedAnswer === null || answer.id > state.selectedAnswer) {
    state.selectedAnswer = answer.id;
  }
  document.getElementById("no-answers").hidden = true;
  const list = document.getElementById("answers");
  const card = answerCard(answer);
  card.dataset.request = answer.request_id || "";
  // Newest first: insert before the first card with a smaller id.
  const after = [...list.children].find((c) => Number(c.dataset.answer) < answer.id);
  list.insertBefore(card, after || null);
}

async function loadAnswers() {
  const data = await getJSON("/api/answers");
  for (const answer of data.answers.slice().reverse()) addAnswer(answer);
}

function listen() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  source.addEventListener("error", () => { live.textContent = "reconnecting";
                                           live.className = "live off"; });
  source.addEventListener("answer", (event) => {
    const answer = JSON.parse(event.data);
    addAnswer(answer);
    showRequested();
    if (!state.mapFamily || state.mapFamily in (answer.results || {})) drawMap();
    refreshStatus();
  });
}

// --- picks ("this one" in the plugin) --------------------------------------------------------

async function loadPicks() {
  const data = await getJSON("/api/picks");
  const body = document.querySelector("#picks tbody");
  body.replaceChildren(...data.picks.map((p) => el("tr", { class: "pick" },
    el("td", {}, p.picked_at.replace("T", " ").slice(0, 19)), el("td", {}, p.family),
    el("td", {}, p.preset_name), el("td", {}, p.source_kind),
    el("td", { class: "muted" }, p.query))));
  document.getElementById("picks-box").hidden = data.picks.length === 0;
}

// --- status -------------------------------------------------------------------------------

async function refreshStatus() {
  try {
    const data = await getJSON("/api/status");
    const d = data.daemon, c = data.catalogue;
    document.getElementById("status").textContent =
      `encoder ${d.encoder_name} (${d.encoder_version}) · ${d.catalogue_size} searchable ` +
      `entries · ${d.requests_served} requests`;
    const hint = document.getElementById("hint");
    hint.textContent = data.hint || "";
    hint.hidden = !data.hint;
    state.catalogue = c;
    fillFilters(c);
    loadPicks().catch(() => {});
  } catch (error) {
    document.getElementById("status").textContent = `daemon unreachable: ${error.message}`;
  }
}

function fillFilters(c) {
  const families = Object.keys(c.by_family || {});
  const familySelect = document.getElementById("family-filter");
  const mapSelect = document.getElementById("map-family");
  if (familySelect.options.length - 1 !== families.length) {
    familySelect.replaceChildren(el("option", { value: "" }, "all families"),
      ...families.map((f) => el("option", { value: f }, `${f} (${c.by_family[f]})`)));
    mapSelect.replaceChildren(...families.map((f) => el("option", { value: f }, f)));
    if (!state.mapFamily && families.length) state.mapFamily = families[0];
    mapSelect.value = state.mapFamily || "";
  }
  const sourceSelect = document.getElementById("source-filter");
  if (sourceSelect.options.length - 1 !== (c.sources || []).length) {
    sourceSelect.replaceChildren(el("option", { value: "" }, "all sources"),
      ...(c.sources || []).map((s) => el("option", { value: s.id },
        `${s.kind}: ${s.path.split(/[\\/]/).pop()} (${s.entries})`)));
  }
}

// --- catalogue ----------------------------------------------------------------------------

async function search() {
  const params = new URLSearchParams({
    q: document.getElementById("search").value,
    family: document.getElementById("family-filter").value,
    source: document.getElementById("source-filter").value,
  });
  try {
    const data = await getJSON(`/api/catalogue?${params}`);
    document.getElementById("catalogue-count").textContent =
      `${data.total} entries${data.total > data.entries.length ? `, first ${data.entries.length}` : ""}`;
    document.querySelector("#entries tbody").replaceChildren(...data.entries.map(entryRow));
  } catch (error) { notice(error.message, true); }
}

function entryRow(entry) {
  return el("tr", { dataset: { preset: entry.preset_id } },
    el("td", {}, entry.has_preview ? el("button", { class: "small", title: "audition",
      onclick: () => audition(entry.preset_id) }, "▶") : null),
    el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault();
      showEntry(entry.preset_id); } }, entry.name)),
    el("td", { text: entry.family }),
    el("td", { text: entry.source }),
    el("td", { class: "tags", text: (entry.tags || []).filter((t) => !t.startsWith("parent:"))
      .join(", ") }),
    el("td", {}, el("button", { class: "small", onclick: () => showSimilar(entry.preset_id) },
                    "similar")));
}

let auditionAudio = null;
function audition(presetId) {
  stopAll();
  if (auditionAudio) auditionAudio.remove();
  auditionAudio = el("audio", { class: "audition", src: `/api/presets/${presetId}/preview` });
  document.body.append(auditionAudio);
  auditionAudio.play().catch((error) => notice(`cannot play: ${error.message}`, true));
  document.querySelectorAll("#entries tr").forEach((tr) =>
    tr.classList.toggle("selected", tr.dataset.preset === String(presetId)));
}

async function showEntry(presetId) {
  try {
    const entry = await getJSON(`/api/presets/${presetId}`);
    const detail = document.getElementById("detail");
    const spec = el("canvas", { class: "spec" });
    detail.replaceChildren(
      el("h3", { text: `${entry.name}` }),
      el("div", { class: "muted", text: `${entry.family} · ${entry.source} · ${entry.key}` }),
      entry.has_preview ? el("audio", { class: "preview", controls: true,
                                        src: `/api/presets/${presetId}/preview` }) : null,
      spec, howBlock(entry),
      el("div", { class: "actions" },
        el("button", { class: "small", onclick: () => showSimilar(presetId) }, "find similar"),
        el("button", { class: "small", onclick: () => showOnMap(entry.family, presetId) },
           "show on map")));
    if (entry.has_preview) drawMedia(`/api/presets/${presetId}/view`, null, spec);
  } catch (error) { notice(error.message, true); }
}

async function showSimilar(presetId) {
  showView("catalogue");
  try {
    const data = await getJSON(`/api/presets/${presetId}/similar`);
    document.getElementById("catalogue-count").textContent =
      `${data.similar.length} entries closest to ${data.of.name}`;
    document.querySelector("#entries tbody").replaceChildren(
      entryRow(data.of), ...data.similar.map(entryRow));
    showEntry(presetId);
    showOnMap(data.of.family, presetId);
  } catch (error) { notice(error.message, true); }
}

// --- the map ------------------------------------------------------------------------------

function showOnMap(family, presetId) {
  showView("catalogue");
  state.mapFamily = family;
  document.getElementById("map-family").value = family;
  drawMap(presetId);
}

async function drawMap(highlight = null) {
  const family = state.mapFamily;
  if (!family) return;
  const canvas = document.getElementById("map");
  const info = document.getElementById("map-info");
  info.textContent = "computing…";
  const answer = state.answers.get(state.selectedAnswer);
  const url = answer && answer.ok && (answer.results || {})[family]
    ? `/api/answers/${answer.id}/map/${family}` : `/api/map/${family}`;
  let data;
  try { data = await getJSON(url); } catch (error) { info.textContent = error.message; return; }
  if (family !== state.mapFamily) return;
  state.mapData = data;
  const size = canvas.width, pad = 14, ctx = canvas.getContext("2d");
  const at = (p) => [pad + p.x * (size - 2 * pad), pad + (1 - p.y) * (size - 2 * pad)];
  ctx.fillStyle = "#101216";
  ctx.fillRect(0, 0, size, size);
  const hits = new Set(data.hits || []);
  for (const p of data.points) {
    const [x, y] = at(p);
    ctx.fillStyle = hits.has(p.id) ? "#5fc48a" : p.id === highlight ? "#7fb6ff" : "#8d95a1";
    ctx.beginPath();
    ctx.arc(x, y, hits.has(p.id) || p.id === highlight ? 5 : 2.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  if (data.query) {
    const [x, y] = at({ x: data.query[0], y: data.query[1] });
    ctx.strokeStyle = "#f0a33c";
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.moveTo(x - 9, y - 9); ctx.lineTo(x + 9, y + 9);
    ctx.moveTo(x + 9, y - 9); ctx.lineTo(x - 9, y + 9);
    ctx.stroke();
  }
  canvas.dataset.points = String(data.points.length);
  canvas.dataset.family = family;
  canvas.dataset.query = data.query ? "marked" : "";
  info.textContent = `${data.points.length} entries · ${data.method}` +
    (data.query ? ` · ✕ = answer #${answer.id}` : "");
}

function mapPointAt(event) {
  const data = state.mapData;
  if (!data) return null;
  const canvas = event.target, rect = canvas.getBoundingClientRect();
  const scale = canvas.width / rect.width, pad = 14, size = canvas.width;
  const mx = (event.clientX - rect.left) * scale, my = (event.clientY - rect.top) * scale;
  let best = null, bestDistance = 64;
  for (const p of data.points) {
    const x = pad + p.x * (size - 2 * pad), y = pad + (1 - p.y) * (size - 2 * pad);
    const d = (x - mx) ** 2 + (y - my) ** 2;
    if (d < bestDistance) { best = p; bestDistance = d; }
  }
  return best;
}

// --- dropping a file ----------------------------------------------------------------------

async function matchFile(file) {
  notice(`matching ${file.name}…`);
  try {
    await post("/api/match", file, { "Content-Type": "application/octet-stream",
                                     "X-File-Name": encodeURIComponent(file.name) });
    notice(`${file.name} sent: its answer appears below`);
    showView("answers");
  } catch (error) { notice(`${file.name}: ${error.message}`, true); }
}

function setUpDrop() {
  const overlay = document.getElementById("drop");
  let depth = 0;
  window.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; overlay.hidden = false; });
  window.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1);
                                                if (!depth) overlay.hidden = true; });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    for (const file of e.dataTransfer.files) matchFile(file);
  });
  document.getElementById("pick").addEventListener("change", (e) => {
    for (const file of e.target.files) matchFile(file);
    e.target.value = "";
  });
}

// --- views --------------------------------------------------------------------------------

function showView(name) {
  for (const view of ["answers", "catalogue"]) {
    document.getElementById(`view-${view}`).hidden = view !== name;
    document.getElementById(`tab-${view}`).classList.toggle("active", view === name);
  }
  if (name === "catalogue" && !document.querySelector("#entries tbody").children.length) search();
  if (name === "catalogue") drawMap();
}

function start() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  document.getElementById("search").addEventListener("input", () => {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(search, 200);
  });
  document.getElementById("family-filter").addEventListener("change", search);
  document.getElementById("source-filter").addEventListener("change", search);
  document.getElementById("map-family").addEventListener("change", (e) => {
    state.mapFamily = e.target.value;
    drawMap();
  });
  const map = document.getElementById("map");
  map.addEventListener("mousemove", (e) => {
    const p = mapPointAt(e);
    document.getElementById("map-tip").textContent = p ? p.name : "hover a point for its name; click to audition";
  });
  map.addEventListener("click", (e) => {
    const p = mapPointAt(e);
    if (p) { audition(p.id); showEntry(p.id); }
  });
  setUpDrop();
  refreshStatus();
  setInterval(() => loadPicks().catch(() => {}), 3000);  // picks come from the plugin
  window.addEventListener("hashchange", showRequested);
  loadAnswers().then(showRequested).catch((error) => notice(error.message, true)).finally(listen);
}

start();
