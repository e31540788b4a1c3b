import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { promisify } from "node:util";
import { parse, parseAllDocuments } from "yaml";
import { configFromEnv, parseNodeConfig } from "../../src/config/load.js";

const exec = promisify(execFile);

/** Parsed YAML, walked by the assertions below: any shape may come back. */
// biome-ignore lint/suspicious/noExplicitAny: the manifests are untyped data under test
type Yaml = any;

/** REGSYNC_* variables as a deployment sets them must load as a valid node config. */
function assertValidEnv(env: Record<string, string>, where: string): void {
  const settings = configFromEnv(env);
  assert.doesNotThrow(() => parseNodeConfig({ id: "probe", ...settings }), where);
}

interface K8sObject {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
}

interface Container {
  name: string;
  image: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string } };
  ports?: { name: string; containerPort: number }[];
  securityContext?: Record<string, unknown>;
}

test("the Kubernetes manifests: NATS cluster and a StatefulSet of nodes probed on /readyz", () => {
  const objects = ["deploy/kubernetes/nats.yaml", "deploy/kubernetes/regsync.yaml"].flatMap(
    (file) =>
      parseAllDocuments(readFileSync(file, "utf8")).map((doc) => {
        assert.deepEqual(doc.errors, [], file);
        return doc.toJS() as K8sObject;
      }),
  );
  const find = (kind: string, name: string) => {
    const object = objects.find((o) => o.kind === kind && o.metadata.name === name);
    assert.ok(object, `${kind}/${name}`);
    return object as K8sObject & { spec: Record<string, Yaml> };
  };
  const nats = find("StatefulSet", "nats");
  assert.equal(nats.spec.replicas, 3);
  const natsConf = (find("ConfigMap", "nats-config") as Yaml).data["nats.conf"] as string;
  for (let i = 0; i < 3; i++) assert.match(natsConf, new RegExp(`nats-${i}\\.nats-cluster:6222`));
  find("Service", "nats");

  const nodes = find("StatefulSet", "regsync");
  assert.ok(nodes.spec.replicas >= 3);
  assert.ok(nodes.spec.volumeClaimTemplates.length > 0, "each node keeps its replica");
  const container = nodes.spec.template.spec.containers[0] as Container;
  assert.equal(container.readinessProbe?.httpGet?.path, "/readyz");
  assert.equal(container.livenessProbe?.httpGet?.path, "/healthz");
  assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
  const env = Object.fromEntries(
    (container.env ?? []).map((e) => [e.name, e.value ?? "regsync-0"]),
  );
  assert.equal(env.REGSYNC_NATS, "nats://nats:4222", "nodes reach NATS through its Service");
  assert.match(env.REGSYNC_HTTP_LISTEN!, /:7420$/);
  assertValidEnv(env, "regsync.yaml");
});

test("docker-compose: NATS and three nodes with valid settings and a readiness check", () => {
  const compose = parse(readFileSync("deploy/docker-compose.yml", "utf8"), {
    merge: true,
  }) as { services: Record<string, Record<string, Yaml>> };
  assert.ok(compose.services.nats, "a NATS server");
  const nodes = Object.entries(compose.services).filter(([name]) => name.startsWith("regsync"));
  assert.equal(nodes.length, 3);
  const ids = new Set<string>();
  for (const [name, service] of nodes) {
    assert.equal(service.build.dockerfile, "deploy/Dockerfile", name);
    assert.ok(existsSync(service.build.dockerfile));
    assert.match(service.healthcheck.test.join(" "), /\/readyz/, name);
    assertValidEnv(service.environment, name);
    ids.add(service.environment.REGSYNC_ID);
  }
  assert.equal(ids.size, 3, "every node has its own id");
  const dockerfile = readFileSync("deploy/Dockerfile", "utf8");
  for (const line of dockerfile.split("\n").filter((l) => l.startsWith("ENV "))) {
    assert.match(line, /REGSYNC_/);
  }
  assertValidEnv(
    {
      REGSYNC_DATA_DIR: "/var/lib/regsync",
      REGSYNC_LOG_FORMAT: "json",
      REGSYNC_HTTP_LISTEN: "0.0.0.0:7420",
    },
    "Dockerfile",
  );
  assert.match(dockerfile, /^USER node$/m, "the image runs unprivileged");
});

test("the systemd unit is hardened, and systemd-analyze rates it 4 or better", async (t) => {
  const unit = readFileSync("deploy/regsync-node.service", "utf8");
  const settings = new Map<string, string[]>();
  for (const line of unit.split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) settings.set(match[1]!, [...(settings.get(match[1]!) ?? []), match[2]!]);
  }
  for (const [key, value] of [
    ["User", "regsync"],
    ["NoNewPrivileges", "true"],
    ["ProtectSystem", "strict"],
    ["PrivateDevices", "true"],
    ["RestrictNamespaces", "true"],
    ["StateDirectory", "regsync"],
  ]) {
    assert.ok(settings.get(key!)?.includes(value!), `${key}=${value}`);
  }
  assert.deepEqual(settings.get("CapabilityBoundingSet"), [""]);
  const env = Object.fromEntries(
    (settings.get("Environment") ?? []).map((e) => e.split("=", 2) as [string, string]),
  );
  assertValidEnv(env, "regsync-node.service");

  if (!existsSync("/usr/bin/systemd-analyze")) {
    t.skip("systemd-analyze is not installed");
    return;
  }
  const { stdout } = await exec("systemd-analyze", [
    "security",
    "--offline=true",
    "deploy/regsync-node.service",
  ]);
  const exposure = Number(/Overall exposure level for .*: ([\d.]+)/.exec(stdout)?.[1]);
  assert.ok(exposure <= 4, `exposure ${exposure}`);
});
