import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConnectionOptions, connect, type NatsConnection, nkeyAuthenticator } from "nats";
import { createUser } from "nkeys.js";
import type { NodeConfigInput } from "../../src/config/schema.js";
import { freePort, startNatsServer } from "../../src/dev/nats-server.js";

/** The users an attack plays or defends as; each has its own inbox prefix `_INBOX.<role>`. */
export type Role = "node-1" | "node-2" | "team-a" | "team-b" | "operator" | "service";

/** A nats-server started from one of the repository's configurations, and how to join it. */
export interface Deployment {
  name: string;
  url: string;
  /** A raw NATS connection as `role`, replies on `_INBOX.<role>`. */
  connect(role: Role): Promise<NatsConnection>;
  /** Node settings for a node running as `role` (id, credentials, inbox prefix, TLS). */
  node(role: "node-1" | "node-2"): Partial<NodeConfigInput>;
}

function repoFile(path: string): string {
  return readFileSync(new URL(`../../../${path}`, import.meta.url), "utf8");
}

async function monitorOnFreePort(text: string): Promise<string> {
  return text
    .replace(/^listen: .*$/m, "")
    .replace(/^http: .*$/m, `http: "127.0.0.1:${await freePort()}"`);
}

const DEV_PASSWORDS: Record<Role, string> = {
  "node-1": "dev-node-1-password",
  "node-2": "dev-node-2-password",
  "team-a": "dev-team-a-password",
  "team-b": "dev-team-b-password",
  operator: "dev-operator-password",
  // The shared user of nats.conf only; the template has teams instead.
  service: "dev-service-password",
};

/** nats.conf at the repository root, on free loopback ports, with its published passwords. */
export async function devDeployment(defer: (cleanup: () => unknown) => void): Promise<Deployment> {
  const server = await startNatsServer({ config: await monitorOnFreePort(repoFile("nats.conf")) });
  defer(() => server.stop());
  return {
    name: "nats.conf",
    url: server.url,
    connect: (role) =>
      connect({
        servers: server.url,
        user: role,
        pass: DEV_PASSWORDS[role],
        inboxPrefix: `_INBOX.${role}`,
      }),
    node: (role) => ({
      id: role,
      natsAuth: { user: role, pass: DEV_PASSWORDS[role] },
      inboxPrefix: `_INBOX.${role}`,
    }),
  };
}

const TEMPLATE_USERS: Record<Exclude<Role, "service"> | "node-3" | "system", string> = {
  "node-1": "NODE_1",
  "node-2": "NODE_2",
  "node-3": "NODE_3",
  "team-a": "TEAM_A",
  "team-b": "TEAM_B",
  operator: "OPERATOR",
  system: "SYSTEM",
};

/**
 * deploy/nats-cluster.conf as shipped, with only what a test must change: the placeholders
 * replaced by freshly generated nkeys, the TLS files by a CA and certificates generated now
 * (openssl, for 127.0.0.1), the listeners moved to free loopback ports, and the cluster block
 * left out (one server; routes to other hosts are not part of the permission model).
 */
export async function templateDeployment(
  defer: (cleanup: () => unknown) => void,
): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), "regsync-template-"));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const tls = makeCertificates(dir);
  const seeds = new Map<string, string>();
  let text = repoFile("deploy/nats-cluster.conf");
  for (const [role, name] of Object.entries(TEMPLATE_USERS)) {
    const user = createUser();
    const placeholder = new RegExp(`UREPLACE_WITH_${name}_PUBLIC_NKEY_*`);
    if (!placeholder.test(text)) throw new Error(`the template has no user ${name}`);
    text = text.replace(placeholder, user.getPublicKey());
    const seedFile = join(dir, `${role}.nk`);
    writeFileSync(seedFile, new TextDecoder().decode(user.getSeed()));
    seeds.set(role, seedFile);
  }
  text = text
    .replace(/^cluster \{[\s\S]*?^\}\n/m, "")
    .replaceAll("/etc/nats/tls/server.pem", tls.serverCert)
    .replaceAll("/etc/nats/tls/server-key.pem", tls.serverKey)
    .replaceAll("/etc/nats/tls/ca.pem", tls.ca);
  const server = await startNatsServer({ config: await monitorOnFreePort(text) });
  defer(() => server.stop());
  const tlsOptions = { caFile: tls.ca, certFile: tls.clientCert, keyFile: tls.clientKey };
  return {
    name: "deploy/nats-cluster.conf",
    url: server.url,
    connect: (role) => {
      const options: ConnectionOptions = {
        servers: server.url,
        authenticator: nkeyAuthenticator(new TextEncoder().encode(seedOf(seeds, role))),
        tls: tlsOptions,
        inboxPrefix: `_INBOX.${role}`,
      };
      return connect(options);
    },
    node: (role) => ({
      id: role,
      natsAuth: { nkeySeedFile: seeds.get(role)! },
      tls: { ca: tls.ca, cert: tls.clientCert, key: tls.clientKey },
      inboxPrefix: `_INBOX.${role}`,
    }),
  };
}

function seedOf(seeds: Map<string, string>, role: string): string {
  if (!seeds.has(role)) throw new Error(`deploy/nats-cluster.conf has no user ${role}`);
  return readFileSync(seeds.get(role)!, "utf8").trim();
}

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate. */
function makeCertificates(dir: string) {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl(
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...[
      "-keyout",
      file("ca-key.pem"),
      "-out",
      file("ca.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=test-ca",
    ],
  );
  const issue = (name: string, extensions: string) => {
    writeFileSync(file(`${name}.ext`), extensions);
    openssl(
      ...["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", file(`${name}-key.pem`), "-out", file(`${name}.csr`), "-subj", `/CN=${name}`],
    );
    openssl(
      ...["x509", "-req", "-in", file(`${name}.csr`), "-CA", file("ca.pem")],
      ...["-CAkey", file("ca-key.pem"), "-CAcreateserial", "-days", "1"],
      ...["-out", file(`${name}.pem`), "-extfile", file(`${name}.ext`)],
    );
  };
  issue("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  issue("client", "extendedKeyUsage=clientAuth\n");
  return {
    ca: file("ca.pem"),
    serverCert: file("server.pem"),
    serverKey: file("server-key.pem"),
    clientCert: file("client.pem"),
    clientKey: file("client-key.pem"),
  };
}
