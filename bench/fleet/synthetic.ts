import { type EntryRecord, type Instance, instanceBody, packHlc } from "../../src/core/mod.js";

const REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"];
const TEAMS = ["payments", "search", "identity", "catalog", "checkout", "growth"];

/** Instance `i` of a synthetic registry: 200 services, ~300 bytes of JSON when rendered. */
export function syntheticInstance(i: number, ttlMs = 86_400_000): Instance {
  const service = `svc-${String(i % 200).padStart(3, "0")}`;
  const region = REGIONS[i % REGIONS.length]!;
  // Built directly rather than through the schema: a million zod parses would dominate setup.
  return {
    service,
    id: `${service}-${i.toString(36)}.pod.cluster.local:8443`,
    host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 8443,
    status: "running",
    version: `2.${i % 17}.${i % 5}`,
    environment: "production",
    region,
    tags: {
      zone: `${region}${"abc"[i % 3]}`,
      team: TEAMS[i % TEAMS.length]!,
      tier: i % 2 ? "backend" : "edge",
    },
    endpoints: { grpc: `grpc://10.0.0.1:8443`, metrics: `http://10.0.0.1:9090/metrics` },
    weight: 100,
    ttlMs,
  };
}

/** Entry `i` of a synthetic registry, as a peer would send it. */
export function syntheticRecord(i: number, nowMs: number, node: string): EntryRecord {
  const instance = syntheticInstance(i);
  return {
    service: instance.service,
    id: instance.id,
    hlc: packHlc(nowMs - 1_000, i % 1024),
    node,
    body: instanceBody(instance),
    status: instance.status,
    ver: instance.version!,
    ttlMs: instance.ttlMs,
    registeredAt: nowMs - 1_000,
    lastHeartbeat: nowMs - 1_000,
    expiresAt: nowMs + 86_400_000,
  };
}

/** A registration as a production service would send it (~300 bytes of JSON), for benches
 * that go through the client API. */
export function realisticRegistration(service: string, id: string): Record<string, unknown> {
  return {
    service,
    id,
    host: "10.1.2.3",
    port: 8443,
    status: "running",
    version: "2.14.1",
    environment: "production",
    region: "eu-west-1",
    tags: { zone: "eu-west-1a", team: "payments", tier: "backend" },
    endpoints: { grpc: "grpc://10.1.2.3:8443", metrics: "http://10.1.2.3:9090/metrics" },
    ttlMs: 30_000,
  };
}
