import { table } from "../format.js";
import { COMMON_HELP, connectClient, parseCommand, runCommand } from "../options.js";

const HELP = `usage: regsync services

${COMMON_HELP}`;

export function run(argv: string[]): Promise<number> {
  return runCommand("services", HELP, argv, async () => {
    const { values } = parseCommand(argv, {}, 0);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const client = await connectClient(values);
    try {
      const services = await client.services();
      if (values.json) console.log(JSON.stringify(services));
      else
        console.log(
          table(
            ["service", "instances", "healthy"],
            services.map((s) => [s.name, String(s.instances), String(s.healthy)]),
          ),
        );
      return 0;
    } finally {
      await client.close();
    }
  });
}
