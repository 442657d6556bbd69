// demo-app's page logic. Every request goes to this origin (/ui/info, /api/...), and the API key
// typed into the stats panel is read at click time, sent as one header, and kept nowhere else.
"use strict";

const API_POLL_MS = 5000;
const TASK_POLL_MS = 3000;
const TASK_PAGE = 100;

const $ = (id) => document.getElementById(id);

/** Fetches a same-origin path and parses JSON; never throws: a network failure, or an answer cut
 * off mid-body, comes back as a result like an HTTP error does. */
async function request(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { accept: "application/json", ...headers }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    return { ok: false, status: 0, body: null, network: true };
  }
  let parsed = null;
  let text;
  try {
    text = await res.text();
  } catch (err) {
    // The status arrived but the body did not: whether a write happened is unknown.
    return { ok: false, status: res.status, body: null, cut: true };
  }
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      parsed = null;
    }
  }
  return { ok: res.ok, status: res.status, body: parsed };
}

/** One readable sentence for a failed call, from the platform's {"error": {code, message}} shape. */
function describeError(res) {
  if (res.network) return "The page could not reach demo-app. Is it still running?";
  if (res.cut) return `The answer (HTTP ${res.status}) was cut off; the list shows what the API holds.`;
  const error = res.body && res.body.error;
  if (error && typeof error.message === "string") {
    return `${capitalise(error.message)} (HTTP ${res.status}, ${error.code}).`;
  }
  // The health check's own answer: {"status": "store_unavailable" | "shutting_down", ...}.
  const status = res.body && res.body.status;
  if (typeof status === "string") return `The API reports ${status.replaceAll("_", " ")} (HTTP ${res.status}).`;
  return `The API answered HTTP ${res.status}.`;
}

function capitalise(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

function showNotice(el, message) {
  el.textContent = message || "";
  el.hidden = !message;
}

function clearTaskError() {
  showNotice($("task-error"), "");
  $("task-title").removeAttribute("aria-invalid");
}

function setFact(id, value) {
  const el = $(id);
  const present = value !== undefined && value !== null && value !== "";
  el.textContent = present ? String(value) : "not set";
  el.classList.toggle("absent", !present);
}

function shortCommit(commit) {
  return commit && commit !== "unknown" ? commit.slice(0, 12) : commit;
}

function formatUptime(seconds) {
  if (typeof seconds !== "number") return "";
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

// ---- This page: environment badge, build and pod ----

async function loadInfo() {
  const res = await request("/ui/info");
  if (!res.ok || !res.body) {
    $("env-badge").textContent = "unknown";
    return;
  }
  const info = res.body;
  document.body.dataset.env = info.environment;
  $("env-badge").textContent = info.environment;
  $("env-badge").setAttribute("aria-label", `Environment: ${info.environment}`);
  document.title = `${info.environment.toUpperCase()} · GitOps Platform demo`;
  setFact("ui-version", info.build.version);
  setFact("ui-commit", shortCommit(info.build.commit));
  setFact("ui-pod", info.pod);
  setFact("ui-namespace", info.namespace);
  setFact("ui-node", info.node);
  setFact("ui-route", info.api_proxy ? "proxied by demo-app (API_URL)" : "routed by the load balancer");
  $("footer-version").textContent = `${info.build.version} (${shortCommit(info.build.commit)})`;
}

// ---- API status ----

function setHealth(state, label) {
  const pill = $("api-health");
  pill.className = `pill pill-${state}`;
  pill.textContent = label;
}

async function pollApi() {
  const [health, info] = await Promise.all([request("/api/health"), request("/api")]);
  $("api-checked").textContent = new Date().toLocaleTimeString();
  $("api-checked").classList.remove("absent");
  if (health.ok && health.body && health.body.status === "ok") {
    setHealth("ok", "healthy");
    showNotice($("api-problem"), "");
    setFact("api-uptime", formatUptime(health.body.uptime_seconds));
  } else {
    setHealth("bad", health.status ? `unavailable (${health.status})` : "unreachable");
    showNotice($("api-problem"), describeError(health));
  }
  if (info.ok && info.body) {
    setFact("api-version", info.body.version);
    setFact("api-env", info.body.environment);
    setFact("api-commit", shortCommit(info.body.commit));
    setFact("api-host", info.body.hostname);
  }
}

// ---- Tasks ----

let knownTaskIds = null;

// Pages in creation order, by the cursors the API hands out: `pageStarts[i]` is the cursor page i
// starts after (null for the first), so "Previous" goes back without an offset, and a page costs the
// API the same however deep it is.
let pageStarts = [null];
let nextCursor = null;

// Each list request's number: only the newest one's answer is drawn, so a slow poll cannot draw
// the page the reader just left under the page they turned to.
let taskRequests = 0;

/** The page the reader is on, refreshed in place; an emptied page falls back to the one before.
 * `mine` is the request's number: a request overtaken by a newer one changes nothing. */
async function fetchTasks(mine) {
  for (;;) {
    const start = pageStarts[pageStarts.length - 1];
    const query = start === null ? "" : `&cursor=${encodeURIComponent(start)}`;
    const res = await request(`/api/tasks?limit=${TASK_PAGE}${query}`);
    if (mine !== taskRequests) return { superseded: true };
    if (res.ok && res.body && res.body.items.length === 0 && pageStarts.length > 1) {
      pageStarts.pop();
      continue;
    }
    return res;
  }
}

/** Draws the current page: "drawn", "failed", or "superseded" (a newer request draws it). */
async function refreshTasks() {
  const mine = ++taskRequests;
  const res = await fetchTasks(mine);
  if (res.superseded) return "superseded";
  if (!res.ok || !res.body) {
    $("task-count").textContent = "unavailable";
    return "failed";
  }
  renderTasks(res.body);
  return "drawn";
}

let turning = false;

async function turnPage(step) {
  // One turn at a time: a double click would push the same cursor twice.
  if (turning) return;
  turning = true;
  $("task-prev").disabled = true;
  $("task-next").disabled = true;
  // Where the reader is, should the turn fail: the page stays as it was drawn.
  const before = { starts: [...pageStarts], next: nextCursor, known: knownTaskIds };
  if (step > 0 && nextCursor !== null) pageStarts.push(nextCursor);
  if (step < 0 && pageStarts.length > 1) pageStarts.pop();
  nextCursor = null; // the old page's; the new page's comes with it
  knownTaskIds = null; // another page's tasks are not news
  try {
    if ((await refreshTasks()) === "failed") {
      pageStarts = before.starts;
      nextCursor = before.next;
      knownTaskIds = before.known;
    }
  } finally {
    turning = false;
    $("task-prev").disabled = pageStarts.length === 1;
    $("task-next").disabled = nextCursor === null;
  }
}

function renderTasks(page) {
  const list = $("task-list");
  const items = page.items; // creation order, as the API pages them
  const ids = new Set(items.map((t) => t.id));
  const existing = new Map([...list.children].map((li) => [li.dataset.id, li]));

  for (const [id, li] of existing) {
    if (!ids.has(id)) li.remove();
  }
  items.forEach((task, index) => {
    let li = existing.get(task.id);
    if (!li) {
      li = createTaskItem(task);
      if (knownTaskIds !== null && !knownTaskIds.has(task.id)) li.classList.add("fresh");
    }
    updateTaskItem(li, task);
    if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
  });
  knownTaskIds = ids;

  const shown = items.length;
  const done = items.filter((t) => t.completed).length;
  const pageNumber = pageStarts.length;
  $("task-count").textContent =
    page.total > shown ? `page ${pageNumber} · ${shown} of ${page.total}` : `${page.total} total · ${done} done`;
  $("task-empty").hidden = page.total > 0;

  nextCursor = page.next_cursor;
  $("task-pager").hidden = pageNumber === 1 && nextCursor === null;
  $("task-prev").disabled = pageNumber === 1;
  $("task-next").disabled = nextCursor === null;
  $("task-page").textContent = `Page ${pageNumber}`;
}

function createTaskItem(task) {
  const li = document.createElement("li");
  li.className = "task";
  li.dataset.id = task.id;

  const box = document.createElement("input");
  box.type = "checkbox";
  box.id = `task-${task.id}`;
  box.addEventListener("change", () => toggleTask(li, box));

  const label = document.createElement("label");
  label.htmlFor = box.id;

  const time = document.createElement("time");

  const del = document.createElement("button");
  del.type = "button";
  del.className = "btn btn-icon";
  del.textContent = "Delete";
  del.addEventListener("click", () => deleteTask(li, del));

  li.append(box, label, time, del);
  return li;
}

function updateTaskItem(li, task) {
  // A list answer that left the API before the task's last change (this page's own toggle, say)
  // must not draw, or send back as If-Match, the version before it.
  if (Number.isInteger(task.version) && Number(li.dataset.version) > task.version) return;
  const [box, label, time, del] = li.children;
  if (document.activeElement !== box || box.checked !== task.completed) box.checked = task.completed;
  label.textContent = task.title;
  li.classList.toggle("done", task.completed);
  const created = new Date(task.created_at);
  if (!Number.isNaN(created.getTime())) {
    time.dateTime = task.created_at;
    time.textContent = created.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  del.setAttribute("aria-label", `Delete task: ${task.title}`);
  // The version the page shows, sent back as If-Match: a write never undoes a change it did not see.
  if (Number.isInteger(task.version)) li.dataset.version = String(task.version);
}

/** If-Match for the version of the task the page shows (none from an API that lists no versions). */
function ifShown(li) {
  return li.dataset.version ? { "if-match": `"${li.dataset.version}"` } : {};
}

/** A write refused because the task changed first: the message, then the task as it is now. */
async function changedElsewhere() {
  showNotice($("task-error"), "Another client changed this task first, so nothing was written. The list now shows it as it is.");
  await refreshTasks();
}

// The creates not known to have succeeded, by title: every try of a title sends its one
// Idempotency-Key, so a retry after a lost answer replays the first create instead of adding the
// task twice, even after other titles were tried in between. A success ends it.
const pendingCreates = new Map();

/** A random Idempotency-Key (getRandomValues works where randomUUID needs a secure context). */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function addTask(event) {
  event.preventDefault();
  const input = $("task-title");
  const button = event.submitter || $("task-form").querySelector("button");
  button.disabled = true;
  const title = input.value;
  if (!pendingCreates.has(title)) pendingCreates.set(title, newKey());
  // Sent as typed: the API owns validation, and the page shows its answer.
  const res = await request("/api/tasks", {
    method: "POST",
    headers: { "idempotency-key": pendingCreates.get(title) },
    body: { title, completed: false },
  });
  button.disabled = false;
  if (res.ok) {
    pendingCreates.delete(title);
    input.value = "";
    clearTaskError();
    await refreshTasks();
    // The list is in creation order: past the first page, a new task is on the last one.
    const shown = res.body && knownTaskIds !== null && knownTaskIds.has(res.body.id);
    showNotice($("task-status"), shown ? "" : `Added “${title.trim()}”: it is on the last page.`);
  } else {
    input.setAttribute("aria-invalid", "true");
    showNotice($("task-error"), describeError(res));
  }
  input.focus();
}

async function toggleTask(li, box) {
  const wanted = box.checked;
  // Disabling the box takes the keyboard's focus away from it: it is given back after.
  const focused = document.activeElement === box;
  box.disabled = true;
  const res = await request(`/api/tasks/${encodeURIComponent(li.dataset.id)}`, {
    method: "PATCH",
    headers: ifShown(li),
    body: { completed: wanted },
  });
  box.disabled = false;
  if (focused && li.isConnected) box.focus();
  if (res.ok && res.body) {
    clearTaskError();
    updateTaskItem(li, res.body);
    await refreshTasks();
  } else {
    box.checked = !wanted;
    if (res.status === 412) await changedElsewhere();
    else showNotice($("task-error"), describeError(res));
  }
}

async function deleteTask(li, button) {
  const focused = document.activeElement === button;
  button.disabled = true;
  const res = await request(`/api/tasks/${encodeURIComponent(li.dataset.id)}`, {
    method: "DELETE",
    headers: ifShown(li),
  });
  if (res.ok || res.status === 404) {
    clearTaskError();
    // The keyboard's place moves to the neighbouring task (or the title field), not to the page.
    const neighbour = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    if (focused) (neighbour ? neighbour.querySelector("input") : $("task-title")).focus();
    await refreshTasks();
  } else {
    button.disabled = false;
    if (focused) button.focus();
    if (res.status === 412) await changedElsewhere();
    else showNotice($("task-error"), describeError(res));
  }
}

// ---- Echo ----

async function echo(event) {
  event.preventDefault();
  const out = $("echo-result");
  const message = $("echo-input").value;
  const res = await request(`/api/echo?message=${encodeURIComponent(message)}`);
  out.classList.toggle("result-error", !res.ok);
  if (res.ok && res.body) {
    out.textContent = `“${res.body.message}” (${res.body.length} characters)`;
  } else {
    out.textContent = describeError(res);
  }
}

// ---- Protected stats ----

async function loadStats(event) {
  event.preventDefault();
  const key = $("stats-key").value;
  const result = $("stats-result");
  // A header carries visible ASCII only; the browser would refuse to send anything else, which
  // would read as "could not reach demo-app".
  if (!/^[\x21-\x7e]+$/.test(key)) {
    result.hidden = true;
    showNotice($("stats-error"), "An API key is letters, digits and punctuation (visible ASCII), with no spaces.");
    return;
  }
  const res = await request("/api/protected/stats", { headers: { "x-api-key": key } });
  if (res.ok && res.body) {
    showNotice($("stats-error"), "");
    const s = res.body;
    setFact("stats-total", s.tasks && s.tasks.total);
    setFact("stats-completed", s.tasks && s.tasks.completed);
    setFact("stats-requests", s.requests_served);
    setFact("stats-uptime", formatUptime(s.uptime_seconds));
    setFact("stats-version", s.version);
    result.hidden = false;
  } else {
    result.hidden = true;
    const prefix = res.status === 401 ? "Access denied: the API rejected this key. " : "";
    showNotice($("stats-error"), prefix + describeError(res));
  }
}

// ---- Start ----

function every(ms, fn) {
  const run = () => fn().catch(() => {}).finally(() => setTimeout(run, ms));
  run();
}

document.addEventListener("DOMContentLoaded", () => {
  $("task-form").addEventListener("submit", addTask);
  $("task-prev").addEventListener("click", () => turnPage(-1));
  $("task-next").addEventListener("click", () => turnPage(1));
  $("task-title").addEventListener("input", (e) => {
    e.target.removeAttribute("aria-invalid");
    showNotice($("task-status"), "");
  });
  $("echo-form").addEventListener("submit", echo);
  $("stats-form").addEventListener("submit", loadStats);
  loadInfo();
  every(API_POLL_MS, pollApi);
  every(TASK_POLL_MS, refreshTasks);
});
