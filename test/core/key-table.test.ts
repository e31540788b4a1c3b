import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { KeyTable } from "../../src/core/key-table.js";

interface Item {
  service: string;
  id: string;
  k0: number;
}

test("the key table agrees with a Map under random inserts and removals", () => {
  // Few distinct k0 values, so that keys collide and probe runs wrap and shift.
  const op = fc.record({
    insert: fc.boolean(),
    id: fc.integer({ min: 0, max: 300 }),
    k0: fc.integer({ min: -4, max: 4 }),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 600 }), (ops) => {
      const table = new KeyTable<Item>();
      const reference = new Map<string, Item>();
      for (const { insert, id, k0 } of ops) {
        const key = `i${id}`;
        const held = reference.get(key);
        if (insert && held === undefined) {
          const item = { service: "s", id: key, k0: k0 * 0x1000_0000 };
          table.insert(item);
          reference.set(key, item);
        } else if (!insert && held !== undefined) {
          assert.equal(table.remove(held), true);
          reference.delete(key);
        }
        assert.equal(table.size, reference.size);
      }
      for (let id = 0; id <= 300; id++) {
        const key = `i${id}`;
        const held = reference.get(key);
        for (let k0 = -4; k0 <= 4; k0++) {
          const found = table.find("s", key, k0 * 0x1000_0000);
          assert.equal(found, held?.k0 === k0 * 0x1000_0000 ? held : undefined, key);
        }
        if (held === undefined) {
          assert.equal(table.remove({ service: "s", id: key, k0: 0 }), false);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test("keys are told apart by service and id when their hashes are equal", () => {
  const table = new KeyTable<Item>();
  const a = { service: "a", id: "x", k0: 7 };
  const b = { service: "b", id: "x", k0: 7 };
  table.insert(a);
  table.insert(b);
  assert.equal(table.find("a", "x", 7), a);
  assert.equal(table.find("b", "x", 7), b);
  assert.equal(table.find("c", "x", 7), undefined);
  table.remove(a);
  assert.equal(table.find("a", "x", 7), undefined);
  assert.equal(table.find("b", "x", 7), b);
});
