/**
 * A free port on 127.0.0.1 (never 4222), for listeners a test must name before they start,
 * such as a node's HTTP port. Prefer letting servers choose (`startNatsServer` does).
 */
export { freePort, LOOPBACK } from "../../src/dev/ports.js";
