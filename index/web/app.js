// The wikifilms page: search, films like a film and why, the map of all films, "I liked these".
// Plain JavaScript, no build step. Every title is put on the page with textContent (never
// as HTML), so a title holding markup shows as text.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  info: null,
  selected: null,        // film id shown in the film panel
  neighbours: [],        // its neighbours' ids
  basket: new Map(),     // film id -> title
  answered: [],          // ids of the last recommendations
};

// ---- the API ---------------------------------------------------------------------------

async function api(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) {
    const error = new Error(body.error || `HTTP ${response.status}`);
    error.suggestions = body.suggestions || [];
    error.candidates = body.candidates || [];
    throw error;
  }
  return body;
}

function say(text) { $("message").textContent = text || ""; }

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function factsLine(row) {
  // A catalogue title of the ratings may carry its year already: "Heat (1995)".
  const year = row.title && row.title.endsWith(`(${row.year})`) ? null : row.year;
  return [year, row.director].filter((v) => v !== null && v !== undefined && v !== "").join(", ");
}

// ---- search with suggestions -------------------------------------------------------------

const search = { timer: null, token: 0, rows: [], active: -1 };

function showSuggestions(rows) {
  const list = $("suggestions");
  list.replaceChildren();
  search.rows = rows;
  search.active = rows.length ? 0 : -1;
  rows.forEach((row, i) => {
    const item = el("li");
    item.setAttribute("role", "option");
    item.dataset.id = row.id;
    item.append(el("span", row.title, "title"));
    const facts = factsLine(row);
    if (facts) item.append(el("span", ` (${facts})`, "facts"));
    item.addEventListener("mousedown", (event) => { event.preventDefault(); pick(i); });
    list.append(item);
  });
  highlight();
  list.hidden = rows.length === 0;
  $("search").setAttribute("aria-expanded", String(!list.hidden));
}

function highlight() {
  [...$("suggestions").children].forEach((item, i) =>
    item.setAttribute("aria-selected", String(i === search.active)));
}

function hideSuggestions() {
  $("suggestions").hidden = true;
  $("search").setAttribute("aria-expanded", "false");
}

function pick(i) {
  const row = search.rows[i];
  if (!row) return;
  $("search").value = row.title;
  hideSuggestions();
  selectFilm(row.title);
}

async function suggest() {
  const text = $("search").value;
  const token = ++search.token;
  if (!text.trim()) { showSuggestions([]); return; }
  try {
    const body = await api(`/api/films?q=${encodeURIComponent(text)}`);
    if (token === search.token) showSuggestions(body.suggestions);
  } catch (error) {
    if (token === search.token) { showSuggestions([]); say(error.message); }
  }
}

function setUpSearch() {
  const input = $("search");
  input.addEventListener("input", () => {
    clearTimeout(search.timer);
    search.timer = setTimeout(suggest, 120);
  });
  input.addEventListener("keydown", (event) => {
    const open = !$("suggestions").hidden && search.rows.length;
    if (event.key === "ArrowDown" && open) {
      search.active = (search.active + 1) % search.rows.length; highlight(); event.preventDefault();
    } else if (event.key === "ArrowUp" && open) {
      search.active = (search.active - 1 + search.rows.length) % search.rows.length;
      highlight(); event.preventDefault();
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (open && search.active >= 0) pick(search.active);
      else if (input.value.trim()) { hideSuggestions(); selectFilm(input.value.trim()); }
    } else if (event.key === "Escape") {
      hideSuggestions();
    }
  });
  input.addEventListener("blur", () => setTimeout(hideSuggestions, 100));
}

// ---- answers: a film's neighbours, recommendations ----------------------------------------

function answerItem(row, reasons, score) {
  const item = el("li");
  item.dataset.id = row.id;
  const head = el("div");
  head.append(el("span", score, "score"));
  if (row.id !== undefined) {
    const add = el("button", "+", "add");
    add.type = "button";
    add.title = "Add to \"I liked these\"";
    add.addEventListener("click", () => addToBasket(row.id, row.title));
    head.append(add);
  }
  // Film rows have an id; a ratings item is a film of the index only when it is linked.
  const isFilm = row.id !== undefined || (row.film_id !== undefined && row.film_id !== null);
  const title = el("span", row.title, isFilm ? "answer-title" : "item-title");
  if (isFilm) title.addEventListener("click", () => selectFilm(row.title));
  head.append(title);
  const facts = factsLine(row);
  if (facts) head.append(el("span", ` (${facts})`, "answer-facts"));
  item.append(head);
  if (reasons && reasons.length) {
    const why = el("div", null, "why");
    why.append(el("b", "shares: "));
    why.append(document.createTextNode(reasons.map((r) => r.title).join(", ")));
    item.append(why);
  }
  return item;
}

function showAnswers(list, rows, reasons) {
  list.replaceChildren(...rows.map((row) =>
    answerItem(row, reasons ? reasons[String(row.id)] : null,
               (row.similarity ?? row.score).toFixed(3))));
}

async function selectFilm(title) {
  say("");
  try {
    const body = await api(`/api/similar/${encodeURIComponent(title)}?k=10`);
    const film = body.query;
    state.selected = film.id;
    state.neighbours = body.neighbours.map((row) => row.id);
    $("film").hidden = false;
    $("film-title").textContent = film.title;
    $("film-facts").textContent = [factsLine(film), film.note ? `(${film.note})` : ""]
      .filter(Boolean).join(" ");
    showAnswers($("neighbours"), body.neighbours, body.reasons);
    history.replaceState(null, "", `#film=${encodeURIComponent(film.title)}`);
    map.focus(film.id);
  } catch (error) {
    say(error.message);
    // An ambiguous name: its films to pick from, as suggestions under the search box.
    if (error.candidates && error.candidates.length) showSuggestions(error.candidates);
  }
}

// ---- "I liked these" ----------------------------------------------------------------------

function addToBasket(id, title) {
  state.basket.set(id, title);
  showBasket();
}

function showBasket() {
  const list = $("basket");
  list.replaceChildren(...[...state.basket].map(([id, title]) => {
    const item = el("li", title);
    item.dataset.id = id;
    const remove = el("button", "×");
    remove.type = "button";
    remove.title = "Remove";
    remove.addEventListener("click", () => { state.basket.delete(id); showBasket(); });
    item.append(remove);
    return item;
  }));
  const empty = state.basket.size === 0;
  $("basket-empty").hidden = !empty;
  $("recommend").disabled = empty;
  $("clear-basket").disabled = empty;
  map.draw();
}

async function recommend() {
  say("");
  const query = [...state.basket.values()].map((t) => `liked=${encodeURIComponent(t)}`).join("&");
  try {
    const body = await api(`/api/recommend?${query}&k=10`);
    state.answered = body.neighbours.map((row) => row.id);
    showAnswers($("recommendations"), body.neighbours, body.reasons);
    map.draw();
  } catch (error) {
    say(error.message);
  }
}

async function userAnswers(event) {
  event.preventDefault();
  say("");
  const id = $("user-id").value.trim();
  if (!id) return;
  try {
    const body = await api(`/api/user/${encodeURIComponent(id)}?k=10`);
    $("user-summary").textContent = `User ${body.user} rated ${body.rated} films; these are ` +
      "the ranking model's best among the others:";
    showAnswers($("user-answers"), body.answers, null);
    state.answered = body.answers.map((row) => row.film_id).filter((i) => i !== null);
    map.draw();
  } catch (error) {
    $("user-summary").textContent = "";
    $("user-answers").replaceChildren();
    say(error.message);
  }
}

// ---- the map ------------------------------------------------------------------------------

const map = {
  canvas: null, xy: null, n: 0,
  view: { cx: 0, cy: 0, scale: 1 },  // data point at the canvas centre, pixels per data unit
  home: null,
  grid: null,                        // a uniform grid over the points, for hover and click
  titles: new Map(),
  pending: false,
  hovered: -1,
  readyAt: undefined,                // performance.now() of the first full drawing

  async load() {
    this.canvas = $("map");
    const response = await fetch("/api/map");
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      $("map-note").textContent = body.error || "no map";
      return;
    }
    this.xy = new Float32Array(await response.arrayBuffer());
    this.n = this.xy.length / 2;
    this.buildGrid();
    this.fit();
    this.listen();
    $("map-note").textContent = `${this.n.toLocaleString()} films (t-SNE of their vectors): ` +
      "drag to pan, wheel to zoom, click a film";
    this.paint();
    this.readyAt = performance.now();  // ms since the page was requested (bench/serve.py)
  },

  buildGrid() {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < this.n; i++) {
      const x = this.xy[2 * i], y = this.xy[2 * i + 1];
      if (x < minX) minX = x; if (x > maxX) maxX = x;
      if (y < minY) minY = y; if (y > maxY) maxY = y;
    }
    const side = Math.max(1, Math.ceil(Math.sqrt(this.n / 4)));  // ~4 points a cell
    const width = Math.max(maxX - minX, 1e-9), height = Math.max(maxY - minY, 1e-9);
    const cell = Math.max(width, height) / side;
    const cols = Math.ceil(width / cell) + 1, rows = Math.ceil(height / cell) + 1;
    const counts = new Int32Array(cols * rows + 1);
    const cellOf = new Int32Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const c = Math.floor((this.xy[2 * i] - minX) / cell) +
                cols * Math.floor((this.xy[2 * i + 1] - minY) / cell);
      cellOf[i] = c;
      counts[c + 1]++;
    }
    for (let c = 0; c < cols * rows; c++) counts[c + 1] += counts[c];
    const items = new Int32Array(this.n), next = counts.slice(0, cols * rows);
    for (let i = 0; i < this.n; i++) items[next[cellOf[i]]++] = i;
    this.grid = { minX, minY, maxX, maxY, cell, cols, rows, start: counts, items };
  },

  fit() {
    const g = this.grid, box = this.size();
    const scale = 0.92 * Math.min(box.w / Math.max(g.maxX - g.minX, 1e-9),
                                  box.h / Math.max(g.maxY - g.minY, 1e-9));
    this.home = { cx: (g.minX + g.maxX) / 2, cy: (g.minY + g.maxY) / 2, scale };
    this.view = { ...this.home };
  },

  size() {
    const rect = this.canvas.getBoundingClientRect();
    return { w: Math.max(rect.width, 1), h: Math.max(rect.height, 1) };
  },

  toScreen(i) {  // CSS pixels within the canvas
    const box = this.size(), v = this.view;
    return [(this.xy[2 * i] - v.cx) * v.scale + box.w / 2,
            (this.xy[2 * i + 1] - v.cy) * v.scale + box.h / 2];
  },

  toData(px, py) {
    const box = this.size(), v = this.view;
    return [(px - box.w / 2) / v.scale + v.cx, (py - box.h / 2) / v.scale + v.cy];
  },

  nearest(px, py, radius = 8) {
    if (!this.grid) return -1;
    const g = this.grid, [x, y] = this.toData(px, py), r = radius / this.view.scale;
    const c0 = Math.max(0, Math.floor((x - r - g.minX) / g.cell));
    const c1 = Math.min(g.cols - 1, Math.floor((x + r - g.minX) / g.cell));
    const r0 = Math.max(0, Math.floor((y - r - g.minY) / g.cell));
    const r1 = Math.min(g.rows - 1, Math.floor((y + r - g.minY) / g.cell));
    let best = -1, bestD = r * r;
    for (let row = r0; row <= r1; row++) {
      for (let col = c0; col <= c1; col++) {
        const c = col + g.cols * row;
        for (let k = g.start[c]; k < g.start[c + 1]; k++) {
          const i = g.items[k];
          const dx = this.xy[2 * i] - x, dy = this.xy[2 * i + 1] - y, d = dx * dx + dy * dy;
          if (d <= bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  },

  draw() {
    if (!this.xy || this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.paint(); });
  },

  paint() {
    const ratio = window.devicePixelRatio || 1, box = this.size();
    const w = Math.round(box.w * ratio), h = Math.round(box.h * ratio);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w; this.canvas.height = h;
    }
    const ctx = this.canvas.getContext("2d");
    // Every film as one pixel (two when zoomed in) written straight into the image: 150,000
    // points take a few milliseconds where one path per point takes far longer.
    const image = ctx.createImageData(w, h), data = image.data;
    const v = this.view, s = v.scale * ratio, ox = w / 2 - v.cx * s, oy = h / 2 - v.cy * s;
    // Bigger dots where there are few films or the view is zoomed in.
    const base = this.n < 5000 ? 3 : this.n < 50000 ? 2 : 1;
    const dot = Math.min(4, base + (v.scale > 4 * this.home.scale ? 1 : 0)) * Math.max(1, Math.round(ratio));
    for (let i = 0; i < this.n; i++) {
      const x = Math.floor(this.xy[2 * i] * s + ox - dot / 2);
      const y = Math.floor(this.xy[2 * i + 1] * s + oy - dot / 2);
      if (x < 0 || y < 0 || x + dot > w || y + dot > h) continue;
      for (let dy = 0; dy < dot; dy++) {
        for (let dx = 0; dx < dot; dx++) {
          const p = 4 * ((y + dy) * w + x + dx);
          data[p] = 60; data[p + 1] = 90; data[p + 2] = 150; data[p + 3] = 170;
        }
      }
    }
    ctx.putImageData(image, 0, 0);
    ctx.save();
    ctx.scale(ratio, ratio);
    const mark = (ids, colour, size) => {
      ctx.fillStyle = colour;
      ctx.strokeStyle = "#fff";
      for (const i of ids) {
        const [x, y] = this.toScreen(i);
        ctx.beginPath(); ctx.arc(x, y, size, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
      }
    };
    const liked = [...state.basket.keys()].filter((i) => i !== state.selected);
    const near = state.neighbours.filter((i) => !state.basket.has(i));
    mark(state.answered, "#8e44ad", 4);
    mark(near, "#e67e22", 4);
    mark(liked, "#1e9e5a", 5);
    if (state.selected !== null) mark([state.selected], "#d62728", 7);
    if (this.hovered >= 0) mark([this.hovered], "#1d2330", 4);
    // Titles by priority (the selected film, the basket, the neighbours), each only where it
    // does not cover one already written.
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillStyle = "#1d2330";
    const taken = [];
    const order = [...(state.selected !== null ? [state.selected] : []), ...liked, ...near];
    for (const i of order) {
      const title = this.titles.get(i);
      if (!title) continue;
      const [x, y] = this.toScreen(i);
      const box = [x + 9, y - 8, x + 9 + ctx.measureText(title).width, y + 6];
      if (taken.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])) {
        continue;
      }
      taken.push(box);
      ctx.fillText(title, x + 9, y + 4);
    }
    ctx.restore();
  },

  async title(i) {
    if (!this.titles.has(i)) {
      const film = await api(`/api/film/${i}`);
      this.titles.set(i, film.title);
    }
    return this.titles.get(i);
  },

  focus(id) {  // the selected film and its neighbours: titles for labels, film on screen
    Promise.all([id, ...state.neighbours].map((i) => this.title(i))).then(() => this.draw());
    if (!this.xy) return;
    const [x, y] = this.toScreen(id), box = this.size();
    if (x < 0 || y < 0 || x > box.w || y > box.h) {
      this.view.cx = this.xy[2 * id]; this.view.cy = this.xy[2 * id + 1];
    }
    this.draw();
  },

  zoom(factor, px, py) {
    const box = this.size();
    px = px ?? box.w / 2; py = py ?? box.h / 2;
    const [x, y] = this.toData(px, py);
    const scale = Math.min(Math.max(this.view.scale * factor, this.home.scale / 4),
                           this.home.scale * 5000);
    this.view.scale = scale;
    // keep the data point under the cursor where it was
    this.view.cx = x - (px - box.w / 2) / scale;
    this.view.cy = y - (py - box.h / 2) / scale;
    this.draw();
  },

  listen() {
    const canvas = this.canvas, tip = $("tooltip");
    let drag = null, hoverToken = 0;
    const at = (event) => {
      const rect = canvas.getBoundingClientRect();
      return [event.clientX - rect.left, event.clientY - rect.top];
    };
    canvas.addEventListener("pointerdown", (event) => {
      const [px, py] = at(event);
      drag = { px, py, cx: this.view.cx, cy: this.view.cy, moved: false };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      const [px, py] = at(event);
      if (drag) {
        if (Math.abs(px - drag.px) + Math.abs(py - drag.py) > 3) drag.moved = true;
        if (drag.moved) {
          canvas.classList.add("dragging");
          this.view.cx = drag.cx - (px - drag.px) / this.view.scale;
          this.view.cy = drag.cy - (py - drag.py) / this.view.scale;
          tip.hidden = true;
          this.draw();
          return;
        }
      }
      const i = this.nearest(px, py);
      if (i !== this.hovered) { this.hovered = i; this.draw(); }
      if (i < 0) { tip.hidden = true; return; }
      const token = ++hoverToken;
      this.title(i).then((title) => {
        if (token !== hoverToken) return;
        tip.textContent = title;
        tip.style.left = `${px + 12}px`;
        tip.style.top = `${py + 12}px`;
        tip.hidden = false;
      }).catch(() => { tip.hidden = true; });
    });
    canvas.addEventListener("pointerup", (event) => {
      const [px, py] = at(event);
      const clicked = drag && !drag.moved;
      drag = null;
      canvas.classList.remove("dragging");
      if (!clicked) return;
      const i = this.nearest(px, py);
      if (i >= 0) this.title(i).then((title) => selectFilm(title));
    });
    canvas.addEventListener("pointerleave", () => { tip.hidden = true; this.hovered = -1; this.draw(); });
    canvas.addEventListener("wheel", (event) => {
      event.preventDefault();
      const [px, py] = at(event);
      this.zoom(Math.exp(-event.deltaY * 0.0015), px, py);
    }, { passive: false });
    $("zoom-in").addEventListener("click", () => this.zoom(1.6));
    $("zoom-out").addEventListener("click", () => this.zoom(1 / 1.6));
    $("zoom-reset").addEventListener("click", () => { this.view = { ...this.home }; this.draw(); });
    window.addEventListener("resize", () => this.draw());
  },
};

// For tests, benchmarks and the curious: where film `id` is drawn, in page coordinates;
// when the map was first drawn; how long drawing it takes (mean of n draws, ms).
window.wikifilmsMap = {
  ready: () => map.xy !== null && map.grid !== null && map.readyAt !== undefined,
  readyAt: () => map.readyAt,
  films: () => map.n,
  paintMs: (n = 20, zoom = 1) => {
    const view = { ...map.view };
    map.view.scale *= zoom;
    const started = performance.now();
    for (let i = 0; i < n; i++) { map.view.cx += 0.001 / map.view.scale; map.paint(); }
    const ms = (performance.now() - started) / n;
    map.view = view;
    map.paint();
    return ms;
  },
  pagePosition: (id) => {
    const rect = map.canvas.getBoundingClientRect(), [x, y] = map.toScreen(id);
    return [rect.left + x, rect.top + y];
  },
};

// ---- start --------------------------------------------------------------------------------

async function start() {
  setUpSearch();
  $("recommend").addEventListener("click", recommend);
  $("clear-basket").addEventListener("click", () => {
    state.basket.clear(); state.answered = [];
    $("recommendations").replaceChildren(); showBasket();
  });
  $("like-film").addEventListener("click", () => {
    if (state.selected !== null) addToBasket(state.selected, $("film-title").textContent);
  });
  $("user-form").addEventListener("submit", userAnswers);
  try {
    state.info = await api("/api/info");
    const info = state.info;
    $("info").textContent = `${info.films.toLocaleString()} films, ` +
      `${info.links.toLocaleString()} linked pages` +
      (info.ranking ? `, ${info.users.toLocaleString()} users of the ratings` : "");
    $("user-panel").hidden = !info.ranking;
  } catch (error) {
    $("info").textContent = `The index did not answer: ${error.message}`;
    return;
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get("film");
  if (wanted) selectFilm(wanted);
  map.load().catch((error) => { $("map-note").textContent = `map: ${error.message}`; });
}

document.addEventListener("DOMContentLoaded", start);
