import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

/**
 * The layering of src/ (README "Architecture"): each folder may import only the folders below
 * it, and no module may reach itself again through runtime imports. Reads the TypeScript
 * sources, so it checks the code as written, type-only imports included for layering (a type
 * from an upper layer still ties the lower one to it) and left out for cycles (they vanish at
 * run time).
 */
const SRC = resolve(
  process.env.REGSYNC_ARCH_SRC ?? join(dirname(fileURLToPath(import.meta.url)), "../../src"),
);

/** What each folder of src/ may import besides itself. `(root)` is src/*.ts. */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  contract: ["core"],
  wire: ["core"],
  nats: ["core"],
  config: ["contract", "core"],
  sync: ["contract", "core", "wire"],
  storage: ["core", "wire"],
  client: ["contract", "core", "nats", "wire"],
  node: ["(root)", "config", "contract", "core", "nats", "storage", "sync", "wire"],
  dev: ["config", "core"],
  cli: [
    "(root)",
    "client",
    "config",
    "contract",
    "core",
    "dev",
    "nats",
    "node",
    "storage",
    "sync",
    "wire",
  ],
  "(root)": ["client", "config", "contract", "core", "node", "sync", "wire"],
};

/** Upward imports known and owned elsewhere; each names why it is still here. A new one fails.
 * (None now: storage has a disk format of its own and no longer imports sync.) */
const KNOWN_UPWARD = new Set<string>();

/** Files the client must never load: the server's connection settings and change publisher. */
const CLIENT_MUST_NOT_LOAD = ["node/connection.ts", "node/changes.ts"];

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(path);
    return d.name.endsWith(".ts") && !d.name.endsWith(".d.ts") ? [path] : [];
  });
}

const IMPORT =
  /^\s*(import|export)\s+(type\s+)?(?:[^;]*?\s+from\s+)?["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/gms;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = (m[3] ?? m[4])!;
    const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
    out.push({
      from: relative(SRC, file),
      to: relative(SRC, target),
      typeOnly: m[2] !== undefined || onlyTypesNamed(m[0]),
    });
  }
  return out;
}

/** `import { type A, type B } from …`: every name is a type, so nothing loads at run time. */
function onlyTypesNamed(statement: string): boolean {
  const names = /^\s*(?:import|export)\s*\{([^}]*)\}\s*from/s.exec(statement)?.[1];
  if (names === undefined) return false;
  const list = names
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  return list.length > 0 && list.every((n) => n.startsWith("type "));
}

function layerOf(path: string): string {
  const parts = path.split("/");
  return parts.length > 1 ? parts[0]! : "(root)";
}

const FILES = sourceFiles(SRC);
const IMPORTS = FILES.flatMap(importsOf);

/** Every runtime import cycle, each as the files around it. */
function cycles(imports: readonly Import[]): string[][] {
  const edges = new Map<string, string[]>();
  for (const i of imports) {
    if (i.typeOnly) continue;
    edges.set(i.from, [...(edges.get(i.from) ?? []), i.to]);
  }
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const file of edges.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe("architecture", () => {
  test("the sources were found", () => {
    assert.ok(FILES.length > 50, `${FILES.length} files under ${SRC}`);
    assert.ok(IMPORTS.length > 100);
  });

  test("no folder imports one above it", () => {
    const upward = IMPORTS.filter((i) => {
      const [from, to] = [layerOf(i.from), layerOf(i.to)];
      return from !== to && !(ALLOWED[from] ?? []).includes(to);
    })
      .map((i) => `${i.from} -> ${i.to}`)
      .filter((edge) => !KNOWN_UPWARD.has(edge));
    assert.deepEqual(upward, []);
  });

  test("no runtime import cycles", () => {
    assert.deepEqual(
      cycles(IMPORTS).map((c) => c.join(" -> ")),
      [],
    );
  });

  test("the client loads neither the node's connection nor its change publisher", () => {
    const loaded = new Set<string>();
    const queue = ["client/mod.ts"];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (loaded.has(file)) continue;
      loaded.add(file);
      for (const i of IMPORTS) if (i.from === file && !i.typeOnly) queue.push(i.to);
    }
    for (const file of CLIENT_MUST_NOT_LOAD) assert.equal(loaded.has(file), false, file);
    assert.deepEqual(
      [...loaded].filter((f) => f.startsWith("node/")),
      [],
    );
  });

  test("the checker sees an upward import and a cycle", () => {
    const planted: Import[] = [
      { from: "core/a.ts", to: "node/b.ts", typeOnly: true },
      { from: "node/b.ts", to: "core/a.ts", typeOnly: false },
      { from: "core/a.ts", to: "node/b.ts", typeOnly: false },
    ];
    assert.equal(ALLOWED.core!.includes(layerOf(planted[0]!.to)), false);
    assert.equal(cycles(planted).length, 1);
  });
});
