/**
 * The page each node serves at `/`: the node and its peers, the services with instance counts
 * and health, one service's instances with filters, and the latest changes, refreshed every
 * second from `/status.json` and `/api/*`. The script builds the DOM with textContent only, so
 * nothing a service registered can become markup, and the Content-Security-Policy allows no
 * inline script at all.
 */

export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>regsync</title>
<link rel="stylesheet" href="/dashboard.css">
</head><body>
<header><h1>regsync <code id="node-id">…</code></h1><p id="node-summary">loading…</p>
<p id="error" class="error" hidden></p></header>
<main>
<section><h2>Fleet</h2>
<table id="peers"><thead><tr><th>peer</th><th>state</th><th>digest</th><th>entries</th><th>lag</th><th>last seen</th><th>failures</th><th>pull</th></tr></thead><tbody></tbody></table>
</section>
<section><h2>Services</h2>
<table id="services"><thead><tr><th>service</th><th>instances</th><th>healthy (running)</th></tr></thead><tbody></tbody></table>
</section>
<section id="instances-section"><h2>Instances of <code id="instances-service">—</code></h2>
<form id="filters">
<label>status <select name="status"><option value="">any</option><option>starting</option><option>running</option><option>stopping</option><option>stopped</option><option>unhealthy</option><option>unknown</option></select></label>
<label>region <input name="region" size="12"></label>
<label>version <input name="version" size="10"></label>
<label>tag <input name="tag" placeholder="key=value" size="14"></label>
</form>
<table id="instances"><thead><tr><th>id</th><th>host</th><th>port</th><th>status</th><th>version</th><th>region</th><th>tags</th><th>node</th><th>lease left</th></tr></thead><tbody></tbody></table>
<p id="instances-note"></p>
</section>
<section><h2>Latest changes</h2>
<table id="changes"><thead><tr><th>when</th><th>change</th><th>instance</th><th>status</th><th>by node</th></tr></thead><tbody></tbody></table>
</section>
</main>
<footer><a href="/status.json">status.json</a> · <a href="/metrics">metrics</a> · <a href="/healthz">healthz</a> · <a href="/readyz">readyz</a></footer>
<script src="/dashboard.js"></script>
</body></html>
`;

export const DASHBOARD_CSS = `body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:.5em}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
tr.selected td{background:#eef4ff}#services tbody tr{cursor:pointer}
.state-healthy{color:#080}.state-retrying{color:#a60}.state-suspect,.state-silent,.error{color:#b00}.state-left{color:#888}
.status-running{color:#080}.status-unhealthy,.status-stopped{color:#b00}
code{background:#f4f4f4;padding:0 .3em}form label{margin-right:1em}footer{margin-top:2em;color:#666}`;

export const DASHBOARD_JS = `"use strict";
(() => {
  const REFRESH_MS = 1000;
  let selected = new URLSearchParams(location.search).get("service") || "";
  const $ = (id) => document.getElementById(id);
  const cell = (text, className) => {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (className) td.className = className;
    return td;
  };
  const fill = (table, rows, empty, columns) => {
    const body = table.tBodies[0];
    body.replaceChildren();
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = cell(empty);
      td.colSpan = columns;
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const row of rows) body.append(row);
  };
  const seconds = (ms) => (ms / 1000).toFixed(1) + " s";
  const getJson = async (url) => {
    const res = await fetch(url, { cache: "no-store" });
    const body = await res.json();
    if (!res.ok) throw new Error(body && body.error ? body.error : res.status + " " + url);
    return body;
  };

  function renderStatus(s) {
    $("node-id").textContent = s.node;
    const flags = [
      "v" + s.version,
      s.count + " entries",
      "digest " + s.digest.slice(0, 12),
      s.ready ? "ready" : "not ready (" + s.state + ")",
      s.converged ? "converged" : "not converged",
      s.nats.connected ? "NATS " + s.nats.server : "NATS down" + (s.nats.lastError ? ": " + s.nats.lastError : ""),
    ];
    if (s.selfPreservation) flags.push("self-preservation: expiry paused");
    if (s.bootstrap) flags.push("bootstrapping " + s.bootstrap.entries + "/" + s.bootstrap.total);
    $("node-summary").textContent = flags.join(" · ");
    fill($("peers"), s.peers.map((p) => {
      const tr = document.createElement("tr");
      tr.dataset.peer = p.id;
      tr.append(cell(p.id), cell(p.state, "state-" + p.state), cell(p.digestMatch ? "same" : "differs"),
        cell(p.count), cell(p.lag), cell(seconds(p.lastSeenMsAgo) + " ago"),
        cell(p.failures + " (" + p.totalFailures + ")"), cell(p.lastPullLatencyMs ? p.lastPullLatencyMs + " ms" : ""));
      return tr;
    }), "no peers seen", 8);
  }

  function renderServices(services) {
    if (!selected && services.length > 0) selected = services[0].name;
    fill($("services"), services.map((s) => {
      const tr = document.createElement("tr");
      tr.dataset.service = s.name;
      if (s.name === selected) tr.className = "selected";
      tr.append(cell(s.name), cell(s.instances), cell(s.healthy));
      tr.addEventListener("click", () => { selected = s.name; refresh(); });
      return tr;
    }), "no services registered", 3);
  }

  function instancesUrl() {
    const params = new URLSearchParams({ service: selected });
    const form = new FormData($("filters"));
    for (const [key, value] of form) if (value) params.append(key, String(value));
    return "/api/instances?" + params;
  }

  function renderInstances(data) {
    $("instances-service").textContent = selected || "—";
    fill($("instances"), data.instances.map((i) => {
      const tr = document.createElement("tr");
      tr.dataset.instance = i.id;
      const tags = Object.entries(i.tags || {}).map(([k, v]) => k + "=" + v).join(", ");
      tr.append(cell(i.id), cell(i.host), cell(i.port), cell(i.status, "status-" + i.status),
        cell(i.version), cell(i.region), cell(tags), cell(i.node), cell(seconds(i.leaseLeftMs)));
      return tr;
    }), selected ? "no live instance matches" : "select a service", 9);
    $("instances-note").textContent = data.total > data.instances.length
      ? "showing " + data.instances.length + " of " + data.total : "";
  }

  function renderChanges(changes) {
    fill($("changes"), changes.map((c) => {
      const tr = document.createElement("tr");
      tr.append(cell(new Date(c.at).toLocaleTimeString()), cell(c.type), cell(c.service + "/" + c.id),
        cell(c.type === "deregistered" ? "" : c.status), cell(c.node));
      return tr;
    }), "no changes yet", 5);
  }

  async function refresh() {
    try {
      const [status, services, changes] = await Promise.all([
        getJson("/status.json"), getJson("/api/services"), getJson("/api/changes"),
      ]);
      renderStatus(status);
      renderServices(services.services);
      renderChanges(changes.changes);
      renderInstances(selected ? await getJson(instancesUrl()) : { instances: [], total: 0 });
      $("error").hidden = true;
      document.body.dataset.updated = String(Date.now());
    } catch (error) {
      $("error").hidden = false;
      $("error").textContent = "cannot refresh: " + error.message;
    }
  }

  $("filters").addEventListener("input", () => refresh());
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
`;
