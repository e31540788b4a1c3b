import type { NodeStatus } from "../../node/status.js";
import { statusSubject } from "../../subjects.js";
import { duration, table } from "../format.js";
import { COMMON_HELP, connectClient, integer, parseCommand, runCommand } from "../options.js";

const HELP = `usage: regsync status [--wait <ms>]

Asks every node for its view of the fleet and prints, per node, its state and a table of its
peers: digest match, how far behind it is, when it last heard of them, pull failures.

  --wait <ms>   how long to collect replies (default 1000)

${COMMON_HELP}`;

export function run(argv: string[]): Promise<number> {
  return runCommand("status", HELP, async () => {
    const { values } = parseCommand(argv, { wait: { type: "string" } }, 0);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const client = await connectClient(values);
    try {
      const replies = await client.nc.requestMany(
        statusSubject(client.prefix),
        new TextEncoder().encode("{}"),
        {
          maxWait: integer(values.wait, "wait") ?? 1_000,
        },
      );
      const nodes: NodeStatus[] = [];
      for await (const reply of replies)
        nodes.push(JSON.parse(new TextDecoder().decode(reply.data)) as NodeStatus);
      nodes.sort((a, b) => (a.node < b.node ? -1 : 1));
      if (values.json) {
        console.log(JSON.stringify(nodes, null, 2));
        return nodes.length > 0 ? 0 : 1;
      }
      if (nodes.length === 0) {
        console.error("no registry node answered");
        return 1;
      }
      for (const node of nodes) {
        const flags = [
          node.ready ? "ready" : "NOT READY",
          node.converged ? "converged" : "not converged",
        ];
        if (node.selfPreservation) flags.push("SELF-PRESERVATION");
        console.log(
          `node ${node.node}  v${node.version}  ${node.count} entries  digest ${node.digest.slice(0, 12)}  seq ${node.seq}  ${flags.join(", ")}`,
        );
        const rows = node.peers.map((p) => [
          p.id,
          p.state,
          p.digestMatch ? "✓" : "✗",
          String(p.lag),
          duration(-p.lastSeenMsAgo),
          `${p.failures} (${p.totalFailures})`,
          p.lastPullLatencyMs ? `${p.lastPullLatencyMs} ms` : "",
        ]);
        console.log(
          table(
            ["  peer", "state", "digest", "lag", "last seen", "failures", "pull"],
            rows.map((r) => [`  ${r[0]}`, ...r.slice(1)]),
          ),
        );
        console.log("");
      }
      return 0;
    } finally {
      await client.close();
    }
  });
}
