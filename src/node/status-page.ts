import type { NodeStatus } from "./status.js";

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** A small self-refreshing HTML page of one node's state and its view of its peers. */
export function renderStatusPage(status: NodeStatus): string {
  const rows = status.peers
    .map(
      (p) =>
        `<tr class="${p.state}"><td>${escapeHtml(p.id)}</td><td>${escapeHtml(p.state)}</td><td>${p.digestMatch ? "✓" : "✗"}</td>` +
        `<td>${p.count}</td><td>${p.seq}</td><td>${p.lag}</td><td>${(p.lastSeenMsAgo / 1000).toFixed(1)} s</td>` +
        `<td>${p.failures} (${p.totalFailures})</td><td>${p.lastPullLatencyMs} ms</td></tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>regsync ${escapeHtml(status.node)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.suspect td,.silent td{color:#b00}.retrying td{color:#a60}.left td{color:#888}
code{background:#f4f4f4;padding:0 .3em}
</style></head><body>
<h1>regsync node <code>${escapeHtml(status.node)}</code></h1>
<p>version ${escapeHtml(status.version)} · epoch <code>${escapeHtml(status.epoch)}</code> · seq ${status.seq} ·
${status.count} entries · digest <code>${escapeHtml(status.digest)}</code></p>
<p>${status.ready ? "ready" : `not ready (${status.state})`} · ${status.converged ? "converged with every live peer" : "not converged"}
${status.selfPreservation ? " · <strong>self-preservation: lease expiry paused</strong>" : ""} ·
up ${(status.uptimeMs / 1000).toFixed(0)} s</p>
${bootstrapSection(status)}<h2>Peers</h2>
<table><tr><th>peer</th><th>state</th><th>digest</th><th>entries</th><th>seq</th><th>lag</th><th>last seen</th><th>failures (total)</th><th>pull</th></tr>
${rows || '<tr><td colspan="9">no peers seen yet</td></tr>'}
</table>
<p><a href="/status.json">status.json</a> · <a href="/metrics">metrics</a> · <a href="/readyz">readyz</a></p>
</body></html>
`;
}

function bootstrapSection(status: NodeStatus): string {
  const progress = status.bootstrap;
  if (progress === undefined) return "";
  const eta = progress.etaMs === undefined ? "" : ` · ETA ${(progress.etaMs / 1000).toFixed(0)} s`;
  return `<p>bootstrapping from <code>${escapeHtml(progress.peer)}</code>:
<progress max="${progress.total}" value="${progress.entries}"></progress>
${progress.entries} / ${progress.total} entries · ${progress.perSecond}/s${eta}</p>
`;
}
