import { ErrorCode, NatsError } from "nats";
import type { RegistryClient } from "../../client/client.js";
import type { NodeStatus } from "../../node/status.js";
import { statusSubject } from "../../subjects.js";
import { duration, table } from "../format.js";
import { COMMON_HELP, connectClient, integer, parseCommand, runCommand } from "../options.js";
import { renderBootstrapLine } from "../progress-bar.js";
import { TerminalStatus } from "../terminal-status.js";

const HELP = `usage: regsync status [--wait <ms>] [--until-ready [--node <id>…] [--timeout <ms>]]

Asks every node for its view of the fleet and prints, per node, its state and a table of its
peers: digest match, how far behind it is, when it last heard of them, pull failures.

  --wait <ms>      how long to collect replies (default 1000)
  --until-ready    ask again until every node that answers is ready (a new node has finished
                   its bootstrap), with a progress bar per bootstrapping node in a terminal;
                   exits 1 if that takes longer than the timeout
  --node <id>      with --until-ready: also wait for this node to answer (repeatable), e.g.
                   the node a deployment has just started
  --timeout <ms>   how long --until-ready waits (default 600000)

${COMMON_HELP}`;

const POLL_WAIT_MS = 500;
/** Without a terminal, progress is printed as plain lines this often. */
const PLAIN_PROGRESS_INTERVAL_MS = 5_000;

export function run(argv: string[]): Promise<number> {
  return runCommand("status", HELP, argv, async () => {
    const { values } = parseCommand(
      argv,
      {
        wait: { type: "string" },
        "until-ready": { type: "boolean" },
        node: { type: "string", multiple: true },
        timeout: { type: "string" },
      },
      0,
    );
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const waitMs = integer(values.wait, "wait") ?? 1_000;
    const timeoutMs = integer(values.timeout, "timeout") ?? 600_000;
    const client = await connectClient(values);
    try {
      let nodes: NodeStatus[];
      let allReady = true;
      if (values["until-ready"]) {
        const expected = (values.node as string[] | undefined) ?? [];
        ({ nodes, allReady } = await untilReady(client, expected, timeoutMs));
      } else {
        nodes = await collect(client, waitMs);
      }
      if (values.json) {
        console.log(JSON.stringify(nodes, null, 2));
      } else if (nodes.length === 0) {
        console.error("no registry node answered");
      } else {
        console.log(nodes.map(describe).join("\n\n"));
      }
      if (!allReady) console.error(`not every node was ready after ${duration(timeoutMs)}`);
      return nodes.length > 0 && allReady ? 0 : 1;
    } finally {
      await client.close();
    }
  });
}

/** Every node's status, sorted by id; those that answer within `waitMs`. */
async function collect(client: RegistryClient, waitMs: number): Promise<NodeStatus[]> {
  const replies = await client.nc.requestMany(
    statusSubject(client.prefix),
    new TextEncoder().encode("{}"),
    { maxWait: waitMs },
  );
  const nodes: NodeStatus[] = [];
  try {
    for await (const reply of replies)
      nodes.push(JSON.parse(new TextDecoder().decode(reply.data)) as NodeStatus);
  } catch (error) {
    // No node subscribed yet (a fleet's first node still starting): nobody answered.
    if (!(error instanceof NatsError && error.code === ErrorCode.NoResponders)) throw error;
  }
  return nodes.sort((a, b) => (a.node < b.node ? -1 : 1));
}

/**
 * Asks until every node that answers, and every `expected` one, is ready, drawing their
 * bootstrap progress meanwhile.
 */
async function untilReady(
  client: RegistryClient,
  expected: readonly string[],
  timeoutMs: number,
): Promise<{ nodes: NodeStatus[]; allReady: boolean }> {
  const terminal = process.stderr.isTTY ? new TerminalStatus(process.stderr) : undefined;
  const deadline = Date.now() + timeoutMs;
  let printedAt = 0;
  for (;;) {
    const nodes = await collect(client, POLL_WAIT_MS);
    const waiting = nodes.filter((n) => !n.ready);
    const absent = expected.filter((id) => !nodes.some((n) => n.node === id));
    if (nodes.length > 0 && waiting.length === 0 && absent.length === 0) {
      terminal?.clear();
      return { nodes, allReady: true };
    }
    if (Date.now() > deadline) {
      terminal?.commit();
      return { nodes, allReady: false };
    }
    const columns = terminal?.columns ?? 120;
    const lines = [
      ...waiting.map((n) =>
        n.bootstrap === undefined
          ? `${n.node}  not ready (${n.state ?? "starting"}): ${n.peers.length} peer(s)`
          : renderBootstrapLine(n.node, n.bootstrap, columns),
      ),
      ...absent.map((id) => `${id}  not answering yet`),
    ];
    if (nodes.length === 0 && absent.length === 0) lines.push("waiting for a node to answer…");
    if (terminal !== undefined) {
      terminal.show(lines);
    } else if (Date.now() - printedAt >= PLAIN_PROGRESS_INTERVAL_MS) {
      printedAt = Date.now();
      console.error(lines.join("\n"));
    }
  }
}

function describe(node: NodeStatus): string {
  const flags = [
    node.ready ? "ready" : `NOT READY (${node.state ?? "starting"})`,
    node.converged ? "converged" : "not converged",
  ];
  if (node.selfPreservation) flags.push("SELF-PRESERVATION");
  for (const [name, region] of Object.entries(node.regions ?? {}))
    if (region.stale)
      flags.push(`region ${name} STALE (last heard ${duration(region.lastHeardMs)} ago)`);
  const where = node.region === undefined ? "" : `  region ${node.region}`;
  const lines = [
    `node ${node.node}${where}  v${node.version}  ${node.count} entries  digest ${node.digest.slice(0, 12)}  seq ${node.seq}  ${flags.join(", ")}`,
  ];
  if (node.bootstrap !== undefined)
    lines.push(`  bootstrap ${renderBootstrapLine(node.node, node.bootstrap, 100)}`);
  const rows = node.peers.map((p) => [
    `  ${p.id}`,
    p.region ?? "",
    p.state,
    p.digestMatch ? "✓" : "✗",
    String(p.lag),
    duration(-p.lastSeenMsAgo),
    `${p.failures} (${p.totalFailures})`,
    p.lastPullLatencyMs ? `${p.lastPullLatencyMs} ms` : "",
  ]);
  lines.push(
    table(["  peer", "region", "state", "digest", "lag", "last seen", "failures", "pull"], rows),
  );
  if (node.peersOmitted > 0) lines.push(`  … and ${node.peersOmitted} more peer(s) not listed`);
  return lines.join("\n");
}
