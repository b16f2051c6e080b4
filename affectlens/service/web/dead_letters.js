// Dead letters (issue 17), for admins only: alerts a webhook or the MQTT broker did not take,
// what became of each (retrying, with the next try; delivered; failed after the site's
// retry_for_s) and a Replay button that asks the service to send one again. Uses app.js's
// api() and element(); all text goes into the page as text. Shown once app.js knows the
// logged-in role is admin (the API refuses everyone else).
"use strict";

window.deadLetters = (() => {
  const byId = (id) => document.getElementById(id);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

  function describe(letter) {
    if (letter.status === "delivered") return `delivered ${when(letter.done_at)}`;
    if (letter.status === "failed") return `failed, not retried since ${when(letter.done_at)}`;
    return letter.next_attempt_at ? `retrying; next try ${when(letter.next_attempt_at)}`
                                  : "retrying; next try soon";
  }

  function row(letter) {
    const item = element("li", { id: `dead-letter-${letter.id}`, className: "dead-letter",
                                 "data-status": letter.status });
    const what = `${letter.kind ? letter.kind.replace(/_/g, " ") : "alert"}` +
      `${letter.event_id ? " · event " + letter.event_id : ""} → ${letter.channel} ${letter.target}`;
    item.append(element("span", { className: "what" }, what),
                element("span", { className: "state note" },
                        `${describe(letter)} · ${letter.attempts} attempts · ${letter.last_error}`));
    if (letter.status !== "delivered") {
      const error = element("span", { className: "error" });
      const button = element("button", { type: "button", className: "replay" }, "Replay");
      button.addEventListener("click", () => replay(letter.id, error));
      item.append(element("span", { className: "buttons" }, undefined));
      item.lastChild.append(button, error);
    }
    return item;
  }

  async function load() {
    const letters = await api("GET", "/api/dead-letters?limit=50");
    byId("dead-letter-list").replaceChildren(...letters.map(row));
    const waiting = letters.filter((l) => l.status !== "delivered").length;
    byId("dead-letters-summary").textContent = letters.length
      ? `${waiting} of the last ${letters.length} not delivered yet` : "None: every alert was taken.";
  }

  async function replay(letterId, errorNode) {
    try {
      await api("POST", `/api/dead-letters/${letterId}/replay`);
      await load();
      setTimeout(() => load().catch(() => {}), 3000);  // the service sends it within seconds
    } catch (error) { errorNode.textContent = error.message; }
  }

  function start() {
    byId("dead-letters-section").hidden = false;
    retrying("dead letters", load);
    setInterval(() => load().catch(() => {}), 30000);
  }

  return { start, load };
})();
