import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import { RejectionLog } from "../../src/node/rejection-log.js";
import { ReplyGuard } from "../../src/node/reply-guard.js";

test("replies go only under the configured inbox prefixes", () => {
  const guard = new ReplyGuard(["_INBOX.", "_R_.team."]);
  for (const ok of ["_INBOX.abc.1", "_INBOX.team-a.x", "_R_.team.z"])
    assert.ok(guard.allows(ok), ok);
  for (const bad of [
    undefined,
    "",
    "_INBOX.",
    "registry.changes.api",
    "registry.sync.announce",
    "$SRV.PING",
    "_INBOXES.x",
    "_INBOX.>",
    "_R_.other.x",
  ]) {
    assert.ok(!guard.allows(bad), String(bad));
  }
  // A request without a reply subject is served (a fire-and-forget write); nothing goes back.
  assert.ok(guard.accepts(undefined) && guard.accepts(""));
  assert.ok(guard.accepts("_INBOX.x") && !guard.accepts("registry.changes.api"));
});

test("the first rejection of a kind is logged at warn, then at most once a minute", () => {
  const lines: { kind: string; suppressed?: number; level: number }[] = [];
  const log = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  let now = 0;
  const rejections = new RejectionLog(log, () => now);
  for (let i = 0; i < 100; i++) rejections.rejected("quota_exceeded", {}, "over quota");
  rejections.rejected("reply_subject", {}, "dropped");
  now += 60_000;
  rejections.rejected("quota_exceeded", {}, "over quota");
  assert.deepEqual(
    lines.map((l) => [l.kind, l.suppressed, l.level]),
    [
      ["quota_exceeded", undefined, 40],
      ["reply_subject", undefined, 40],
      ["quota_exceeded", 99, 40],
    ],
  );
});
