// hookfence console: reads /routes, /deliveries and /queue, acts through
// /queue with the admin token in an Authorization header (never a cookie).
// Everything a sender controls (ids, events, headers, bodies) is written
// with textContent, never parsed as HTML.
"use strict";

const TOKEN_KEY = "hookfence-admin-token";
const POLL_MS = 2000;
const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  routes: [],
  selected: null, // seq of the delivery shown in the panel
  attempts: new Map(), // queue id -> {count, state}
  queueReadable: true, // false while the queue needs a token the page lacks
  timer: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    tr.append(cell instanceof Node ? wrap(cell) : el("td", cell));
  }
  return tr;
}

function wrap(node) {
  if (node.tagName === "TD") return node;
  const td = document.createElement("td");
  td.append(node);
  return td;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const response = await fetch(path, { ...options, headers, cache: "no-store", credentials: "omit" });
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = { error: "the answer was not JSON" };
  }
  return { ok: response.ok, status: response.status, body };
}

function problem(text) {
  const p = $("problem");
  p.hidden = !text;
  p.textContent = text || "";
}

const CLASS = {};
function outcomeClass(outcome) {
  return CLASS[outcome] || "failed";
}
for (const o of ["forwarded", "filtered", "duplicate", "queued", "handshake"]) CLASS[o] = "accepted";
for (const o of [
  "rejected_missing_signature", "rejected_bad_signature", "rejected_stale_timestamp",
  "rejected_unknown_tenant", "rejected_no_delivery_id", "rejected_body_too_large",
  "rejected_timeout", "rejected_method", "bad_request", "no_route",
]) CLASS[o] = "rejected";
const FAILED = ["in_flight", "store_unavailable", "overloaded", "upstream_error", "upstream_timeout", "queue_full", "queue_unavailable"];

function outcomeLabel(outcome) {
  return outcome.replace(/^rejected_/, "rejected: ").replaceAll("_", " ");
}

function outcomeNode(outcome) {
  return el("span", outcomeLabel(outcome), "outcome " + outcomeClass(outcome));
}

function time(text) {
  const date = new Date(text);
  const node = el("time", date.toLocaleTimeString([], { hour12: false }));
  node.dateTime = text;
  node.title = date.toLocaleString();
  return node;
}

function ms(value) {
  if (value === null || value === undefined) return "–";
  return value < 10 ? value.toFixed(2) + " ms" : Math.round(value) + " ms";
}

function micros(value) {
  return value === null || value === undefined ? "–" : ms(value / 1000);
}

// ---- routes overview ----------------------------------------------------

function summary(window) {
  if (!window || !window.total) return "0";
  const parts = [];
  let accepted = 0, rejected = 0, failed = 0;
  for (const [outcome, n] of Object.entries(window.outcomes)) {
    const c = outcomeClass(outcome);
    if (c === "accepted") accepted += n;
    else if (c === "rejected") rejected += n;
    else failed += n;
  }
  parts.push(String(window.total));
  const detail = [];
  if (accepted) detail.push(accepted + " ok");
  if (rejected) detail.push(rejected + " rejected");
  if (failed) detail.push(failed + " failed");
  return parts.concat(detail.length ? ["(" + detail.join(", ") + ")"] : []).join(" ");
}

function rejectedBreakdown(window) {
  if (!window) return "0";
  const entries = Object.entries(window.outcomes).filter(([o]) => outcomeClass(o) === "rejected");
  if (!entries.length) return "0";
  return entries.map(([o, n]) => n + " " + outcomeLabel(o).replace("rejected: ", "")).join(", ");
}

function mode(route) {
  const parts = [route.enforce ? "enforcing" : "shadow", route.delivery];
  return parts.join(", ");
}

function queueText(route) {
  const q = route.queue;
  if (!q) return "–";
  if (q.error) return q.error;
  let text = q.pending + " pending, " + q.dead + " dead";
  if (q.oldest_age_seconds !== null && q.oldest_age_seconds !== undefined) {
    text += ", oldest " + Math.round(q.oldest_age_seconds) + " s";
  }
  return text;
}

function renderRoutes() {
  const body = $("routes").tBodies[0];
  body.replaceChildren();
  for (const route of state.routes) {
    const rate = route.upstream_error_rate;
    const tr = row([
      el("strong", route.name),
      route.provider,
      mode(route),
      summary(route.last_5m),
      summary(route.last_1h),
      rejectedBreakdown(route.last_1h),
      rate === null || rate === undefined ? "–" : (rate * 100).toFixed(1) + " %",
      route.last_1h ? ms(route.last_1h.p50_ms) + " / " + ms(route.last_1h.p99_ms) : "–",
      queueText(route),
    ]);
    tr.dataset.route = route.name;
    body.append(tr);
  }
  const select = $("f-route");
  const chosen = select.value;
  const names = state.routes.map((r) => r.name);
  if ([...select.options].slice(1).map((o) => o.value).join("\n") !== names.join("\n")) {
    select.replaceChildren(el("option", "all"));
    select.options[0].value = "";
    for (const name of names) select.append(el("option", name));
    select.value = names.includes(chosen) ? chosen : "";
  }
  renderChart();
}

function renderChart() {
  const svg = $("chart");
  const chosen = $("f-route").value;
  const routes = chosen ? state.routes.filter((r) => r.name === chosen) : state.routes;
  $("chart-route").textContent = chosen ? "— " + chosen : "— all routes";
  const minutes = [];
  for (const route of routes) {
    (route.per_minute || []).forEach((m, i) => {
      const sum = minutes[i] || (minutes[i] = { minute: m.minute, accepted: 0, rejected: 0, failed: 0 });
      sum.accepted += m.accepted;
      sum.rejected += m.rejected;
      sum.failed += m.failed;
    });
  }
  svg.replaceChildren();
  const width = 600, height = 120, slot = width / Math.max(minutes.length, 1);
  const max = Math.max(1, ...minutes.map((m) => m.accepted + m.rejected + m.failed));
  const ns = "http://www.w3.org/2000/svg";
  minutes.forEach((m, i) => {
    let y = height;
    for (const kind of ["accepted", "rejected", "failed"]) {
      if (!m[kind]) continue;
      const h = (m[kind] / max) * (height - 6);
      y -= h;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", String(i * slot + 1));
      rect.setAttribute("y", String(y));
      rect.setAttribute("width", String(Math.max(slot - 2, 1)));
      rect.setAttribute("height", String(h));
      rect.setAttribute("class", kind);
      const title = document.createElementNS(ns, "title");
      title.textContent = new Date(m.minute * 1000).toLocaleTimeString([], { hour12: false, hour: "2-digit", minute: "2-digit" }) + ": " + m[kind] + " " + kind;
      rect.append(title);
      svg.append(rect);
    }
  });
}

// ---- deliveries ------------------------------------------------------------

function filterQuery() {
  const params = new URLSearchParams();
  const route = $("f-route").value;
  if (route) params.set("route", route);
  const outcome = $("f-outcome").value;
  if (outcome.startsWith("class:")) params.set("class", outcome.slice(6));
  else if (outcome) params.set("outcome", outcome);
  const event = $("f-event").value.trim();
  if (event) params.set("event", event);
  const id = $("f-id").value.trim();
  if (id) params.set("id", id);
  for (const name of ["since", "until"]) {
    const value = $("f-" + name).value;
    if (value) params.set(name, new Date(value).toISOString());
  }
  params.set("limit", "200");
  return params.toString();
}

function attemptsText(delivery) {
  if (!delivery.queue_id) return delivery.upstream_status ? "1" : "–";
  if (!state.queueReadable) return "token needed";
  const known = state.attempts.get(delivery.queue_id);
  if (!known) return "delivered or gone";
  return known.count + (known.state === "dead" ? " (dead)" : " (pending)");
}

function signatureText(d) {
  if (d.signature_valid === true) return "valid";
  if (d.signature_valid !== false) return "–";
  // A genuine signature over a timestamp outside the window.
  return d.outcome === "rejected_stale_timestamp" ? "stale" : "invalid";
}

function renderDeliveries(deliveries) {
  const body = $("deliveries").tBodies[0];
  body.replaceChildren();
  $("no-deliveries").hidden = deliveries.length > 0;
  for (const d of deliveries) {
    const signature = signatureText(d);
    const tr = row([
      time(d.time),
      d.route ?? "(no route)",
      d.event ?? "–",
      el("span", d.delivery_id ?? "–", "mono"),
      el("span", signature, d.signature_valid === false ? "outcome rejected" : ""),
      outcomeNode(d.outcome),
      d.status === 0 ? "–" : String(d.status),
      micros(d.duration_us),
      d.upstream_status ? d.upstream_status + " in " + micros(d.upstream_duration_us) : "–",
      attemptsText(d),
    ]);
    tr.tabIndex = 0;
    tr.dataset.seq = d.seq;
    tr.setAttribute("aria-label", "Delivery " + (d.delivery_id || d.seq) + ", " + outcomeLabel(d.outcome));
    if (d.seq === state.selected) tr.classList.add("selected");
    tr.addEventListener("click", () => openDelivery(d.seq));
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        openDelivery(d.seq);
      }
    });
    body.append(tr);
  }
}

// ---- queue: attempts and dead letters --------------------------------------

async function refreshQueue() {
  const queued = state.routes.filter((r) => r.queue && !r.queue.error);
  state.attempts = new Map();
  state.queueReadable = true;
  const section = $("dead-section");
  const holder = $("dead");
  holder.replaceChildren();
  section.hidden = queued.length === 0;
  if (!queued.length) return;
  for (const route of queued) {
    const box = el("div", null, "dead-route");
    const head = el("header");
    head.append(el("strong", route.name), el("span", route.queue.dead + " dead", "muted"));
    const all = el("button", "Replay all dead letters");
    all.type = "button";
    all.disabled = route.queue.dead === 0;
    all.addEventListener("click", () => act("POST", "/queue/" + encodeURIComponent(route.name) + "/replay", "Replayed the dead letters of " + route.name));
    head.append(all);
    box.append(head);
    const lists = {};
    for (const which of ["pending", "dead"]) {
      if (route.queue[which] === 0) {
        lists[which] = [];
        continue;
      }
      const answer = await api("/queue/" + encodeURIComponent(route.name) + "?state=" + which + "&limit=1000");
      if (!answer.ok) {
        state.queueReadable = false;
        box.append(el("p", answer.status === 401
          ? "Enter the admin token to see the queue."
          : answer.body.error || "the queue did not answer", "muted"));
        break;
      }
      lists[which] = answer.body.deliveries;
      for (const entry of answer.body.deliveries) {
        state.attempts.set(entry.id, { count: entry.attempt_count, state: which });
      }
    }
    if (lists.dead && lists.dead.length) {
      const table = el("table");
      const thead = el("thead");
      thead.append(row(["Received", "Queue id", "Delivery id", "Event", "Attempts", "Why dead", ""]));
      table.append(thead);
      const body = el("tbody");
      for (const entry of lists.dead) {
        const actions = el("span", null, "actions");
        actions.append(
          button("Replay", () => act("POST", entryPath(route.name, entry.id) + "/replay", "Replayed " + entry.id)),
          button("Discard", () => act("DELETE", entryPath(route.name, entry.id), "Discarded " + entry.id), "danger"),
        );
        body.append(row([time(entry.received), el("span", entry.id, "mono"), entry.delivery_id ?? "–",
          entry.event ?? "–", String(entry.attempt_count), entry.state.reason ?? "–", actions]));
      }
      table.append(body);
      const scroll = el("div", null, "scroll");
      scroll.append(table);
      box.append(scroll);
    }
    holder.append(box);
  }
}

function entryPath(route, id) {
  return "/queue/" + encodeURIComponent(route) + "/" + encodeURIComponent(id);
}

function button(text, onClick, className) {
  const b = el("button", text, className);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

async function act(method, path, done) {
  const answer = await api(path, { method });
  await refresh();
  if (answer.ok) {
    $("notice").textContent = done;
  } else {
    $("notice").textContent = "";
    problem(answer.body.error || method + " " + path + " failed with " + answer.status);
  }
  if (state.selected !== null) await openDelivery(state.selected, false);
}

// ---- one delivery ----------------------------------------------------------

async function openDelivery(seq, focus = true) {
  state.selected = seq;
  for (const tr of $("deliveries").tBodies[0].rows) {
    tr.classList.toggle("selected", Number(tr.dataset.seq) === seq);
  }
  const panel = $("detail");
  const answer = await api("/deliveries/" + seq);
  panel.hidden = false;
  const facts = $("detail-facts");
  facts.replaceChildren();
  $("detail-actions").replaceChildren();
  $("detail-headers").tBodies[0].replaceChildren();
  $("detail-target").textContent = "";
  $("detail-body-wrap").hidden = true;
  $("detail-queue-wrap").hidden = true;
  const reason = $("detail-reason");
  if (!answer.ok) {
    $("detail-title").textContent = "Delivery " + seq;
    reason.className = "reason failed";
    // 401: a token is set and the page lacks it; 403 explains itself
    // (no token configured on a listener off loopback).
    reason.textContent = answer.status === 401
      ? "Enter the admin token to see a delivery's request."
      : answer.body.error || "not found";
    if (focus) panel.focus();
    return;
  }
  const d = answer.body;
  $("detail-title").textContent = "Delivery " + (d.delivery_id || "#" + d.seq);
  const fact = (name, value) => {
    if (value === null || value === undefined || value === "") return;
    facts.append(el("dt", name), value instanceof Node ? wrapDd(value) : el("dd", value));
  };
  fact("Received", new Date(d.time).toLocaleString());
  fact("Route", d.route ?? "(no route)");
  fact("Outcome", outcomeNode(d.outcome));
  fact("Answered", d.status === 0 ? "no answer (the client left)" : String(d.status));
  fact("Event", d.event);
  fact("Delivery id", d.delivery_id);
  fact("Signature", d.signature_valid === undefined || d.signature_valid === null ? "not checked" : signatureText(d));
  if (d.secret_position) fact("Matched secret", "#" + d.secret_position + (d.secret ? " (" + d.secret + ")" : ""));
  if (d.shadow) fact("Shadow mode", "forwarded although verification said " + outcomeLabel(d.outcome));
  fact("Duration", micros(d.duration_us));
  if (d.upstream_status) fact("Upstream", d.upstream_status + " in " + micros(d.upstream_duration_us));
  fact("Dedup", d.dedup);
  fact("Queue id", d.queue_id);
  fact("Trace id", d.trace_id);
  fact("Body", d.body_bytes + " bytes");
  reason.className = "reason " + outcomeClass(d.outcome);
  reason.textContent = d.reason ? capitalize(d.reason) : outcomeLabel(d.outcome);

  if (d.request) {
    $("detail-target").textContent = d.request.method + " " + d.request.target;
    const rows = $("detail-headers").tBodies[0];
    for (const [name, value] of d.request.headers) rows.append(row([name, el("span", value, "mono")]));
  } else {
    $("detail-target").textContent = "The request head was not kept.";
  }
  if (typeof d.body_preview === "string") {
    $("detail-body-wrap").hidden = false;
    $("detail-body").textContent = pretty(d.body_preview);
    $("detail-body-note").textContent = d.body_preview_truncated ? "(first " + new Blob([d.body_preview]).size + " bytes)" : "";
  }
  if (d.queue) showQueue(d);
  if (focus) panel.focus();
}

function wrapDd(node) {
  const dd = el("dd");
  dd.append(node);
  return dd;
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch (_) {
    return text;
  }
}

function showQueue(d) {
  const q = d.queue;
  $("detail-queue-wrap").hidden = false;
  const status = $("detail-queue-state");
  const rows = $("detail-attempts").tBodies[0];
  rows.replaceChildren();
  if (q.note || q.error) {
    status.textContent = q.note || q.error;
    return;
  }
  const st = q.state || {};
  status.textContent = st.state === "dead"
    ? "Dead since " + new Date(q.dead_since).toLocaleString() + ": " + st.reason
    : "Pending, next attempt " + new Date(q.due).toLocaleString();
  for (const a of q.attempts || []) {
    rows.append(row([String(a.number), new Date(a.at_ms).toLocaleTimeString([], { hour12: false }),
      a.status ? String(a.status) : "–", a.error ?? "–", a.duration_ms + " ms"]));
  }
  const path = entryPath(d.route, d.queue_id);
  const actions = $("detail-actions");
  actions.append(button(st.state === "dead" ? "Replay" : "Retry now", () => act("POST", path + "/replay", "Replayed " + d.queue_id)));
  actions.append(button("Discard", () => act("DELETE", path, "Discarded " + d.queue_id), "danger"));
}

function closeDelivery() {
  $("detail").hidden = true;
  const previous = state.selected;
  state.selected = null;
  const tr = [...$("deliveries").tBodies[0].rows].find((r) => Number(r.dataset.seq) === previous);
  if (tr) {
    tr.classList.remove("selected");
    tr.focus();
  }
}

// ---- refresh loop ----------------------------------------------------------

async function refresh() {
  try {
    const routes = await api("/routes");
    if (!routes.ok) throw new Error(routes.body.error || "/routes answered " + routes.status);
    state.routes = routes.body.routes;
    renderRoutes();
    await refreshQueue();
    const deliveries = await api("/deliveries?" + filterQuery());
    if (!deliveries.ok) throw new Error(deliveries.body.error || "/deliveries answered " + deliveries.status);
    renderDeliveries(deliveries.body.deliveries);
    problem("");
    $("updated").textContent = "updated " + new Date().toLocaleTimeString([], { hour12: false });
  } catch (error) {
    problem("Could not refresh: " + error.message);
  }
}

// Polls every POLL_MS while the tab is visible and Live is ticked; a
// hidden tab costs the admin listener (and a shared Redis queue) nothing.
function schedule() {
  clearTimeout(state.timer);
  if ($("live").checked && !document.hidden) {
    state.timer = setTimeout(async () => {
      await refresh();
      schedule();
    }, POLL_MS);
  }
}

function fillOutcomes() {
  const select = $("f-outcome");
  for (const outcome of [...Object.keys(CLASS), ...FAILED]) {
    const option = el("option", outcomeLabel(outcome));
    option.value = outcome;
    select.append(option);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  fillOutcomes();
  $("token").value = state.token;
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("token").value.trim();
    if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
    else sessionStorage.removeItem(TOKEN_KEY);
    refresh();
  });
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    refresh();
  });
  $("filters").addEventListener("reset", () => setTimeout(refresh));
  $("f-route").addEventListener("change", () => {
    renderChart();
    refresh();
  });
  $("live").addEventListener("change", schedule);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && $("live").checked) refresh().then(schedule);
    else schedule();
  });
  $("detail-close").addEventListener("click", closeDelivery);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("detail").hidden) closeDelivery();
  });
  refresh().then(schedule);
});
