import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ServiceGroups } from "../../src/core/service-groups.js";

interface Item {
  service: string;
  id: number;
  slot: number;
}

test("service groups hold what a set per service holds under random adds and removals", () => {
  const op = fc.record({
    add: fc.boolean(),
    id: fc.integer({ min: 0, max: 60 }),
    service: fc.constantFrom("a", "b", "c"),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const groups = new ServiceGroups<Item>();
      const reference = new Map<number, Item>();
      for (const { add, id, service } of ops) {
        const held = reference.get(id);
        if (add && held === undefined) {
          const item = { service, id, slot: -1 };
          groups.add(item);
          reference.set(id, item);
        } else if (!add && held !== undefined) {
          groups.remove(held);
          reference.delete(id);
        }
      }
      for (const service of ["a", "b", "c"]) {
        const expected = [...reference.values()].filter((i) => i.service === service);
        const actual = groups.of(service);
        assert.deepEqual(
          actual.map((i) => i.id).sort((x, y) => x - y),
          expected.map((i) => i.id).sort((x, y) => x - y),
        );
        for (const [slot, item] of actual.entries()) assert.equal(item.slot, slot);
      }
      const named = [...groups.values()].map((g) => g.name).sort();
      assert.deepEqual(named, [...new Set([...reference.values()].map((i) => i.service))].sort());
    }),
    { numRuns: 300 },
  );
});

test("removing an item a group does not hold changes nothing", () => {
  const groups = new ServiceGroups<Item>();
  const held = { service: "api", id: 1, slot: 0 };
  groups.add(held);
  groups.remove({ service: "api", id: 2, slot: 0 });
  groups.remove({ service: "web", id: 3, slot: 0 });
  assert.deepEqual(groups.of("api"), [held]);
  assert.deepEqual(groups.of("web"), []);
});
