// veokit studio, the Films tab: storyboards over /v1/veokit/films. Plan (checked and priced, nothing paid),
// render with the price confirmed, shots in order with each take's poster, pick a take (its downstream price
// first), and the stitched film. A render runs on the server; the page polls the film while it does.

const POLL_MS = 1000;

export function initFilms({ api, key, el, usd, toast, duration, $, onSpend }) {
  const films = { current: null, timer: null, pick: null, loaded: false, wasRendering: false };

  const path = (id, tail = "") => `/v1/veokit/films/${encodeURIComponent(id)}${tail}`;

  async function postStoryboard(text) {
    // The body is the storyboard itself: JSON as JSON, anything else as YAML.
    const json = text.trimStart().startsWith("{");
    let res;
    try {
      res = await fetch("/v1/veokit/films", {
        method: "POST",
        headers: { Authorization: `Bearer ${key()}`,
          "Content-Type": json ? "application/json" : "text/yaml" },
        body: text,
      });
    } catch {
      throw Object.assign(new Error("The service cannot be reached. Is `veokit serve` running?"), { status: 0 });
    }
    const doc = await res.json().catch(() => null);
    if (!res.ok) {
      const err = (doc && doc.error) || {};
      throw Object.assign(new Error(err.message || `the service answered ${res.status}`),
        { status: res.status, problems: err.problems || [] });
    }
    return doc;
  }

  async function plan(event) {
    event.preventDefault();
    const text = $("#film-text").value;
    const error = $("#film-error");
    error.replaceChildren();
    if (!text.trim()) {
      error.textContent = "Paste or open a storyboard first.";
      return;
    }
    $("#film-plan").disabled = true;
    try {
      show(await postStoryboard(text));
      await loadList();
    } catch (err) {
      // Every problem found, each naming its line, shot and field, as `veokit film plan` prints them.
      const lines = err.problems && err.problems.length > 1 ? err.problems : [err.message];
      error.replaceChildren(...lines.map((line) => el("div", { class: "problem" }, line)));
    } finally {
      $("#film-plan").disabled = false;
    }
  }

  async function openFile() {
    const file = $("#film-file").files[0];
    if (file) $("#film-text").value = await file.text();
  }

  async function loadList() {
    const doc = await api("/v1/veokit/films");
    $("#film-list").replaceChildren(...doc.data.map((f) =>
      el("li", {}, el("button", { type: "button", class: "link", dataset: { id: f.id },
        onclick: () => open(f.id) }, f.title),
        el("span", { class: "muted" }, ` · ${new Date(f.created_at * 1000).toLocaleString()}`))));
    $("#film-list-empty").hidden = doc.data.length > 0;
  }

  async function open(id) {
    try {
      show(await api(path(id)));
    } catch (err) {
      toast(err.message, true);
    }
  }

  async function refresh() {
    if (!films.current) return;
    try {
      show(await api(path(films.current.id)));
    } catch (err) {
      toast(err.message, true);
    }
  }

  function show(film) {
    const changed = !films.current || films.current.id !== film.id;
    films.current = film;
    if (changed) hidePick();
    $("#film-view").hidden = false;
    $("#film-title").textContent = film.title;
    const words = film.rendering ? "rendering" : film.film_url ? "rendered" : film.done ? "takes ready" : "planned";
    $("#film-state").textContent = words;
    $("#film-plan-table tbody").replaceChildren(...film.shots.map((s) => el("tr", { dataset: { shot: s.shot } },
      el("td", {}, s.shot), el("td", {}, s.continuity), el("td", { title: s.provider }, s.model),
      el("td", {}, String(s.seconds)), el("td", {}, String(s.takes.length)),
      el("td", { class: "num" }, usd(s.usd)), el("td", {}, s.state))));
    $("#film-total").textContent = usd(film.total_usd);
    $("#film-warnings").replaceChildren(...film.warnings.map((w) => el("li", {}, w)));
    const toPay = $("#film-to-pay");
    const button = $("#film-render");
    if (film.rendering) {
      toPay.textContent = "Rendering…";
      button.disabled = true;
      button.textContent = "Rendering";
    } else {
      toPay.replaceChildren(el("span", { class: "usd", "data-testid": "film-price" }, usd(film.to_pay_usd)),
        el("span", { class: "muted" }, film.to_pay_usd > 0 ? " still to pay" : " (every take is rendered)"));
      button.disabled = !!film.film_url;
      button.textContent = film.film_url ? "Rendered" : film.to_pay_usd > 0 ? `Render · ${usd(film.to_pay_usd)}`
        : film.done ? "Stitch the film" : "Continue rendering";
    }
    $("#film-render-error").textContent = film.render_error || "";
    $("#film-shots").replaceChildren(...film.shots.map(shotCard));
    $("#film-events").replaceChildren(...film.events.map((e) => el("li", {}, e)));
    const done = $("#film-done");
    done.hidden = !film.film_url;
    const player = $("#film-player");
    if (film.film_url) {
      // The link is re-signed each hour; keep the loaded one unless the film itself changed.
      const base = film.film_url.split("?")[0];
      if (!player.src || player.src.split("?")[0] !== base || player.dataset.film !== film.id) {
        player.src = film.film_url;
        player.dataset.film = film.id;
      }
      $("#film-download").href = film.film_url;
    } else {
      player.removeAttribute("src");
      player.dataset.film = "";
    }
    clearTimeout(films.timer);
    if (film.rendering) films.timer = setTimeout(refresh, POLL_MS);
    else if (films.wasRendering) onSpend(); // its takes are the key's videos: the day's spend moved
    films.wasRendering = film.rendering;
  }

  function shotCard(s) {
    return el("article", { class: "shot", dataset: { shot: s.shot, state: s.state } },
      el("div", { class: "shot-head" }, el("strong", {}, s.shot),
        el("span", { class: "muted" }, ` ${s.continuity} · ${duration(s.seconds)} · ${s.state}`)),
      el("div", { class: "takes" }, ...s.takes.map((t) => takeCard(s, t))));
  }

  function takeCard(s, t) {
    const frame = t.poster_url
      ? el("img", { src: t.poster_url, alt: `${s.shot} take ${t.take}`, loading: "lazy" })
      : el("div", { class: "placeholder" }, t.state);
    const pickable = !t.chosen && t.state === "succeeded" && !films.current.rendering;
    return el("figure", { class: `take${t.chosen ? " chosen" : ""}`, dataset: { take: String(t.take), state: t.state } },
      t.video_url ? el("a", { href: t.video_url, target: "_blank", rel: "noopener", title: "Play this take" }, frame) : frame,
      el("figcaption", {},
        el("span", {}, `Take ${t.take}${t.chosen ? " · chosen" : ""}`),
        pickable ? el("button", { type: "button", class: "link", onclick: () => previewPick(s.shot, t.take) }, "Use this take") : null));
  }

  async function previewPick(shot, take) {
    try {
      const preview = await api(path(films.current.id, "/pick"), { method: "POST", json: { shot, take } });
      films.pick = preview;
      const after = preview.to_render.length
        ? `re-renders ${preview.to_render.map((r) => r.shot).join(", ")} for ${usd(preview.usd)}`
        : "re-renders nothing ($0.00)";
      $("#film-pick-text").textContent = `Take ${take} of ${shot} ${after}; then render the film again.`;
      $("#film-pick").hidden = false;
    } catch (err) {
      toast(err.message, true);
    }
  }

  async function applyPick() {
    const p = films.pick;
    if (!p) return;
    try {
      const done = await api(path(films.current.id, "/pick"), {
        method: "POST", json: { shot: p.shot, take: p.take, confirm_usd: p.usd },
      });
      hidePick();
      show(done.film);
      toast(`Take ${p.take} of ${p.shot} chosen`);
    } catch (err) {
      toast(err.message, true);
    }
  }

  function hidePick() {
    films.pick = null;
    $("#film-pick").hidden = true;
  }

  async function render() {
    const film = films.current;
    if (!film) return;
    $("#film-render").disabled = true;
    try {
      // The price the page showed is the one confirmed: if the film needs more, the service refuses.
      show(await api(path(film.id, "/render"), { method: "POST", json: { confirm_usd: film.to_pay_usd } }));
      toast(film.to_pay_usd > 0 ? `Rendering: ${usd(film.to_pay_usd)}` : "Stitching the film");
    } catch (err) {
      $("#film-render-error").textContent = err.message;
      $("#film-render").disabled = false;
    }
  }

  $("#film-form").addEventListener("submit", plan);
  $("#film-file").addEventListener("change", openFile);
  $("#film-render").addEventListener("click", render);
  $("#film-pick-apply").addEventListener("click", applyPick);
  $("#film-pick-cancel").addEventListener("click", hidePick);

  return {
    async shown() {
      if (!films.loaded) {
        films.loaded = true;
        await loadList().catch((err) => toast(err.message, true));
      }
    },
    reset() {
      clearTimeout(films.timer);
      films.current = null;
      films.loaded = false;
      hidePick();
      $("#film-view").hidden = true;
      $("#film-list").replaceChildren();
    },
  };
}
