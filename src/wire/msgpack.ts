import { Packr, RESERVE_START_SPACE } from "msgpackr";

/**
 * The msgpack every regsync byte format holds: sync envelopes and sealed records on disk.
 * Records off, so each value is self-describing and never relies on structures a reader has
 * not seen; maps decode as plain objects.
 */
export const msgpack = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** The most room msgpackr can leave: it reads it from the low byte of its options. */
const MAX_ROOM = 0xff;

/**
 * `value` packed behind `room` bytes left for the caller's header, so a header and its body
 * are written once, in place, instead of packed and then copied behind the header. The bytes
 * of the room are whatever was there: the caller writes every one of them. The result is a
 * view into msgpackr's output buffer, which later packs never write over.
 */
export function packBehind(value: unknown, room: number): Buffer {
  if (room > MAX_ROOM)
    throw new RangeError(
      `${room} bytes of room ahead of a packed value; msgpackr leaves at most ${MAX_ROOM}`,
    );
  return msgpack.pack(value, RESERVE_START_SPACE | room);
}
