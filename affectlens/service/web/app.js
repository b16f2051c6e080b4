// The dashboard: camera grid with blurred previews and live status, live event feed with
// acknowledgement, per-camera charts, camera forms. It only calls the affectlens API; every
// value from the API is put into the page as text, never as HTML.
"use strict";

const state = {
  cameras: new Map(), live: new Map(), events: new Map(), socketTries: 0, failing: new Map(),
};
const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

// The API's 4xx answers as lines a person can act on: FastAPI's 422 lists fields.
function problems(status, body) {
  const detail = body && body.detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => {
      const field = (d.loc || []).filter((p) => p !== "body" && p !== "query").join(".");
      const message = String(d.msg).replace(/^Value error, /, "");  // pydantic's prefix
      return field ? `${field}: ${message}` : message;
    });
  }
  return [typeof detail === "string" ? detail : `the server answered ${status}`];
}

// The session's CSRF token, set by /api/auth/login in a cookie scripts may read; the server
// compares it with the session's own, so another site cannot make this page's requests.
function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("affectlens_csrf="));
  return found ? decodeURIComponent(found.slice("affectlens_csrf=".length)) : "";
}

function toLogin() {
  location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
}

async function api(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") options.headers["x-csrf-token"] = csrfToken();
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) { toLogin(); throw new Error("logged out"); }
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = null; }
  if (!response.ok) {
    const error = new Error(problems(response.status, parsed).join("; "));
    error.lines = problems(response.status, parsed);
    throw error;
  }
  return parsed;
}

// cameras ------------------------------------------------------------------------------------

function statusOf(cameraId) {
  const live = state.live.get(cameraId);
  if (!live || live.online === null || live.online === undefined) {
    return { cls: "unknown", text: "no report yet" };
  }
  // Where its worker runs: on a cluster, the node's address and id (issue 15).
  const node = live.node ? ` · on ${live.node}` : "";
  if (live.online) {
    return { cls: "online", text: `online · ${Number(live.analysed_fps).toFixed(1)} fps · ${live.faces} face${live.faces === 1 ? "" : "s"}${node}` };
  }
  return { cls: "offline", text: `offline${live.message ? ": " + live.message : ""}${node}` };
}

function renderCard(camera) {
  let card = $(`camera-${camera.id}`);
  if (!card) {
    card = element("article", { id: `camera-${camera.id}`, className: "camera" });
    const preview = element("img", { className: "preview", alt: `blurred preview of ${camera.name}` });
    preview.addEventListener("error", () => preview.classList.add("missing"));
    preview.addEventListener("load", () => preview.classList.remove("missing"));
    const actions = element("div", { className: "buttons" });
    const edit = element("button", { type: "button", className: "edit" }, "Edit");
    edit.addEventListener("click", () => startEditing(camera.id));
    const test = element("button", { type: "button", className: "test" }, "Test");
    test.addEventListener("click", () => testCamera(camera.id));
    const remove = element("button", { type: "button", className: "delete" }, "Delete");
    remove.addEventListener("click", () => deleteCamera(camera.id));
    const zones = element("button", { type: "button", className: "zones" }, "Zones");
    zones.addEventListener("click", () => window.zones.open(state.cameras.get(camera.id),
                                                            state.role === "admin"));
    const live = element("a", { href: `/api/cameras/${camera.id}/preview.mjpeg`, target: "_blank" },
                         "live stream");
    actions.append(edit, test, remove, zones, live);
    // In the picture's place while the camera sends none (offline, or no report yet).
    const off = element("p", { className: "preview-off", role: "status" });
    card.append(element("h3", { className: "name" }), element("span", { className: "badge status" }),
                preview, off, element("p", { className: "camera-note note" }), actions);
    $("camera-grid").append(card);
  }
  card.querySelector(".name").textContent = camera.name;
  const status = statusOf(camera.id);
  const badge = card.querySelector(".status");
  badge.className = `badge status ${status.cls}`;
  badge.textContent = status.text;
  card.dataset.status = status.cls;
  card.classList.toggle("disabled", !camera.enabled);
  const showing = status.cls === "online";
  card.querySelector(".preview").hidden = !showing;
  const off = card.querySelector(".preview-off");
  off.hidden = showing;
  off.textContent = status.cls === "offline" ? `camera ${status.text}` : "no picture yet";
}

function renderCameras() {
  for (const card of document.querySelectorAll("#camera-grid .camera")) {
    if (!state.cameras.has(Number(card.id.slice(7)))) card.remove();
  }
  for (const camera of state.cameras.values()) renderCard(camera);
  $("no-cameras").hidden = state.cameras.size > 0;
  const select = $("chart-camera");
  const chosen = select.value;
  select.replaceChildren(...[...state.cameras.values()].map(
    (c) => element("option", { value: c.id }, c.name)));
  if (state.cameras.has(Number(chosen))) select.value = chosen;
}

async function loadCameras() {
  const [cameras, live] = await Promise.all([api("GET", "/api/cameras"), api("GET", "/api/live")]);
  state.cameras = new Map(cameras.map((c) => [c.id, c]));
  for (const l of live) if (l.online !== null) state.live.set(l.camera_id, l);
  renderCameras();
  renderEvents();
}

// Only online cameras' pictures are asked for: an offline camera's is a 503 every second.
function refreshPreviews() {
  const stamp = Date.now();
  for (const camera of state.cameras.values()) {
    if (statusOf(camera.id).cls !== "online") continue;
    const image = document.querySelector(`#camera-${camera.id} .preview`);
    if (image) image.src = `/api/cameras/${camera.id}/snapshot.jpg?t=${stamp}`;
  }
}

async function testCamera(cameraId) {
  const note = document.querySelector(`#camera-${cameraId} .camera-note`);
  note.textContent = "testing…";
  try {
    const result = await api("POST", `/api/cameras/${cameraId}/test`);
    note.textContent = result.ok ? `connection ok: ${result.width}x${result.height}` :
      `connection failed: ${result.message}`;
  } catch (error) { note.textContent = error.message; }
}

async function deleteCamera(cameraId) {
  const camera = state.cameras.get(cameraId);
  if (!camera || !window.confirm(`Delete camera ${camera.name} and its events?`)) return;
  try {
    await api("DELETE", `/api/cameras/${cameraId}`);
    await loadCameras();
  } catch (error) { showErrors(error.lines || [error.message]); }
}

// events -------------------------------------------------------------------------------------

// A confidence is shown only where it is a calibrated probability: distress's is the mean
// of the expression model's calibrated probabilities. A fall's (and its long lie's) is the
// fall classifier's raw score, and an outage or inactivity has none (stored as 1.0).
const CALIBRATED_KINDS = new Set(["distress"]);

function eventLabel(event) {
  const camera = state.cameras.get(event.camera_id);
  const kind = event.kind ? event.kind.replace(/_/g, " ") : "event";
  const confidence = CALIBRATED_KINDS.has(event.kind) && event.confidence !== undefined ?
    ` (${Math.round(event.confidence * 100)}%)` : "";
  return { kind, text: `${kind} · ${camera ? camera.name : "camera " + event.camera_id}${confidence}` };
}

// How long an open event has been open (issue 17): staff see a fall nobody has seen to.
// Rendered again every 30 s (the feed's timer), from the event's start.
function openFor(startedAt, now = Date.now()) {
  const minutes = Math.max(0, Math.floor((now - new Date(startedAt).getTime()) / 60000));
  if (minutes < 1) return "open under a minute";
  if (minutes < 120) return `open ${minutes} min`;
  return `open ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// One row of the feed: an event, or repeats of one ongoing situation (``group``, newest first).
function renderEvent(event, group = [event]) {
  let item = $(`event-${event.id}`);
  if (!item) {
    item = element("li", { id: `event-${event.id}`, className: "event" });
    item.append(element("span", { className: "what" }), element("span", { className: "when note" }),
                element("span", { className: "ack" }));
  }
  const { kind, text } = eventLabel(event);
  item.querySelector(".what").textContent = text;
  item.dataset.count = group.length;
  const started = event.started_at ? new Date(event.started_at).toLocaleString() : "";
  const first = group[group.length - 1];
  const open = event.started_at ? `, ${openFor(first.started_at)}` : "";
  item.querySelector(".when").textContent = group.length > 1 ?
    `${started} – ongoing${open} · ${group.length} times since ${new Date(first.started_at).toLocaleTimeString()}` :
    `${started}${event.ended_at ? " – ended" : ` – ongoing${open}`}`;
  item.classList.toggle("ongoing", !event.ended_at);
  const snapshot = event.snapshot ? `/api/events/${event.id}/snapshot.jpg` : null;
  if (event.clip && !item.querySelector("video")) {  // a fall's blurred video, fetched on play
    const video = element("video", {
      className: "clip", controls: "", preload: "none", src: `/api/events/${event.id}/clip.webm`,
      "aria-label": `blurred video of the seconds around the ${kind}` });
    if (snapshot) video.setAttribute("poster", snapshot);  // not a black 0:00 player
    item.querySelector(".when").after(video);
  } else if (!event.clip && snapshot && !item.querySelector("img.snapshot")) {
    item.querySelector(".when").after(element("img", {
      className: "snapshot", src: snapshot, loading: "lazy",
      alt: `blurred picture of the moment of the ${kind}` }));
  }
  const ack = item.querySelector(".ack");
  const waiting = group.filter((e) => !e.acknowledged_at);
  item.classList.toggle("acknowledged", waiting.length === 0);
  if (waiting.length === 0) {
    ack.replaceChildren(element("span", { className: "acked" },
      `acknowledged by ${event.acknowledged_by}${event.comment ? ": " + event.comment : ""}`));
  } else if (!ack.querySelector("button") || ack.dataset.waiting !== String(waiting.length)) {
    const comment = element("input", { className: "comment", maxlength: "2000", placeholder: "comment" });
    const button = element("button", { type: "button", className: "acknowledge" },
                           waiting.length > 1 ? `Acknowledge all ${waiting.length}` : "Acknowledge");
    const error = element("span", { className: "error" });
    button.addEventListener("click", () => acknowledge(waiting.map((e) => e.id), comment.value, error));
    ack.dataset.waiting = waiting.length;
    ack.replaceChildren(comment, button, error);
  }
  return item;
}

// Repeats of one ongoing situation (open events of one kind on one camera: a looping clip
// raised 57 falls in 3 minutes) are one row with a count, at the newest's place; its button
// acknowledges those of them not acknowledged yet.
function feedRows(sorted) {
  const rows = [];
  const open = new Map();
  for (const event of sorted) {
    if (event.ended_at) {
      rows.push([event]);
      continue;
    }
    const key = `${event.camera_id}:${event.kind}`;
    if (open.has(key)) open.get(key).push(event);
    else { open.set(key, [event]); rows.push(open.get(key)); }
  }
  return rows;
}

function renderEvents() {
  const sorted = [...state.events.values()].sort(
    (a, b) => (b.started_at || "").localeCompare(a.started_at || "") || b.id - a.id);
  $("event-feed").replaceChildren(
    ...feedRows(sorted).slice(0, 100).map((group) => renderEvent(group[0], group)));
  $("no-events").hidden = sorted.length > 0;
}

async function acknowledge(eventIds, comment, errorNode) {
  try {  // recorded under the logged-in account's name, each event of a grouped row
    for (const eventId of eventIds) {
      const event = await api("POST", `/api/events/${eventId}/acknowledge`,
                              { comment: comment || null });
      state.events.set(event.id, event);
    }
    renderEvents();
  } catch (error) { errorNode.textContent = error.message; }
}

async function loadEvents() {
  for (const event of await api("GET", "/api/events?limit=100")) state.events.set(event.id, event);
  renderEvents();
}

// the websocket ------------------------------------------------------------------------------

function connectSocket() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/ws`);
  const badge = $("socket-state");
  socket.addEventListener("open", () => {
    state.socketTries = 0;
    badge.className = "badge online";
    badge.textContent = "live";
  });
  socket.addEventListener("message", (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "hello") {
      for (const camera of data.cameras) state.live.set(camera.camera_id, camera);
      renderCameras();
      retrying("events", loadEvents);  // catch up on what happened while disconnected
    } else if (data.type === "camera") {
      state.live.set(data.camera.camera_id, data.camera);
      const camera = state.cameras.get(data.camera.camera_id);
      if (camera) renderCard(camera); else retrying("cameras", loadCameras);
    } else if (data.type === "event") {
      state.events.set(data.event.id, { ...state.events.get(data.event.id), ...data.event });
      renderEvents();
    }
  });
  socket.addEventListener("close", () => {
    badge.className = "badge offline";
    badge.textContent = "reconnecting…";
    retrying("cameras", loadCameras);  // states by plain HTTP while the socket is down
    const wait = Math.min(30000, 500 * 2 ** state.socketTries++);
    setTimeout(connectSocket, wait);
  });
}

// charts -------------------------------------------------------------------------------------

const FIT_HOURS = 3;  // "fit": the last 3 hours, or less when the data began later
const FIT_MIN_MINUTES = 5;

// The minutes from the first one with data (FIT_MIN_MINUTES at least): a new site's data is
// the chart, not a spike at the right edge of 3 empty hours.
function fitted(series) {
  const counts = [series.faces, series.people, ...Object.values(series.expressions)];
  let first = series.minutes.findIndex((_, i) => counts.some((c) => c[i] > 0));
  if (first < 0) first = series.minutes.length;
  const from = Math.max(0, Math.min(first, series.minutes.length - FIT_MIN_MINUTES));
  const cut = (values) => values.slice(from);
  return { minutes: cut(series.minutes), faces: cut(series.faces), people: cut(series.people),
           expressions: Object.fromEntries(
             Object.entries(series.expressions).map(([name, values]) => [name, cut(values)])) };
}

async function loadCharts() {
  const cameraId = $("chart-camera").value;
  if (!cameraId) return;
  const chosen = $("chart-hours").value;
  const hours = chosen === "fit" ? FIT_HOURS : chosen;
  try {
    const answer = await api("GET", `/api/cameras/${cameraId}/stats?hours=${hours}`);
    const series = chosen === "fit" ? fitted(answer) : answer;
    window.charts.lineChart($("chart-counts"), series.minutes,
                            { faces: series.faces, people: series.people });
    window.charts.shareChart($("chart-expressions"), series.minutes, series.expressions);
  } catch (error) { $("chart-counts").textContent = error.message; }
}

// the camera form ----------------------------------------------------------------------------

function showErrors(lines) {
  $("form-errors").replaceChildren(...lines.map((line) => element("li", {}, line)));
}

function formBody() {
  const fps = $("camera-fps").value.trim();
  const body = { name: $("camera-name").value.trim(), url: $("camera-url").value.trim(),
                 purpose: $("camera-purpose").value, blur_faces: $("camera-blur").checked };
  if (fps !== "") body.analysis_fps = Number(fps);
  return body;
}

function startEditing(cameraId) {
  const camera = state.cameras.get(cameraId);
  $("camera-id").value = camera.id;
  $("camera-name").value = camera.name;
  $("camera-url").value = camera.url;
  $("camera-purpose").value = camera.purpose;
  $("camera-fps").value = camera.analysis_fps;
  $("camera-enabled").checked = camera.enabled;
  $("camera-blur").checked = camera.blur_faces;
  $("enabled-label").hidden = false;
  $("camera-cancel").hidden = false;
  $("form-title").textContent = `Edit camera ${camera.name}`;
  $("camera-save").textContent = "Save changes";
  showErrors([]);
  $("camera-name").focus();
}

function stopEditing() {
  $("camera-form").reset();
  $("camera-id").value = "";
  $("enabled-label").hidden = true;
  $("camera-cancel").hidden = true;
  $("form-title").textContent = "Add a camera";
  $("camera-save").textContent = "Add camera";
}

async function saveCamera(submit) {
  submit.preventDefault();
  showErrors([]);
  $("form-result").textContent = "";
  const id = $("camera-id").value;
  try {
    const body = formBody();
    const camera = id ?
      await api("PATCH", `/api/cameras/${id}`, { ...body, enabled: $("camera-enabled").checked }) :
      await api("POST", "/api/cameras", body);
    $("form-result").textContent = `saved camera ${camera.name}`;
    stopEditing();
    await loadCameras();
  } catch (error) { showErrors(error.lines || [error.message]); }
}

async function testForm() {
  showErrors([]);
  $("form-result").textContent = "testing…";
  try {
    const result = await api("POST", "/api/cameras/test", { url: $("camera-url").value.trim() });
    $("form-result").textContent = result.ok ?
      `connection ok: ${result.width}x${result.height} in ${result.seconds} s` :
      `connection failed: ${result.message}`;
  } catch (error) {
    $("form-result").textContent = "";
    showErrors(error.lines || [error.message]);
  }
}

// own password -------------------------------------------------------------------------------

function showPasswordForm(open) {
  $("password-section").hidden = !open;
  $("password-form").reset();
  $("password-errors").replaceChildren();
  if (open) $("password-current").focus();
}

// The server checks the current password and the new one's rules; this only catches a typo.
// On success the server ends every session of the user and gives this page a new one.
async function changePassword(submitted) {
  submitted.preventDefault();
  const errors = (lines) =>
    $("password-errors").replaceChildren(...lines.map((line) => element("li", {}, line)));
  $("password-result").textContent = "";
  errors([]);
  if ($("password-new").value !== $("password-again").value) {
    errors(["the two new passwords differ"]);
    return;
  }
  try {
    await api("POST", "/api/auth/password", {
      current_password: $("password-current").value,
      new_password: $("password-new").value,
    });
    $("password-form").reset();
    $("password-result").textContent = "password changed; your other sessions were logged out";
  } catch (error) { errors(error.lines || [error.message]); }
}

// start --------------------------------------------------------------------------------------

// A load that failed (server restarting, network) is said in #load-state and tried again,
// 5 s later then up to a minute apart, instead of leaving stale data without a word.
function retrying(what, load, wait = 5000) {
  load().then(() => {
    state.failing.delete(what);
    showFailing();
  }).catch((error) => {
    if (error.message === "logged out") return;  // on its way to the login page
    state.failing.set(what, error.message);
    showFailing();
    setTimeout(() => retrying(what, load, Math.min(wait * 2, 60000)), wait);
  });
}

function showFailing() {
  const failing = [...state.failing].map(([what, why]) => `${what}: ${why}`);
  $("load-state").textContent = failing.length
    ? `could not load ${failing.join("; ")}; retrying` : "";
}

function loadMe() {
  return api("GET", "/api/auth/me").then((me) => {
    state.role = me.role;  // the zone editor is read-only for all but admins
    $("who").textContent = `${me.username} (${me.role})`;
    if (me.role === "admin") window.deadLetters.start();  // undelivered alerts
  });
}

function start() {
  retrying("your account", loadMe);
  $("logout").addEventListener("click", async () => {
    await api("POST", "/api/auth/logout").catch(() => {});
    toLogin();
  });
  $("password-open").addEventListener("click", () => showPasswordForm(true));
  $("password-cancel").addEventListener("click", () => showPasswordForm(false));
  $("password-form").addEventListener("submit", changePassword);
  $("camera-form").addEventListener("submit", saveCamera);
  $("camera-test").addEventListener("click", testForm);
  $("camera-cancel").addEventListener("click", stopEditing);
  $("chart-camera").addEventListener("change", loadCharts);
  $("chart-hours").addEventListener("change", loadCharts);
  loadCameras().then(loadCharts).catch((error) => showErrors([error.message]));
  connectSocket();
  refreshPreviews();
  setInterval(refreshPreviews, 1000);
  setInterval(loadCharts, 60000);
  setInterval(renderEvents, 30000);  // open events' "open N min"
}

start();
