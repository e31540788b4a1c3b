#!/usr/bin/env -S node --max-semi-space-size=128
/**
 * `regsync <command>`: the node, the local development fleet, and client commands for
 * operators. Each command lives in its own module and is loaded only when used.
 */
import { VERSION } from "../version.js";

interface Command {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  node: { summary: "run a registry node", load: () => import("./commands/node.js") },
  dev: {
    summary: "start a local nats-server and three nodes",
    load: () => import("./commands/dev.js"),
  },
  register: {
    summary: "register an instance (optionally keep its lease alive)",
    load: () => import("./commands/register.js"),
  },
  heartbeat: {
    summary: "renew an instance's lease",
    load: () => import("./commands/heartbeat.js"),
  },
  deregister: { summary: "remove an instance", load: () => import("./commands/deregister.js") },
  lookup: {
    summary: "list a service's live instances",
    load: () => import("./commands/lookup.js"),
  },
  services: {
    summary: "list services with instance counts",
    load: () => import("./commands/services.js"),
  },
  watch: {
    summary: "follow a service's changes (snapshot, then changes)",
    load: () => import("./commands/watch.js"),
  },
  status: {
    summary: "show the fleet: nodes, digests, lag, failures",
    load: () => import("./commands/status.js"),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`,
  );
  return `regsync ${VERSION}: a service registry for a service mesh, over NATS\n\nusage: regsync <command> [options]\n\ncommands:\n${lines.join("\n")}\n\nEvery command takes --help. Client commands take --nats <url> (default $NATS_URL, else nats://127.0.0.1:4222).`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v") {
    console.log(VERSION);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`regsync: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load()).run(rest);
}

// A finished command exits at once: a connection attempt that nats.js abandoned (a server that
// accepted the socket and never spoke) must not keep the process alive after the error.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`regsync: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
