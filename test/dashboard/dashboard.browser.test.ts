import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import type { Browser, Page } from "playwright-core";
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
 * file's timeout, and as long as it likes for a first page (a renderer that never starts): a
 * start that hangs (seen in CI, on a loaded machine, twice) is given up sooner and tried again
 * in a fresh browser process. Three attempts fit well inside the file's timeout.
 */
const LAUNCH_TIMEOUT_MS = 20_000;
const PAGE_TIMEOUT_MS = 15_000;
const START_ATTEMPTS = 3;
const CLOSE_TIMEOUT_MS = 5_000;

const shared = sharedNatsServer();

/** `work`, or an error naming `what` once `ms` have passed without it settling. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A browser that will not close is left to die with the test process, not waited on. */
async function closeWithin(browser: Browser, ms: number): Promise<void> {
  await within(browser.close(), ms, "closing chromium").catch(() => undefined);
}

/** A started browser with its first page open. */
async function openPage(): Promise<{ browser: Browser; page: Page }> {
  const { chromium } = await import("playwright-core");
  const failures: string[] = [];
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
        headless: true,
        timeout: LAUNCH_TIMEOUT_MS,
      });
      const page = await within(browser.newPage(), PAGE_TIMEOUT_MS, "opening a page");
      return { browser, page };
    } catch (error) {
      failures.push(`attempt ${attempt}: ${(error as Error).message.split("\n")[0]}`);
      if (browser !== undefined) await closeWithin(browser, CLOSE_TIMEOUT_MS);
    }
  }
  throw new Error(`chromium did not start:\n${failures.join("\n")}`);
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
  let browser: Browser | undefined;
  // The browser goes first: until it closes it keeps polling the watcher's dashboard, and the
  // watcher's stop closes that HTTP server; closed in this order, neither waits on the other.
  t.after(async () => {
    if (browser !== undefined) await closeWithin(browser, CLOSE_TIMEOUT_MS);
    await stopAll([watcher, victim]);
  });
  const opened = await openPage();
  browser = opened.browser;
  const page = opened.page;
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
