import type { NatsServerHandle } from "./nats-server.js";

/** How long one monitoring request may take. */
const MONITOR_REQUEST_TIMEOUT_MS = 2_000;

/** Traffic counters of one connection, as the monitoring endpoints report them. */
export interface LinkTraffic {
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
}

/** A server's view of its gateways (`/gatewayz`): the remote clusters it has links with. */
export interface GatewayView {
  serverId: string;
  /** Cluster names this server has an outbound gateway to. */
  outbound: Set<string>;
  /** Traffic summed over every gateway connection, outbound and inbound. */
  traffic: LinkTraffic;
}

/** A server's leaf-node connections (`/leafz`). */
export interface LeafView {
  serverId: string;
  /** Leaf connections up now. */
  links: number;
  traffic: LinkTraffic;
}

export const NO_TRAFFIC: LinkTraffic = { inMsgs: 0, outMsgs: 0, inBytes: 0, outBytes: 0 };

/** A monitoring endpoint's JSON; undefined when the server is down or does not answer. */
export async function monitorJson<T>(
  server: NatsServerHandle,
  path: string,
): Promise<T | undefined> {
  if (!server.running || server.monitorUrl === undefined) return undefined;
  try {
    const response = await fetch(`${server.monitorUrl}${path}`, {
      signal: AbortSignal.timeout(MONITOR_REQUEST_TIMEOUT_MS),
    });
    if (!response.ok) return undefined;
    return (await response.json()) as T;
  } catch {
    return undefined;
  }
}

interface ConnectionJson {
  in_msgs?: number;
  out_msgs?: number;
  in_bytes?: number;
  out_bytes?: number;
}

interface GatewayzJson {
  server_id: string;
  outbound_gateways?: Record<string, { connection?: ConnectionJson }> | null;
  inbound_gateways?: Record<string, { connection?: ConnectionJson }[]> | null;
}

export async function gatewayz(server: NatsServerHandle): Promise<GatewayView | undefined> {
  const body = await monitorJson<GatewayzJson>(server, "/gatewayz");
  if (body === undefined) return undefined;
  const outbound = body.outbound_gateways ?? {};
  const connections: ConnectionJson[] = [];
  for (const gateway of Object.values(outbound))
    if (gateway.connection !== undefined) connections.push(gateway.connection);
  for (const list of Object.values(body.inbound_gateways ?? {}))
    for (const gateway of list)
      if (gateway.connection !== undefined) connections.push(gateway.connection);
  return {
    serverId: body.server_id,
    outbound: new Set(Object.keys(outbound)),
    traffic: sumTraffic(connections.map(trafficOf)),
  };
}

interface LeafzJson {
  server_id: string;
  leafs?: ConnectionJson[] | null;
}

export async function leafz(server: NatsServerHandle): Promise<LeafView | undefined> {
  const body = await monitorJson<LeafzJson>(server, "/leafz");
  if (body === undefined) return undefined;
  const leafs = body.leafs ?? [];
  return {
    serverId: body.server_id,
    links: leafs.length,
    traffic: sumTraffic(leafs.map(trafficOf)),
  };
}

export function sumTraffic(all: readonly LinkTraffic[]): LinkTraffic {
  const total = { ...NO_TRAFFIC };
  for (const t of all) {
    total.inMsgs += t.inMsgs;
    total.outMsgs += t.outMsgs;
    total.inBytes += t.inBytes;
    total.outBytes += t.outBytes;
  }
  return total;
}

/** `after - before`, field by field: the traffic of an interval on connections that stayed up. */
export function trafficSince(before: LinkTraffic, after: LinkTraffic): LinkTraffic {
  return {
    inMsgs: after.inMsgs - before.inMsgs,
    outMsgs: after.outMsgs - before.outMsgs,
    inBytes: after.inBytes - before.inBytes,
    outBytes: after.outBytes - before.outBytes,
  };
}

function trafficOf(connection: ConnectionJson): LinkTraffic {
  return {
    inMsgs: connection.in_msgs ?? 0,
    outMsgs: connection.out_msgs ?? 0,
    inBytes: connection.in_bytes ?? 0,
    outBytes: connection.out_bytes ?? 0,
  };
}

/** A server's own counters (`/varz`): every message and byte in and out of it so far. */
export async function serverTraffic(server: NatsServerHandle): Promise<LinkTraffic | undefined> {
  const body = await monitorJson<ConnectionJson>(server, "/varz");
  return body === undefined ? undefined : trafficOf(body);
}
