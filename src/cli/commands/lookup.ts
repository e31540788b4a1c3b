import type { Status } from "../../core/instance.js";
import { duration, table } from "../format.js";
import { COMMON_HELP, connectClient, keyValues, parseCommand, runCommand } from "../options.js";

const HELP = `usage: regsync lookup SERVICE [--status s] [--region r] [--environment e] [--version v] [--tag k=v …]

${COMMON_HELP}`;

export function run(argv: string[]): Promise<number> {
  return runCommand("lookup", HELP, argv, async () => {
    const { values, positionals } = parseCommand(
      argv,
      {
        status: { type: "string" },
        region: { type: "string" },
        environment: { type: "string" },
        version: { type: "string" },
        tag: { type: "string", multiple: true },
      },
      1,
    );
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const client = await connectClient(values);
    try {
      const instances = await client.lookup(positionals[0]!, {
        status: values.status as Status | undefined,
        region: values.region as string | undefined,
        environment: values.environment as string | undefined,
        version: values.version as string | undefined,
        tags: keyValues(values.tag as string[] | undefined, "tag"),
      });
      if (values.json) {
        console.log(JSON.stringify(instances));
        return 0;
      }
      const now = Date.now();
      const rows = instances.map((i) => [
        i.id,
        `${i.host}:${i.port}`,
        i.status,
        i.version ?? "",
        i.region ?? "",
        i.node,
        duration(i.expiresAt - now),
      ]);
      console.log(
        table(["id", "address", "status", "version", "region", "node", "expires in"], rows),
      );
      console.log(`${instances.length} instance(s)`);
      return 0;
    } finally {
      await client.close();
    }
  });
}
