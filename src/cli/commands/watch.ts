import { clock, terminalSafe } from "../format.js";
import { COMMON_HELP, connectClient, parseCommand, runCommand } from "../options.js";

const HELP = `usage: regsync watch SERVICE

Prints the service's live instances, then every change, until Ctrl-C. Gaps in the stream of
notifications are detected and repaired from a fresh snapshot (docs/watch.md).

${COMMON_HELP}`;

export function run(argv: string[]): Promise<number> {
  return runCommand("watch", HELP, argv, async () => {
    const { values, positionals } = parseCommand(argv, {}, 1);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const client = await connectClient(values);
    try {
      const watch = await client.watch(positionals[0]!, (event) => {
        if (values.json) {
          console.log(JSON.stringify(event));
          return;
        }
        const where = event.instance
          ? ` ${event.instance.host}:${event.instance.port} ${event.instance.status}`
          : "";
        console.log(
          terminalSafe(
            `${clock(Date.now())} ${event.type.padEnd(12)} ${event.service}/${event.id}${where}${event.synthetic ? " (resync)" : ""}`,
          ),
        );
      });
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      watch.stop();
      return 0;
    } finally {
      await client.close();
    }
  });
}
