// veokit studio: a page over the service's public API (the same routes any client calls).
// The key lives in localStorage and goes out as a Bearer header; video/thumbnail links are signed by the
// server, so <video src> and downloads need no header. Errors are shown as the API words them.

import { initFilms } from "./films.js";

const KEY_STORE = "veokit.key";
const PAGE = 24;
const ACTIVE = new Set(["queued", "in_progress"]);

const $ = (sel) => document.querySelector(sel);
const state = {
  key: localStorage.getItem(KEY_STORE) || "",
  models: [],
  videos: new Map(), // id -> Video, newest first by created_at
  streams: new Map(), // id -> AbortController of its SSE reader
  lastId: null,
  hasMore: false,
  estimateSeq: 0,
  estimateOk: false,
  current: null, // the video in the player
};

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `the service answered ${status}`);
    this.status = status;
    this.param = err.param || null;
    this.code = err.code || null;
  }
}

async function api(path, { method = "GET", json, form, signal } = {}) {
  const headers = { Authorization: `Bearer ${state.key}` };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser sets multipart/form-data with its boundary
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, { error: { message: "The service cannot be reached. Is `veokit serve` running?" } });
  }
  const text = await res.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch { doc = null; }
  if (!res.ok) throw new ApiError(res.status, doc);
  return doc;
}

// ---------- small helpers -------------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}
const usd = (v) => (v === null || v === undefined ? "—" : `$${Number(v).toFixed(2)}`);
function toast(message, bad = false) {
  const t = el("div", { class: `toast${bad ? " bad" : ""}`, role: bad ? "alert" : "status" }, message);
  $("#toasts").append(t);
  setTimeout(() => t.remove(), 6000);
}
function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
function duration(s) {
  if (s === null || s === undefined) return "";
  s = Math.max(0, Math.round(s));
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

// ---------- sign in -------------------------------------------------------------------------------------
async function signIn(key) {
  state.key = key;
  const spend = await api("/v1/veokit/spend"); // 401 for a wrong key
  localStorage.setItem(KEY_STORE, key);
  $("#sign-in").hidden = true;
  $("#studio").hidden = false;
  $("#who").hidden = false;
  $("#who-name").textContent = `Key: ${spend.key}`;
  $("#tabs").hidden = false;
  showTab("studio");
  showSpend(spend);
  await loadModels();
  await loadVideos(true);
}

function signOut() {
  for (const c of state.streams.values()) c.abort();
  state.streams.clear();
  state.videos.clear();
  state.key = "";
  localStorage.removeItem(KEY_STORE);
  $("#studio").hidden = true;
  $("#films").hidden = true;
  $("#tabs").hidden = true;
  filmsTab.reset();
  $("#who").hidden = true;
  $("#spend").hidden = true;
  $("#sign-in").hidden = false;
  $("#key").value = "";
  $("#key").focus();
}

function showSpend(s) {
  $("#spend").hidden = false;
  const budget = s.budget_daily_usd;
  const spent = `${usd(s.spent_usd)} spent` + (s.queued_usd > 0 ? ` · ${usd(s.queued_usd)} queued` : "");
  $("#spend-text").textContent = budget === null ? `Today: ${spent} · no daily budget` : `Today: ${spent} of ${usd(budget)}`;
  const fill = $("#spend-fill");
  const share = budget ? Math.min(1, s.total_usd / budget) : 0;
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  fill.classList.toggle("over", budget !== null && s.total_usd >= budget);
}
const refreshSpend = debounce(async () => {
  try { showSpend(await api("/v1/veokit/spend")); } catch { /* shown on the next action */ }
}, 300);

// ---------- the create form -----------------------------------------------------------------------------
async function loadModels() {
  const doc = await api("/v1/veokit/models");
  state.models = doc.models;
  const select = $("#model");
  select.replaceChildren(
    ...doc.models.map((m, i) =>
      el("option", { value: String(i) }, `${m.title}${m.status === "preview" ? " (preview)" : ""}` +
        (doc.default_provider && doc.default_provider !== "auto" ? "" : ` · ${m.provider}`)),
    ),
  );
  const preferred = doc.models.findIndex((m) => m.model === doc.default_model);
  if (preferred >= 0) select.value = String(preferred);
  onModel();
}

function model() { return state.models[Number($("#model").value)] || null; }

function onModel() {
  const m = model();
  if (!m) return;
  const keep = (sel, values, labels) => {
    const node = $(sel);
    const was = node.value;
    node.replaceChildren(...values.map((v, i) => el("option", { value: String(v) }, labels[i])));
    if (values.map(String).includes(was)) node.value = was;
    return values.map(String).includes(was);
  };
  const sizes = Object.keys(m.sizes);
  keep("#size", sizes, sizes.map((s) => `${m.sizes[s]} · ${s}`));
  // a new model keeps the length chosen when it can; otherwise its longest, as most videos are made
  if (!keep("#seconds", m.durations, m.durations.map((d) => `${d} s`))) $("#seconds").value = String(m.durations.at(-1));
  $("#model-label").textContent = m.label || "";
  $("#audio-box").hidden = m.audio !== "optional";
  $("#last-frame-box").hidden = !m.last_frame;
  $("#refs-box").hidden = m.max_reference_images === 0;
  $("#refs-max").textContent = m.max_reference_images ? `(up to ${m.max_reference_images})` : "";
  scheduleEstimate();
}

function createBody() {
  const m = model();
  const form = new FormData();
  form.set("prompt", $("#prompt").value.trim());
  if (m) {
    form.set("model", m.model);
    form.set("provider", m.provider);
  }
  form.set("size", $("#size").value);
  form.set("seconds", $("#seconds").value);
  const seed = $("#seed").value.trim();
  if (seed) form.set("seed", seed);
  const negative = $("#negative_prompt").value.trim();
  if (negative) form.set("negative_prompt", negative);
  if (m && m.audio === "optional") form.set("generate_audio", $("#generate_audio").checked ? "true" : "false");
  for (const name of ["input_reference", "last_frame", "reference_images"]) {
    const input = $(`#${name}`);
    if (input.closest("[hidden]")) continue;
    for (const file of input.files) form.append(name, file, file.name);
  }
  return form;
}

function clearFieldErrors() {
  for (const node of document.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of document.querySelectorAll(".invalid")) node.classList.remove("invalid");
}

function showFieldError(err, fallback) {
  const param = err.param ? err.param.split(/[.[]/)[0] : null;
  const slot = param && document.querySelector(`.field-error[data-for="${param}"]`);
  if (slot && !slot.closest("[hidden]")) {
    slot.textContent = err.message;
    const input = document.getElementById(param);
    if (input) input.classList.add("invalid");
    if (input && input.closest("details")) input.closest("details").open = true;
  } else {
    fallback.textContent = err.message;
  }
}

const scheduleEstimate = debounce(estimate, 250);

async function estimate() {
  const seq = ++state.estimateSeq;
  const price = $("#price");
  const button = $("#create-button");
  clearFieldErrors();
  $("#create-error").textContent = "";
  state.estimateOk = false;
  button.disabled = true;
  if (!$("#prompt").value.trim()) {
    price.replaceChildren(el("span", { class: "muted" }, "Write a prompt to see the price."));
    button.textContent = "Generate";
    return;
  }
  price.replaceChildren(el("span", { class: "muted" }, "Pricing…"));
  try {
    const est = await api("/v1/veokit/estimate", { method: "POST", form: createBody() });
    if (seq !== state.estimateSeq) return; // a newer edit is being priced
    const note = est.fits_budget
      ? el("span", { class: "muted" }, est.description)
      : el("span", { class: "over" }, `Over today's budget: ${usd(est.remaining_usd)} left`);
    price.replaceChildren(el("span", { class: "usd", "data-testid": "price" }, usd(est.estimate_usd)), note);
    state.estimateOk = est.fits_budget;
    button.disabled = !est.fits_budget;
    button.textContent = `Generate · ${usd(est.estimate_usd)}`;
  } catch (err) {
    if (seq !== state.estimateSeq) return;
    price.replaceChildren(el("span", { class: "muted" }, "Fix the request to see its price."));
    button.textContent = "Generate";
    if (err.status === 401) return signOut();
    showFieldError(err, $("#create-error"));
  }
}

async function create(event) {
  event.preventDefault();
  if (!state.estimateOk) return;
  const button = $("#create-button");
  button.disabled = true;
  try {
    const video = await api("/v1/videos", { method: "POST", form: createBody() });
    upsert(video);
    toast(`Started: ${usd(video.veokit.estimate_usd)} estimated`);
    refreshSpend();
  } catch (err) {
    showFieldError(err, $("#create-error"));
  } finally {
    button.disabled = !state.estimateOk;
  }
}

// ---------- videos: queue and gallery -------------------------------------------------------------------
async function loadVideos(reset) {
  const after = reset ? "" : `&after=${encodeURIComponent(state.lastId)}`;
  const page = await api(`/v1/videos?limit=${PAGE}&order=desc${after}`);
  if (reset) state.videos.clear();
  for (const v of page.data) upsert(v, false);
  state.lastId = page.last_id;
  state.hasMore = page.has_more;
  render();
}

function upsert(video, draw = true) {
  state.videos.set(video.id, video);
  if (ACTIVE.has(video.status)) follow(video.id);
  if (draw) render();
}

function sorted() {
  return [...state.videos.values()].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
}

// Nodes kept across redraws, by video id. A progress event redraws often; replacing a job's node under the
// pointer would drop a click whose mousedown hit the old Cancel button and mouseup its replacement, and
// would restart a tile's hover preview. So a queued job's node is updated in place, and a tile is rebuilt
// only when something it shows has changed.
const drawn = { queue: new Map(), gallery: new Map() };

function render() {
  const all = sorted();
  const active = all.filter((v) => ACTIVE.has(v.status));
  const done = all.filter((v) => !ACTIVE.has(v.status));
  reconcile($("#queue"), drawn.queue, active, queueItem, fillQueueItem);
  $("#queue-empty").hidden = active.length > 0;
  reconcile($("#gallery"), drawn.gallery, done, tile, (node, v) => node.dataset.sig === tileSig(v));
  $("#gallery-empty").hidden = done.length > 0;
  $("#more").hidden = !state.hasMore;
}

// `keep(node, v)` updates `node` for `v` and says whether it may stay; otherwise `build(v)` replaces it.
function reconcile(container, cache, videos, build, keep) {
  const nodes = videos.map((v) => {
    const old = cache.get(v.id);
    return old && keep(old, v) ? old : build(v);
  });
  cache.clear();
  videos.forEach((v, i) => cache.set(v.id, nodes[i]));
  const kids = container.children;
  if (nodes.length !== kids.length || nodes.some((n, i) => kids[i] !== n)) container.replaceChildren(...nodes);
}

function stateWords(v) {
  const s = v.veokit.state;
  if (s === "queued") return "Waiting for a worker";
  if (s === "submitting") return "Sending to the provider";
  if (s === "downloading") return "Downloading";
  if (s === "needs_attention") return `Needs the operator: ${v.veokit.attention || "waiting for a decision"}`;
  const left = v.veokit.expected_remaining_s;
  return left ? `Rendering · about ${duration(left)} left` : "Rendering";
}

function queueItem(v) {
  const node = el(
    "li",
    { class: "job", dataset: { id: v.id } },
    el("div", { class: "job-top" },
      el("div", { class: "job-prompt", title: v.prompt || "" }, v.prompt || v.id),
      el("button", { type: "button", class: "danger", onclick: () => cancel(v.id) }, "Cancel")),
    el("div", { class: "job-meta" }),
    el("div", { class: "bar-track" }, el("div", { class: "bar-fill" })),
  );
  fillQueueItem(node, v);
  return node;
}

function fillQueueItem(node, v) {
  node.dataset.status = v.status;
  node.querySelector(".job-meta").textContent =
    `${stateWords(v)} · ${v.progress}% · ${v.model} · ${usd(v.veokit.estimate_usd)}`;
  node.querySelector(".bar-fill").style.width = `${v.progress}%`;
  return true;
}

function tileSig(v) {
  const files = (v.veokit.files || []).map((f) => f.url);
  return JSON.stringify([v.status, v.prompt, v.model, v.seconds, v.size, v.veokit.cost_usd, v.veokit.estimate_usd,
    v.veokit.thumbnail_url, files, v.error && v.error.message]);
}

function tile(v) {
  const portrait = Number((v.size || "16x9").split("x")[1]) > Number((v.size || "16x9").split("x")[0]);
  const failed = v.status === "failed";
  let frame;
  if (failed) {
    frame = el("div", { class: "frame" }, (v.error && v.error.message) || "failed");
  } else {
    const file = v.veokit.files[0];
    const preview = el("video", { muted: true, loop: true, playsinline: true, preload: "none" });
    preview.muted = true;
    frame = el("div", { class: "frame" }, el("img", { src: v.veokit.thumbnail_url, alt: v.prompt || "" }), preview);
    frame.addEventListener("mouseenter", () => {
      if (!preview.src && file) preview.src = file.url;
      preview.play().then(() => preview.classList.add("ready")).catch(() => {});
    });
    frame.addEventListener("mouseleave", () => { preview.pause(); preview.classList.remove("ready"); });
  }
  const cost = failed ? (v.error && v.error.code === "cancelled" ? v.error.message : "failed") : usd(v.veokit.cost_usd ?? v.veokit.estimate_usd);
  return el(
    "article",
    { class: `tile${portrait ? " portrait" : ""}${failed ? " failed" : ""}`, dataset: { id: v.id, status: v.status, sig: tileSig(v) }, tabindex: "0",
      onclick: () => openPlayer(v.id), onkeydown: (e) => { if (e.key === "Enter") openPlayer(v.id); } },
    frame,
    el("div", { class: "cap" },
      el("p", { title: v.prompt || "" }, v.prompt || v.id),
      el("div", { class: "job-meta" }, el("span", { title: v.model }, `${v.seconds} s · ${v.size} · ${v.model}`), el("span", { class: "badge" }, cost))),
  );
}

// Server-Sent Events over fetch (EventSource cannot send the Authorization header); resumes with
// Last-Event-ID when the connection drops, and ends with the job.
async function follow(id) {
  if (state.streams.has(id)) return;
  const ctl = new AbortController();
  state.streams.set(id, ctl);
  let lastId = null;
  try {
    for (let attempt = 0; attempt < 20 && !ctl.signal.aborted; attempt++) {
      const headers = { Authorization: `Bearer ${state.key}`, Accept: "text/event-stream" };
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      let res;
      try {
        res = await fetch(`/v1/videos/${encodeURIComponent(id)}/events`, { headers, signal: ctl.signal });
      } catch (e) {
        if (ctl.signal.aborted) return;
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (!res.ok) return;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const ev = { event: "message", data: "", id: null };
          for (const line of frame.split("\n")) {
            if (line.startsWith("event:")) ev.event = line.slice(6).trim();
            else if (line.startsWith("data:")) ev.data += line.slice(5).trim();
            else if (line.startsWith("id:")) ev.id = line.slice(3).trim();
          }
          if (ev.id !== null) lastId = ev.id;
          if (ev.data) await onEvent(id, ev);
        }
      }
      const v = state.videos.get(id);
      if (!v || !ACTIVE.has(v.status)) return;
    }
  } catch (e) {
    if (e.name !== "AbortError") console.warn("event stream", id, e);
  } finally {
    state.streams.delete(id);
  }
}

async function onEvent(id, ev) {
  const data = JSON.parse(ev.data);
  const v = state.videos.get(id);
  if (!v) return;
  if (ev.event === "progress") {
    v.progress = data.progress;
    v.veokit.state = data.state;
    v.veokit.expected_remaining_s = data.expected_remaining_s;
    const item = drawn.queue.get(id);
    if (item) fillQueueItem(item, v);
    return;
  }
  // a state change: fetch the whole object (files, cost, error) and redraw
  try {
    const fresh = await api(`/v1/videos/${encodeURIComponent(id)}`);
    const was = state.videos.get(id);
    // A finished video never becomes active again: this answer left before a cancel's, which came first.
    if (was && !ACTIVE.has(was.status) && ACTIVE.has(fresh.status)) return;
    state.videos.set(id, fresh);
    render();
    // Several state events can land at once (downloading, then succeeded): say the end only once.
    if (!ACTIVE.has(fresh.status) && was && ACTIVE.has(was.status)) {
      refreshSpend();
      if (fresh.status === "completed") toast("A video is ready");
      else toast(`A video failed: ${(fresh.error && fresh.error.message) || fresh.veokit.state}`, true);
    }
  } catch { /* the next event tries again */ }
}

async function cancel(id) {
  try {
    const v = await api(`/v1/videos/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    state.videos.set(id, v);
    const ctl = state.streams.get(id);
    if (ctl) ctl.abort();
    render();
    toast(v.error ? v.error.message : "Cancelled");
    refreshSpend();
  } catch (err) {
    toast(err.message, true);
  }
}

// ---------- the player ----------------------------------------------------------------------------------
function openPlayer(id) {
  const v = state.videos.get(id);
  if (!v) return;
  state.current = v;
  const dialog = $("#player");
  const video = $("#player-video");
  const file = v.veokit.files[0];
  video.hidden = !file;
  if (file) {
    video.src = file.url;
    video.poster = v.veokit.thumbnail_url || "";
  } else {
    video.removeAttribute("src");
  }
  $("#player-prompt").textContent = v.prompt || "";
  const req = v.veokit.request || {};
  const facts = [
    ["Model", v.model], ["Provider", v.veokit.provider], ["Size", v.size], ["Seconds", v.seconds],
    ["Seed", req.seed ?? "random"], ["Cost", usd(v.veokit.cost_usd ?? v.veokit.estimate_usd)],
    ["State", v.veokit.state],
  ];
  $("#player-facts").replaceChildren(...facts.map(([k, val]) => el("div", {}, el("dt", {}, k), el("dd", {}, String(val)))));
  const m = state.models.find((x) => x.model === v.model && x.provider === v.veokit.provider);
  $("#act-extend").hidden = !(v.status === "completed" && m && m.extension);
  $("#act-download").hidden = !file;
  if (file) $("#act-download").href = file.url;
  $("#act-rerun").hidden = false;
  $("#extend-form").hidden = true;
  $("#player-error").textContent = v.status === "failed" && v.error ? v.error.message : "";
  dialog.showModal();
}

async function rerun() {
  const v = state.current;
  try {
    const seed = v.veokit.request && v.veokit.request.seed;
    const fresh = await api(`/v1/veokit/videos/${encodeURIComponent(v.id)}/rerun`, {
      method: "POST", json: seed === undefined || seed === null ? {} : { seed },
    });
    $("#player").close();
    upsert(fresh);
    toast(`Re-running: ${usd(fresh.veokit.estimate_usd)} estimated`);
    refreshSpend();
  } catch (err) {
    $("#player-error").textContent = err.message;
  }
}

async function extend(event) {
  event.preventDefault();
  const v = state.current;
  try {
    const fresh = await api("/v1/videos/extensions", {
      method: "POST", json: { video: { id: v.id }, prompt: $("#extend-prompt").value.trim() },
    });
    $("#player").close();
    upsert(fresh);
    toast(`Extending: ${usd(fresh.veokit.estimate_usd)} estimated`);
    refreshSpend();
  } catch (err) {
    $("#extend-error").textContent = err.message;
  }
}

async function remove() {
  const v = state.current;
  if (!confirm("Delete this video? Its file is removed from the server.")) return;
  try {
    await api(`/v1/videos/${encodeURIComponent(v.id)}`, { method: "DELETE" });
    state.videos.delete(v.id);
    $("#player").close();
    render();
    toast("Deleted");
  } catch (err) {
    $("#player-error").textContent = err.message;
  }
}

// ---------- tabs: videos and films ----------------------------------------------------------------------
const filmsTab = initFilms({ api, key: () => state.key, el, usd, toast, duration, $, onSpend: () => refreshSpend() });

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    const on = tab.dataset.tab === name;
    tab.classList.toggle("active", on);
    tab.setAttribute("aria-pressed", String(on));
  }
  $("#studio").hidden = name !== "studio";
  $("#films").hidden = name !== "films";
  if (name === "films") filmsTab.shown();
}

// ---------- wiring --------------------------------------------------------------------------------------
function wire() {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  $("#sign-in-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#sign-in-error").textContent = "";
    try {
      await signIn($("#key").value.trim());
    } catch (err) {
      state.key = "";
      $("#sign-in-error").textContent = err.status === 401 ? "That key was not accepted." : err.message;
    }
  });
  $("#sign-out").addEventListener("click", signOut);
  $("#model").addEventListener("change", onModel);
  for (const id of ["prompt", "size", "seconds", "seed", "negative_prompt", "generate_audio",
    "input_reference", "last_frame", "reference_images"]) {
    const node = $(`#${id}`);
    node.addEventListener(node.type === "file" || node.tagName === "SELECT" || node.type === "checkbox" ? "change" : "input", scheduleEstimate);
  }
  $("#create-form").addEventListener("submit", create);
  $("#more").addEventListener("click", () => loadVideos(false).catch((err) => toast(err.message, true)));
  $("#act-rerun").addEventListener("click", rerun);
  $("#act-extend").addEventListener("click", () => { $("#extend-form").hidden = false; $("#extend-prompt").focus(); });
  $("#extend-form").addEventListener("submit", extend);
  $("#act-delete").addEventListener("click", remove);
  $("#player").addEventListener("close", () => { $("#player-video").pause(); });
}

wire();
if (state.key) {
  signIn(state.key).catch((err) => {
    signOut();
    if (err.status !== 401) $("#sign-in-error").textContent = err.message;
  });
} else {
  signOut();
}
