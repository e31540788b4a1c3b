import {
  describeIssues,
  type InstanceInput,
  InstanceSchema,
  type Status,
} from "../../core/instance.js";
import { clock } from "../format.js";
import {
  COMMON_HELP,
  connectClient,
  integer,
  keyValues,
  parseCommand,
  runCommand,
  UsageError,
} from "../options.js";

const HELP = `usage: regsync register --service S --id I --host H --port P [options]

  --ttl <ms>                lease (default 30000)
  --status <status>         starting|running|stopping|stopped|unhealthy|unknown
  --version, --region, --environment <text>
  --tag k=v …               tags (repeatable)
  --capability c …, --dependency d …
  --endpoint name=url …     named endpoints (repeatable)
  --weight <1-1000>, --health-check-url <url>
  --keepalive               keep the lease alive until Ctrl-C, then deregister

${COMMON_HELP}`;

export function run(argv: string[]): Promise<number> {
  return runCommand("register", HELP, argv, async () => {
    const { values } = parseCommand(
      argv,
      {
        service: { type: "string" },
        id: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        ttl: { type: "string" },
        status: { type: "string" },
        version: { type: "string" },
        region: { type: "string" },
        environment: { type: "string" },
        tag: { type: "string", multiple: true },
        capability: { type: "string", multiple: true },
        dependency: { type: "string", multiple: true },
        endpoint: { type: "string", multiple: true },
        weight: { type: "string" },
        "health-check-url": { type: "string" },
        keepalive: { type: "boolean" },
      },
      0,
    );
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    for (const required of ["service", "id", "host", "port"]) {
      if (values[required] === undefined) throw new UsageError(`--${required} is required`);
    }
    const instance: InstanceInput = {
      service: String(values.service),
      id: String(values.id),
      host: String(values.host),
      port: integer(values.port, "port")!,
      ttlMs: integer(values.ttl, "ttl"),
      status: values.status as Status | undefined,
      version: values.version as string | undefined,
      region: values.region as string | undefined,
      environment: values.environment as string | undefined,
      tags: keyValues(values.tag as string[] | undefined, "tag"),
      capabilities: values.capability as string[] | undefined,
      dependencies: values.dependency as string[] | undefined,
      endpoints: keyValues(values.endpoint as string[] | undefined, "endpoint"),
      weight: integer(values.weight, "weight"),
      healthCheckUrl: values["health-check-url"] as string | undefined,
    };
    checkLocally(instance);
    const client = await connectClient(values);
    try {
      const registration = await client.register(instance, {
        keepAlive: values.keepalive === true,
      });
      const { instance: got } = registration;
      const token = client.causalToken;
      if (values.json) console.log(JSON.stringify({ ...got, token }));
      else
        console.log(
          `registered ${got.service}/${got.id} (node ${got.node}), lease until ${clock(got.expiresAt)}\ntoken ${token}`,
        );
      if (!values.keepalive) return 0;
      registration.on("reregistered", () =>
        console.error(`lease was lost; registered ${got.service}/${got.id} again`),
      );
      registration.on("error", (error) =>
        console.error(`renewal failed: ${(error as Error).message}`),
      );
      console.error("keeping the lease alive; Ctrl-C deregisters");
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await registration.close();
      console.error(`deregistered ${got.service}/${got.id}`);
      return 0;
    } finally {
      await client.close();
    }
  });
}

/** The instance field each flag sets, for naming the flag in a validation message. */
const FLAG_OF_FIELD: Record<string, string> = {
  ttlMs: "ttl",
  healthCheckUrl: "health-check-url",
  tags: "tag",
  capabilities: "capability",
  dependencies: "dependency",
  endpoints: "endpoint",
};

/**
 * Checks the instance with the registry's own schema before anything is sent, so a bad flag
 * (`--port 0`, `--ttl 10`) is named as the flag, at once, without a server.
 */
function checkLocally(instance: InstanceInput): void {
  const result = InstanceSchema.safeParse(instance);
  if (result.success) return;
  const lines = describeIssues(result.error).map((issue) => {
    const [field = "", ...rest] = issue.path.split(".");
    const flag = `--${FLAG_OF_FIELD[field] ?? field}`;
    return `${rest.length > 0 ? `${flag} ${rest.join(".")}` : flag}: ${issue.message}`;
  });
  throw new UsageError(lines.join("\n  "));
}
