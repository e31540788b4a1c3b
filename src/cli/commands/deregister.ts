import { COMMON_HELP, connectClient, parseCommand, runCommand, UsageError } from "../options.js";

const HELP = `usage: regsync deregister --service S --id I

${COMMON_HELP}`;

export function run(argv: string[]): Promise<number> {
  return runCommand("deregister", HELP, argv, async () => {
    const { values } = parseCommand(
      argv,
      { service: { type: "string" }, id: { type: "string" } },
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
      await client.deregister(String(values.service), String(values.id));
      console.log(
        values.json ? JSON.stringify({ ok: true }) : `deregistered ${values.service}/${values.id}`,
      );
      return 0;
    } finally {
      await client.close();
    }
  });
}
