// The login form: a session cookie (HttpOnly) and a CSRF token (sent back as X-CSRF-Token by
// the dashboard) come back from /api/auth/login; then the page the user asked for opens.
"use strict";

function nextPage(role) {
  const wanted = new URLSearchParams(location.search).get("next") || "";
  // only a path on this site: never "//elsewhere" or "https://elsewhere"
  if (/^\/(?!\/)[\w\-/.]*(\?[\w=&%.\-]*)?$/.test(wanted)) return wanted;
  return role === "screen" ? "/screen" : "/";
}

document.getElementById("login-form").addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const body = {
    username: document.getElementById("username").value.trim(),
    password: document.getElementById("password").value,
  };
  try {
    const response = await fetch("/api/auth/login", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(body), credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      error.textContent = typeof answer.detail === "string" ? answer.detail
        : `the server answered ${response.status}`;
      return;
    }
    location.assign(nextPage(answer.role));
  } catch (failure) {
    error.textContent = `cannot reach the server: ${failure.message}`;
  }
});
