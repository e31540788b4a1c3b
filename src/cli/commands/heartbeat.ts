import type { Status } from "../../core/instance.js";
import { clock } from "../format.js";
import { COMMON_HELP, connectClient, parseCommand, runCommand, UsageError } from "../options.js";

const HELP = `usage: regsync heartbeat --service S --id I [--status <status>]

${COMMON_HELP}`;

export function run(argv: string[]): Promise<number> {
  return runCommand("heartbeat", HELP, argv, async () => {
    const { values } = parseCommand(
      argv,
      { service: { type: "string" }, id: { type: "string" }, status: { type: "string" } },
      0,
    );
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (values.service === undefined || values.id === undefined)
      throw new UsageError("--service and --id are required");
    const client = await connectClient(values);
    try {
      const { expiresAt } = await client.heartbeat(
        String(values.service),
        String(values.id),
        values.status as Status | undefined,
      );
      console.log(
        values.json
          ? JSON.stringify({ ok: true, expiresAt })
          : `renewed ${values.service}/${values.id}, lease until ${clock(expiresAt)}`,
      );
      return 0;
    } finally {
      await client.close();
    }
  });
}
