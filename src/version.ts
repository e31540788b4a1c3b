import { readFileSync } from "node:fs";

/** The package version, reported in the micro service info and by `regsync --version`. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;
