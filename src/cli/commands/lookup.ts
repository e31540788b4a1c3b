import type { LookupOptions, RegisteredInstance } from "../../client/mod.js";
import type { Status } from "../../core/instance.js";
import { duration, table } from "../format.js";
import {
  COMMON_HELP,
  connectClient,
  keyValues,
  parseCommand,
  runCommand,
  UsageError,
} from "../options.js";

const HELP = `usage: regsync lookup SERVICE [--status s] [--region r] [--environment e] [--version v] [--tag k=v …]
                      [--prefer region] [--regions]

  --prefer region   the instances of --region (default: the answering node's region) first,
                    then the others, instead of filtering by --region (docs/topologies.md)
  --regions         also print which node answered and how current it is with each region

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
        prefer: { type: "string" },
        regions: { type: "boolean" },
      },
      1,
    );
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (values.prefer !== undefined && values.prefer !== "region")
      throw new UsageError(`--prefer takes "region", got "${String(values.prefer)}"`);
    const options: LookupOptions = {
      status: values.status as Status | undefined,
      region: values.region as string | undefined,
      environment: values.environment as string | undefined,
      version: values.version as string | undefined,
      tags: keyValues(values.tag as string[] | undefined, "tag"),
      prefer: values.prefer === "region" ? "region" : undefined,
    };
    const client = await connectClient(values);
    try {
      let instances: RegisteredInstance[];
      let freshness: string | undefined;
      if (values.regions) {
        const reply = await client.lookupWithRegions(positionals[0]!, options);
        instances = reply.instances;
        if (values.json) {
          console.log(JSON.stringify(reply));
          return 0;
        }
        const rows = Object.entries(reply.regions).map(([name, r]) => [
          name,
          `${r.live}/${r.nodes}`,
          name === reply.nodeRegion ? "(this region)" : duration(r.lastHeardMs),
          r.stale ? "STALE" : "ok",
          r.caughtUp ? "yes" : "no",
        ]);
        freshness = `answered by ${reply.node} (region ${reply.nodeRegion})\n${table(["region", "live nodes", "last heard", "", "caught up"], rows)}`;
      } else {
        instances = await client.lookup(positionals[0]!, options);
      }
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
      if (freshness !== undefined) console.log(freshness);
      return 0;
    } finally {
      await client.close();
    }
  });
}
