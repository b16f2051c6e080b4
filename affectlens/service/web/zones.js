// Fall zones (issue 5): a camera's bed, chair and floor polygons over its blurred snapshot.
// An admin clicks corners onto the picture, closes the polygon, names it and saves; others see
// the zones read-only. Zones are kept in pixels of the analysed frame, and the snapshot may be
// smaller (previews are at most 640 wide), so clicks are scaled by the frame size the zones API
// reports. Uses app.js's api() and element(); all text goes into the page as text.
"use strict";

window.zones = (() => {
  const KINDS = ["bed", "chair", "floor"];
  const SOURCES = { dashboard: "Drawn in the dashboard",
                    site_config: "From the camera's falls settings", none: "No zones yet" };
  const editor = { camera: null, admin: false, zones: [], draft: [], scale: 1, picture: null };
  const byId = (id) => document.getElementById(id);

  // The kinds' colours live in style.css (--zone-bed...), for the legend and the canvas alike.
  function colour(kind) {
    return getComputedStyle(document.documentElement).getPropertyValue(`--zone-${kind}`).trim();
  }

  function showErrors(lines) {
    byId("zone-errors").replaceChildren(...lines.map((line) => element("li", {}, line)));
  }

  function outline(context, zone, closed) {
    const points = zone.points.map(([x, y]) => [x / editor.scale, y / editor.scale]);
    const paint = colour(zone.kind);
    context.beginPath();
    points.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    if (closed) {
      context.closePath();
      context.globalAlpha = 0.3;
      context.fillStyle = paint;
      context.fill();
      context.globalAlpha = 1;
    }
    context.lineWidth = 2;
    context.strokeStyle = paint;
    context.stroke();
    context.fillStyle = paint;
    for (const [x, y] of points) context.fillRect(x - 3, y - 3, 6, 6);
    if (closed && zone.name) {
      context.font = "bold 14px system-ui, sans-serif";
      context.fillStyle = "#fff";
      context.fillText(zone.name, points[0][0] + 5, points[0][1] + 17);
    }
  }

  function draw() {
    const canvas = byId("zones-canvas");
    const context = canvas.getContext("2d");
    context.fillStyle = "#222";
    context.fillRect(0, 0, canvas.width, canvas.height);
    if (editor.picture) context.drawImage(editor.picture, 0, 0, canvas.width, canvas.height);
    for (const zone of editor.zones) outline(context, zone, true);
    if (editor.draft.length) {
      outline(context, { kind: byId("zone-kind").value, points: editor.draft }, false);
    }
  }

  function renderList() {
    byId("zone-list").replaceChildren(...editor.zones.map((zone, index) => {
      const item = element("li", { className: "zone", "data-name": zone.name });
      item.append(element("span", { className: `swatch zone-${zone.kind}` }),
                  element("span", { className: "zone-label" },
                          `${zone.name} (${zone.kind}, ${zone.points.length} points` +
                          (zone.inactivity_minutes ?
                            `, inactivity after ${zone.inactivity_minutes} min)` : ")")));
      if (editor.admin) {
        const remove = element("button", { type: "button", className: "zone-delete" }, "Delete");
        remove.addEventListener("click", () => {
          editor.zones.splice(index, 1);
          renderList();
          draw();
        });
        item.append(remove);
      }
      return item;
    }));
  }

  // A click on the displayed picture, in pixels of the analysed frame (whole pixels, inside it).
  function framePoint(click) {
    const canvas = byId("zones-canvas");
    const box = canvas.getBoundingClientRect();
    const inside = (value, size) => Math.min(Math.max(0, Math.round(value)), size);
    return [inside((click.clientX - box.left) * canvas.width / box.width * editor.scale,
                   canvas.width * editor.scale),
            inside((click.clientY - box.top) * canvas.height / box.height * editor.scale,
                   canvas.height * editor.scale)];
  }

  function addPoint(click) {
    if (!editor.admin || !editor.picture) return;
    editor.draft.push(framePoint(click));
    draw();
  }

  function closePolygon() {
    if (editor.draft.length < 3) {
      showErrors(["a zone needs at least 3 points: click the picture to add them"]);
      return;
    }
    const kind = byId("zone-kind").value;
    const name = byId("zone-name").value.trim() || `${kind} ${editor.zones.length + 1}`;
    const minutes = byId("zone-inactivity").value.trim();  // the API checks it (> 0)
    editor.zones.push({ name, kind, points: editor.draft,
                        inactivity_minutes: minutes === "" ? null : Number(minutes) });
    editor.draft = [];
    byId("zone-name").value = "";
    byId("zone-inactivity").value = "";
    showErrors([]);
    renderList();
    draw();
  }

  function describe(info) {
    const parts = [SOURCES[info.source] || info.source];
    if (info.note) parts.push(info.note);
    return parts.join(" · ");
  }

  function show(info) {
    editor.zones = info.zones.map((zone) => ({ ...zone }));
    byId("zones-source").textContent = describe(info);
    renderList();
    draw();
  }

  async function save() {
    showErrors([]);
    byId("zones-result").textContent = "";
    try {
      const info = await api("PUT", `/api/cameras/${editor.camera.id}/zones`,
                             { zones: editor.zones });
      show(info);
      byId("zones-result").textContent =
        `saved ${info.zones.length} zone${info.zones.length === 1 ? "" : "s"}`;
    } catch (error) { showErrors(error.lines || [error.message]); }
  }

  // The camera's newest blurred snapshot, or null when it has sent none yet.
  function loadPicture(cameraId) {
    return new Promise((resolve) => {
      const picture = new Image();
      picture.addEventListener("load", () => resolve(picture));
      picture.addEventListener("error", () => resolve(null));
      picture.src = `/api/cameras/${cameraId}/snapshot.jpg?t=${Date.now()}`;
    });
  }

  async function open(camera, admin) {
    Object.assign(editor, { camera, admin, zones: [], draft: [], scale: 1, picture: null });
    byId("zones-section").hidden = false;
    byId("zones-title").textContent = `Fall zones · ${camera.name}`;
    byId("zone-tools").hidden = !admin;
    byId("zones-result").textContent = "";
    showErrors([]);
    try {
      const [info, picture] = await Promise.all([
        api("GET", `/api/cameras/${camera.id}/zones`), loadPicture(camera.id)]);
      const canvas = byId("zones-canvas");
      editor.picture = picture;
      canvas.width = picture ? picture.naturalWidth : info.frame_width || 640;
      canvas.height = picture ? picture.naturalHeight : info.frame_height || 360;
      editor.scale = picture && info.frame_width ? info.frame_width / picture.naturalWidth : 1;
      canvas.classList.toggle("drawing", admin && Boolean(picture));
      byId("zones-picture-note").hidden = Boolean(picture);
      show(info);
    } catch (error) { showErrors(error.lines || [error.message]); }
    byId("zones-section").scrollIntoView();
  }

  function start() {
    byId("zone-kind").replaceChildren(...KINDS.map((k) => element("option", { value: k }, k)));
    byId("zones-canvas").addEventListener("click", addPoint);
    byId("zone-kind").addEventListener("change", draw);
    byId("zone-close").addEventListener("click", closePolygon);
    byId("zone-undo").addEventListener("click", () => { editor.draft.pop(); draw(); });
    byId("zones-save").addEventListener("click", save);
    byId("zones-done").addEventListener("click", () => { byId("zones-section").hidden = true; });
  }

  document.addEventListener("DOMContentLoaded", start);
  return { open };
})();
