import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort, startNatsServer } from "../../dev/nats-server.js";
import { integer, parseCommand, runCommand } from "../options.js";
import { NODE_RUNTIME_FLAGS } from "../runtime-flags.js";

const HELP = `usage: regsync dev [--nodes 3]

Starts a local fleet for development: a nats-server on a free loopback port (from PATH, or
$NATS_SERVER) and N registry nodes keeping nothing on disk, each with its status page. Prints
what to try next; Ctrl-C stops everything.`;

const MAIN = fileURLToPath(new URL("../main.js", import.meta.url));

export function run(argv: string[]): Promise<number> {
  return runCommand("dev", HELP, argv, async () => {
    const { values } = parseCommand(argv, { nodes: { type: "string" } }, 0);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const count = integer(values.nodes, "nodes") ?? 3;
    // The server and the nodes run in their own process groups: a Ctrl-C reaches only this
    // command, which stops the nodes first and the server last, so no node sees NATS vanish.
    const server = await startNatsServer({ monitor: true, detached: true });
    const nodes: { id: string; child: ChildProcess; http: string }[] = [];
    for (let i = 1; i <= count; i++) {
      const id = `n${i}`;
      const http = `127.0.0.1:${await freePort()}`;
      const child = spawn(
        process.execPath,
        [
          ...NODE_RUNTIME_FLAGS,
          MAIN,
          "node",
          "--nats",
          server.url,
          "--id",
          id,
          "--memory",
          "--http-listen",
          http,
          "--log-format",
          "pretty",
        ],
        { stdio: ["ignore", "inherit", "inherit"], detached: true },
      );
      nodes.push({ id, child, http });
    }
    const cli = "npx regsync";
    console.log(`
regsync dev: nats-server at ${server.url}, ${count} nodes
${nodes.map((n) => `  ${n.id}: status page http://${n.http}/  metrics http://${n.http}/metrics`).join("\n")}

Try:
  ${cli} register --nats ${server.url} --service demo --id demo-1 --host 127.0.0.1 --port 8080 --status running --keepalive
  ${cli} lookup demo --nats ${server.url}
  ${cli} services --nats ${server.url}
  ${cli} watch demo --nats ${server.url}
  ${cli} status --nats ${server.url}

With the NATS CLI (github.com/nats-io/natscli; Debian does not package it):
  nats req registry.lookup '{"service":"demo"}' -s ${server.url}
  nats micro ls -s ${server.url}

Ctrl-C stops the fleet.
`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
      for (const n of nodes)
        n.child.once(
          "exit",
          (code) =>
            code !== 0 && code !== null && console.error(`${n.id} exited with code ${code}`),
        );
    });
    await Promise.all(
      nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            if (n.child.exitCode !== null) return resolve();
            n.child.once("exit", () => resolve());
            n.child.kill("SIGTERM");
            setTimeout(() => n.child.kill("SIGKILL"), 5_000).unref();
          }),
      ),
    );
    await server.stop();
    return 0;
  });
}
