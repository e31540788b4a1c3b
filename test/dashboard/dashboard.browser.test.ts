import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import type { Browser } from "playwright-core";
import { startNode, stopAll } from "../node/fleet.js";
import { sharedNatsServer } from "../support/nats.js";
import { freePort } from "../support/ports.js";

/** Debian's chromium; `.ci/run` installs it when missing. */
const CHROMIUM = process.env.REGSYNC_TEST_CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // Containers give /dev/shm 64 MB; chromium writes its shared memory to /tmp instead.
  "--disable-dev-shm-usage",
];
const WAIT_MS = 20_000;
/**
 * playwright waits three minutes for a browser that does not come up, as long as the whole
 * file's timeout: a start that hangs (seen once in CI, on a loaded machine) is given up sooner
 * and tried again in a fresh process.
 */
const LAUNCH_TIMEOUT_MS = 30_000;
const LAUNCH_ATTEMPTS = 3;
const CLOSE_TIMEOUT_MS = 10_000;

const shared = sharedNatsServer();

async function launch(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  const failures: string[] = [];
  for (let attempt = 1; attempt <= LAUNCH_ATTEMPTS; attempt++) {
    try {
      return await chromium.launch({
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
        headless: true,
        timeout: LAUNCH_TIMEOUT_MS,
      });
    } catch (error) {
      failures.push(`attempt ${attempt}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  throw new Error(`chromium did not start:\n${failures.join("\n")}`);
}

/** A browser that will not close is left to die with the test process, not waited on. */
async function closeWithin(browser: Browser, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([browser.close(), gaveUp]).finally(() => clearTimeout(timer));
}

test("the dashboard lists a registered instance, drops it after deregister, and shows a dead peer", {
  skip: existsSync(CHROMIUM)
    ? false
    : `chromium not found at ${CHROMIUM} (apt-get install chromium)`,
}, async (t) => {
  const httpPort = await freePort();
  const fast = { forgetPeerAfterMs: 600_000 };
  const watcher = await startNode(shared.server.url, "dash-w", {
    ...fast,
    httpListen: `127.0.0.1:${httpPort}`,
  });
  const victim = await startNode(shared.server.url, "dash-v", fast);
  t.after(() => stopAll([watcher, victim]));
  const browser = await launch();
  t.after(() => closeWithin(browser, CLOSE_TIMEOUT_MS));
  const page = await browser.newPage();
  // Every action and navigation is bounded, so a stuck step fails with its own name.
  page.setDefaultTimeout(WAIT_MS);
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));

  await page.goto(`http://127.0.0.1:${httpPort}/`);
  await page.locator("#node-id", { hasText: "dash-w" }).waitFor({ timeout: WAIT_MS });
  await page
    .locator('#peers tr[data-peer="dash-v"] td.state-healthy')
    .waitFor({ timeout: WAIT_MS });

  // A registration whose fields hold markup: shown as text, never run.
  const hostile = '<img src=x onerror="window.__injected=1">';
  const body = {
    service: "pay",
    id: "pay-1",
    host: "10.0.0.7",
    port: 8443,
    status: "running",
    version: "1.4.2",
    region: "eu-west",
    tags: { zone: "a", note: hostile },
  };
  const reply = await shared.nc.request(
    "registry.register",
    new TextEncoder().encode(JSON.stringify(body)),
  );
  assert.match(new TextDecoder().decode(reply.data), /"ok":true/);

  await page.locator('#services tr[data-service="pay"]').waitFor({ timeout: WAIT_MS });
  const row = page.locator('#instances tr[data-instance="pay-1"]');
  await row.waitFor({ timeout: WAIT_MS });
  const cells = await row.locator("td").allTextContents();
  assert.deepEqual(cells.slice(0, 6), ["pay-1", "10.0.0.7", "8443", "running", "1.4.2", "eu-west"]);
  assert.ok(cells[6]!.includes(`note=${hostile}`), cells[6]);
  assert.equal(
    await page.evaluate(() => (globalThis as { __injected?: number }).__injected),
    undefined,
  );
  assert.equal(await page.locator("#instances img").count(), 0);
  await page.locator("#changes td", { hasText: "pay/pay-1" }).first().waitFor({ timeout: WAIT_MS });

  // Filters: a region that matches nothing empties the list; clearing it brings it back.
  await page.fill('#filters input[name="region"]', "us-east");
  await row.waitFor({ state: "detached", timeout: WAIT_MS });
  await page.fill('#filters input[name="region"]', "");
  await row.waitFor({ timeout: WAIT_MS });

  await shared.nc.request(
    "registry.deregister",
    new TextEncoder().encode(JSON.stringify({ service: "pay", id: "pay-1" })),
  );
  await row.waitFor({ state: "detached", timeout: WAIT_MS });
  await page
    .locator("#changes tr", { hasText: "deregistered" })
    .first()
    .waitFor({ timeout: WAIT_MS });

  // The peer dies without a word (as under SIGKILL): the page stops calling it healthy.
  await victim.connection.close();
  await page.locator('#peers tr[data-peer="dash-v"] td.state-silent').waitFor({ timeout: WAIT_MS });
  assert.deepEqual(pageErrors, []);
});
