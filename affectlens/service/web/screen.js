// The entrance screen: this hour's anonymous aggregates from /api/screen, refreshed every few
// seconds (``?every=N`` seconds, at least 1). It never opens the websocket (that carries per-camera events, not for the public).
"use strict";

const EVERY_S = Number(new URLSearchParams(location.search).get("every")) || 5;
const REFRESH_MS = Math.max(1, EVERY_S) * 1000;
const $ = (id) => document.getElementById(id);

function bars(container, counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const rows = Object.entries(counts).map(([name, count]) => {
    const share = total ? count / total : 0;
    const row = document.createElement("div");
    row.className = "bar";
    row.dataset.name = name;
    const label = document.createElement("span");
    label.textContent = name;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.className = "share";
    value.textContent = `${Math.round(share * 100)}%`;
    row.append(label, track, value);
    return row;
  });
  container.replaceChildren(...rows);
}

async function refresh() {
  try {
    const response = await fetch("/api/screen", { cache: "no-store", credentials: "same-origin" });
    if (response.status === 401) { location.assign("/login?next=/screen"); return; }
    if (!response.ok) throw new Error(String(response.status));
    const figures = await response.json();
    $("min-people").textContent = figures.min_people;
    document.body.dataset.enough = String(figures.enough);
    if (!figures.enough) {
      $("figures").hidden = true;
      $("people").textContent = "";
      $("ages").replaceChildren();
      $("expressions").replaceChildren();
      $("waiting").hidden = false;
      return;
    }
    $("people").textContent = figures.people;
    bars($("ages"), figures.age_bands);
    bars($("expressions"), figures.expressions);
    $("waiting").hidden = true;
    $("figures").hidden = false;
  } catch (_) {
    document.body.dataset.enough = "unknown";  // keep what is shown; try again
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
