// The POT console's own script: tool runs with live output (server-sent events), the Telegram
// preview, live campaign counts, chart refresh and confirmations. Every page works without it
// (forms post and pages render on the server); this only makes output appear as it happens.
"use strict";

function text(el, value) {
  if (el) el.textContent = value;
}

// --- tools: submit without leaving the page, then follow the job's events -------------------------
function followJob(form, started) {
  const section = document.getElementById("output-section");
  const output = document.getElementById("output");
  const state = document.getElementById("job-state");
  const results = document.querySelector("#results tbody");
  const count = document.getElementById("result-count");
  const downloads = document.getElementById("downloads");
  section.hidden = false;
  output.textContent = "";
  if (results) results.textContent = "";
  downloads.hidden = true;
  text(state, "running");
  state.className = "state running";
  let seen = 0;
  const source = new EventSource(started.events);
  const addLine = (line, kind) => {
    const span = document.createElement("span");
    span.className = kind;
    span.textContent = line + "\n";
    output.appendChild(span);
    output.scrollTop = output.scrollHeight;
  };
  source.addEventListener("out", (e) => addLine(e.data, "out"));
  source.addEventListener("err", (e) => addLine(e.data, "err"));
  source.addEventListener("result", (e) => {
    const r = JSON.parse(e.data);
    seen += 1;
    if (results) {
      const row = document.createElement("tr");
      const flags = ["free", "role", "disposable"].filter((k) => r[k]);
      if (r.suggestion) flags.push("did you mean " + r.suggestion);
      for (const value of [r.line, r.address, r.result, r.reason, r.smtp_reply, flags.join(", ")]) {
        const cell = document.createElement("td");
        cell.textContent = value === undefined || value === null ? "" : String(value);
        row.appendChild(cell);
      }
      row.dataset.result = r.result;
      results.appendChild(row);
    }
    text(count, seen + " result" + (seen === 1 ? "" : "s") + " so far");
  });
  source.addEventListener("done", (e) => {
    source.close();
    const done = JSON.parse(e.data);
    text(state, "exit " + done.exit_code);
    state.className = "state " + (done.exit_code === 0 ? "ok" : "failed");
    if (count && results) text(count, seen + " result" + (seen === 1 ? "" : "s"));
    for (const link of downloads.querySelectorAll("[data-download]")) {
      link.href = started.page + "/download." + link.dataset.download;
    }
    downloads.hidden = false;
    form.querySelector("button[type=submit]").disabled = false;
  });
}

for (const form of document.querySelectorAll("form.tool-form")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errors = document.getElementById("tool-errors");
    errors.hidden = true;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
    } catch (err) {
      errors.textContent = "The console did not answer: " + err;
      errors.hidden = false;
      button.disabled = false;
      return;
    }
    const body = await response.json().catch(() => ({ error: "HTTP " + response.status }));
    if (!response.ok) {
      errors.textContent = body.error || body.detail || "HTTP " + response.status;
      errors.hidden = false;
      button.disabled = false;
      return;
    }
    followJob(form, body);
  });
}

// --- the Telegram editor's preview -----------------------------------------------------------------
const preview = document.getElementById("telegram-preview");
if (preview) {
  const form = document.querySelector("form.tool-form");
  let timer = null;
  const refresh = async () => {
    const data = new FormData();
    data.append("text", form.elements.text.value);
    data.append("parse_mode", form.elements.parse_mode.value);
    const response = await fetch(preview.dataset.preview, { method: "POST", body: data, credentials: "same-origin" });
    if (response.ok) preview.innerHTML = await response.text(); // the server escaped every user character
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  };
  form.elements.text.addEventListener("input", later);
  form.elements.parse_mode.addEventListener("change", refresh);
  if (form.elements.text.value) refresh();
}

// --- live campaign counts ------------------------------------------------------------------------
const live = document.querySelector("[data-live]");
if (live) {
  const source = new EventSource(live.dataset.live);
  source.addEventListener("campaigns", (e) => {
    for (const c of JSON.parse(e.data)) {
      for (const scope of document.querySelectorAll(`[data-campaign="${CSS.escape(c.namespace + "/" + c.name)}"]`)) {
        for (const cell of scope.querySelectorAll("[data-cell]")) text(cell, c.cells[Number(cell.dataset.cell)]);
        for (const bar of scope.querySelectorAll("progress")) bar.value = c.percent;
        for (const done of scope.querySelectorAll("[data-progress]")) text(done, c.done + "/" + c.total);
      }
    }
  });
}

// --- charts that redraw themselves ---------------------------------------------------------------
for (const figure of document.querySelectorAll("[data-refresh]")) {
  setInterval(async () => {
    const response = await fetch(figure.dataset.refresh, { credentials: "same-origin" });
    if (response.ok) figure.innerHTML = await response.text(); // SVG rendered and escaped by the server
  }, 5000);
}

// --- confirmations ---------------------------------------------------------------------------------
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
