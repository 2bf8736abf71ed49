/* Frontdesk dashboard: KPI tiles, plotly charts, emerging issues and knowledge gaps, refreshed every few
   seconds. Reads /v1/analytics with the console's session cookie; signs in through /v1/console/session. */
(() => {
  "use strict";

  const COLORS = {
    conversations: "#1f5fbf", containment: "#1e7a3c", escalations: "#a63b00",
    p50: "#1f5fbf", p95: "#b3261e", csat: "#1e7a3c", rating: "#7b3fa0",
  };
  const CHANNEL_COLORS = ["#1f5fbf", "#1e7a3c", "#a63b00", "#7b3fa0", "#00838f", "#b3261e", "#5d6b00"];
  const FAST_MS = 5000;   // live traffic and emerging issues
  const SLOW_MS = 30000;  // KPIs and knowledge gaps
  const CONFIG = { displayModeBar: false, responsive: true };

  const $ = (id) => document.getElementById(id);
  const state = { slowAt: 0, timer: null, running: false, busy: false };

  class HttpError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try {
        const body = await response.json();
        if (body && body.detail) detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      } catch (_) { /* not JSON */ }
      throw new HttpError(response.status, detail);
    }
    return response.json();
  }

  // Formatting.
  const pct = (x) => (x == null ? "–" : `${(x * 100).toFixed(1)}%`);
  function duration(seconds) {
    if (seconds == null) return "–";
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }
  const ms = (x) => (x == null ? "–" : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`);
  const clock = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const when = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "–");

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child == null) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // The period: whole UTC days back from today (the last 24 hours for "1").
  function periodQuery() {
    const days = Number($("period").value);
    const now = new Date();
    let since;
    if (days <= 1) since = new Date(now.getTime() - 86400e3);
    else since = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)));
    return `since=${encodeURIComponent(since.toISOString())}`;
  }

  // Charts.
  function layout(extra) {
    return Object.assign({
      margin: { l: 52, r: 52, t: 8, b: 40 },
      paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
      font: { family: "system-ui, sans-serif", size: 12, color: "#1b2430" },
      legend: { orientation: "h", x: 0, y: 1.12 },
      xaxis: { gridcolor: "#eceff3" }, yaxis: { gridcolor: "#eceff3", rangemode: "tozero" },
      hovermode: "x unified",
    }, extra);
  }

  function emptyLayout(message) {
    return layout({
      xaxis: { visible: false }, yaxis: { visible: false },
      annotations: [{ text: message, showarrow: false, font: { size: 14, color: "#56606e" }, x: 0.5, y: 0.5, xref: "paper", yref: "paper" }],
    });
  }

  function draw(id, traces, chartLayout, summary) {
    if (!window.Plotly) throw new Error("the charting library (plotly.js) did not load");
    const node = $(id);
    node.dataset.traces = String(traces.length);
    window.Plotly.react(node, traces, chartLayout, CONFIG);
    $(`${id}-text`).textContent = summary;
  }

  function drawVolume(days) {
    if (!days.length) return draw("chart-volume", [], emptyLayout("No conversations in this period"), "No conversations in this period.");
    const x = days.map((g) => g.key);
    draw("chart-volume", [
      { type: "bar", name: "Conversations", x, y: days.map((g) => g.conversations), marker: { color: COLORS.conversations } },
      { type: "scatter", mode: "lines+markers", name: "Containment %", x, yaxis: "y2",
        y: days.map((g) => (g.containment_rate == null ? null : g.containment_rate * 100)),
        line: { color: COLORS.containment, width: 3 }, marker: { size: 8 } },
    ], layout({
      xaxis: { type: "date", gridcolor: "#eceff3", tickformat: "%b %d" },
      yaxis2: { overlaying: "y", side: "right", range: [0, 100], ticksuffix: "%", showgrid: false },
    }), `${days.reduce((n, g) => n + g.conversations, 0)} conversations over ${days.length} day(s).`);
  }

  function drawReasons(total) {
    const reasons = Object.entries(total.escalations_by_reason).sort((a, b) => a[1] - b[1]);
    if (!reasons.length) return draw("chart-reasons", [], emptyLayout("No escalation in this period"), "No escalation in this period.");
    draw("chart-reasons", [{
      type: "bar", orientation: "h", name: "Escalated conversations",
      x: reasons.map((r) => r[1]), y: reasons.map((r) => r[0].replace(/_/g, " ")), marker: { color: COLORS.escalations },
    }], layout({ margin: { l: 130, r: 20, t: 8, b: 40 }, hovermode: "closest", showlegend: false }),
    reasons.slice().reverse().map(([reason, n]) => `${reason.replace(/_/g, " ")}: ${n}`).join(", ") + ".");
  }

  function drawLatency(days) {
    const measured = days.filter((g) => g.answers > 0);
    if (!measured.length) return draw("chart-latency", [], emptyLayout("No answers in this period"), "No answers in this period.");
    const x = measured.map((g) => g.key);
    const line = (name, key, color) => ({ type: "scatter", mode: "lines+markers", name, x, y: measured.map((g) => g[key]),
      line: { color, width: 3 }, marker: { size: 8 } });
    draw("chart-latency", [line("p50", "latency_p50_ms", COLORS.p50), line("p95", "latency_p95_ms", COLORS.p95)],
      layout({ xaxis: { type: "date", gridcolor: "#eceff3", tickformat: "%b %d" }, yaxis: { title: { text: "ms" }, rangemode: "tozero", gridcolor: "#eceff3" } }),
      `Latest day: p50 ${ms(measured[measured.length - 1].latency_p50_ms)}, p95 ${ms(measured[measured.length - 1].latency_p95_ms)}.`);
  }

  function drawCsat(days) {
    const rated = days.filter((g) => g.ratings > 0);
    if (!rated.length) return draw("chart-csat", [], emptyLayout("No ratings in this period"), "No ratings in this period.");
    const x = rated.map((g) => g.key);
    draw("chart-csat", [
      { type: "bar", name: "CSAT %", x, y: rated.map((g) => g.csat * 100), marker: { color: COLORS.csat } },
      { type: "scatter", mode: "lines+markers", name: "Mean rating (1-5)", x, y: rated.map((g) => g.rating_mean), yaxis: "y2",
        line: { color: COLORS.rating, width: 3 }, marker: { size: 8 } },
    ], layout({
      xaxis: { type: "date", gridcolor: "#eceff3", tickformat: "%b %d" },
      yaxis: { range: [0, 100], ticksuffix: "%", gridcolor: "#eceff3" },
      yaxis2: { overlaying: "y", side: "right", range: [1, 5], showgrid: false },
    }), `${rated.reduce((n, g) => n + g.ratings, 0)} ratings.`);
  }

  function drawTraffic(series) {
    const channels = Object.keys(series.messages);
    const minutes = series.step_s / 60;
    $("step-label").textContent = minutes === 1 ? "minute" : `${minutes} minutes`;
    const sent = channels.reduce((n, c) => n + series.messages[c].reduce((a, b) => a + b, 0), 0);
    const topics = series.topics.map((t) => `${t.topic} (${t.messages})`).join(", ");
    const hours = $("hours").value;
    if (!sent) return draw("chart-traffic", [], emptyLayout(`No customer messages in the last ${hours} hours`), `No customer messages in the last ${hours} hours.`);
    const x = series.buckets;
    const traces = channels.map((channel, i) => ({
      type: "bar", name: channel, x, y: series.messages[channel], marker: { color: CHANNEL_COLORS[i % CHANNEL_COLORS.length] },
    }));
    traces.push({ type: "scatter", mode: "lines", name: "Escalations", x, y: series.escalations, line: { color: COLORS.escalations, width: 2, dash: "dot" } });
    draw("chart-traffic", traces, layout({ barmode: "stack", bargap: 0.1, xaxis: { type: "date", gridcolor: "#eceff3" } }),
      `${sent} customer messages in the last ${hours} hours.${topics ? ` Busiest topics: ${topics}.` : ""}`);
  }

  // Tiles.
  function tiles(report) {
    const t = report.total;
    $("t-conversations").textContent = String(t.conversations);
    $("t-containment").textContent = pct(t.containment_rate);
    $("t-escalation").textContent = pct(t.escalation_rate);
    $("t-fcr").textContent = pct(t.fcr_rate);
    $("t-first-response").textContent = duration(t.first_response_s.median);
    $("t-resolution").textContent = duration(t.resolution_s.median);
    $("t-handle").textContent = duration(t.handle_s.median);
    $("t-csat").textContent = t.ratings ? `${pct(t.csat)} · ${t.rating_mean.toFixed(1)}/5` : "–";
    $("t-latency").textContent = `${ms(t.latency_p50_ms)} / ${ms(t.latency_p95_ms)}`;
    $("period-note").textContent = `since ${when(report.since)}`;
  }

  // Emerging issues and knowledge gaps (other parts of the service; they may be missing on this one).
  function fillList(listId, emptyId, countId, items, render, emptyText) {
    const list = $(listId);
    list.replaceChildren(...items.map(render));
    $(countId).textContent = String(items.length);
    $(emptyId).textContent = emptyText;
    $(emptyId).hidden = items.length > 0;
  }

  const counts = (obj) => Object.entries(obj || {}).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k.replace(/_/g, " ")} ${n}`).join(", ");
  const examples = (items) => (items && items.length ? el("ul", { class: "examples" }, ...items.slice(0, 3).map((e) => el("li", {}, e))) : null);

  function renderAlert(alert) {
    const open = alert.status !== "resolved";
    return el("li", { class: open ? "open" : "resolved" },
      el("h3", {}, alert.label, el("span", { class: `badge ${open ? "open" : "resolved"}` }, alert.status)),
      el("p", { class: "meta" }, `${alert.messages} messages from ${alert.customers} customers (about ${Math.round(alert.expected)} expected) since ${when(alert.started_at)}`),
      el("p", { class: "meta" }, `Channels: ${counts(alert.channels) || "–"}${alert.resolved_at ? ` · resolved ${when(alert.resolved_at)}` : ""}`),
      alert.notice_active && alert.notice ? el("p", { class: "meta" }, `Notice shown in the web chat: ${alert.notice}`) : null,
      examples(alert.examples));
  }

  function renderGap(gap) {
    return el("li", {},
      el("h3", {}, gap.label || gap.topic),
      el("p", { class: "meta" }, `${gap.count} questions the knowledge base did not answer · ${counts(gap.reasons) || "–"}`),
      examples(gap.examples),
      gap.draft ? el("div", { class: "draft", role: "note", "aria-label": "Draft article" }, gap.draft) : null);
  }

  async function optionalList(url, key, listId, emptyId, countId, render, emptyText, missingText) {
    try {
      const body = await getJson(url);
      fillList(listId, emptyId, countId, body[key] || [], render, emptyText);
    } catch (error) {
      if (!(error instanceof HttpError) || ![404, 501, 503].includes(error.status)) throw error;
      fillList(listId, emptyId, countId, [], render, missingText);
    }
  }

  // Refreshing.
  async function refresh(slow) {
    if (slow) {
      const report = await getJson(`/v1/analytics/kpis?by=day&${periodQuery()}`);
      tiles(report);
      drawVolume(report.groups);
      drawReasons(report.total);
      drawLatency(report.groups);
      drawCsat(report.groups);
      $("kpi-error").textContent = "";
      await optionalList("/v1/analytics/gaps", "gaps", "gaps", "gaps-empty", "gap-count", renderGap,
        "No knowledge gap found.", "Knowledge-gap reports are not available on this service.");
    }
    const series = await getJson(`/v1/analytics/timeseries?hours=${encodeURIComponent($("hours").value)}`);
    drawTraffic(series);
    await optionalList("/v1/analytics/alerts", "alerts", "issues", "issues-empty", "issue-count", renderAlert,
      "No emerging issue.", "Emerging-issue detection is not available on this service.");
  }

  function live(on, text) {
    $("live").dataset.state = on ? "on" : "off";
    $("live").textContent = text;
  }

  async function tick() {
    if (state.busy) return;
    state.busy = true;
    const slow = Date.now() - state.slowAt >= SLOW_MS;
    try {
      await refresh(slow);
      if (slow) state.slowAt = Date.now();
      live(true, `Live · updated ${clock(new Date())}`);
      show("main");
    } catch (error) {
      if (error instanceof HttpError && error.status === 401) { stop(); show("sign-in-view"); return; }
      if (error instanceof HttpError && error.status === 403) { stop(); $("denied-reason").textContent = error.message; show("denied-view"); return; }
      live(false, `Not updated: ${error.message}`);
      if (slow) $("kpi-error").textContent = error.message;
      show("main");
    } finally {
      state.busy = false;
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    if (!state.running) return;
    state.timer = setTimeout(async () => { if (!document.hidden) await tick(); schedule(); }, FAST_MS);
  }

  async function start() {
    state.running = true;
    state.slowAt = 0;
    await tick();
    schedule();
  }

  function stop() { state.running = false; clearTimeout(state.timer); }

  function show(view) {
    for (const id of ["main", "sign-in-view", "denied-view"]) $(id).hidden = id !== view;
    $("controls").hidden = view !== "main";
  }

  function updateCsv() { $("csv").href = `/v1/analytics/kpis.csv?by=day&${periodQuery()}`; }

  async function signIn(event) {
    event.preventDefault();
    $("sign-in-error").textContent = "";
    const response = await fetch("/v1/console/session", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-With": "frontdesk-console" },
      body: JSON.stringify({ login: $("login").value.trim(), password: $("password").value }),
    });
    if (!response.ok) {
      let detail = "Sign-in failed.";
      try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
      $("sign-in-error").textContent = typeof detail === "string" ? detail : JSON.stringify(detail);
      return;
    }
    $("password").value = "";
    await start();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in").addEventListener("submit", signIn);
    $("period").addEventListener("change", () => { updateCsv(); state.slowAt = 0; tick(); });
    $("hours").addEventListener("change", () => tick());
    document.addEventListener("visibilitychange", () => { if (!document.hidden && state.running) tick(); });
    updateCsv();
    start();
  });
})();
