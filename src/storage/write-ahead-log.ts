import {
  closeSync,
  constants,
  existsSync,
  fdatasync,
  openSync,
  readFileSync,
  rmSync,
  write,
} from "node:fs";
import { join } from "node:path";
import { isSealed, SealError, sealBehind, unseal } from "./sealed.js";

/**
 * The ack path of a durable node, ahead of LMDB: each group of writes is one sealed frame
 * appended to a log file and synced, which costs about a third of an LMDB transaction
 * (`npm run bench -- durable-group`); LMDB takes the frames later, many groups to a transaction
 * (a "fold"), off the ack path.
 *
 * The file is opened O_DSYNC, so an append is one write(2) that returns once the frame is on
 * disk: one trip to libuv's pool, and the event loop never waits on the disk. Awaiting a write
 * and then an fdatasync took two trips; doing both synchronously blocked the event loop in
 * fdatasync for a third of the time at 3 durable nodes (p50 1.4 ms, p99 11 ms a sync, the
 * nodes' syncs queueing on one journal), and lookups and peers' announcements waited with it.
 * Where the platform has no O_DSYNC, an fdatasync follows the write.
 *
 * Two files, written in turn, one generation each: generation g goes to `wal-<g % 2>`, from its
 * start, over whatever generation g - 2 left there. Every frame carries its generation, so a
 * reader stops at the first frame of another one. The owner may start generation g + 1 (the
 * other file) once generation g - 1 is folded into LMDB, and must start it after a failed append:
 * the file's tail may then hold a torn frame, and nothing may follow it.
 *
 * A frame on disk: its length (4 bytes, big-endian), then the sealed value (sealed.ts: tag,
 * CRC-32, msgpack). Read back, a frame that does not check out ends the log if nothing valid
 * follows it where it says it ends (a torn append, never acknowledged), and is corruption
 * otherwise.
 */

/** What a frame holds: the owner's own value, with the generation the log adds. */
export interface Frame<T> {
  generation: number;
  value: T;
}

const LENGTH_BYTES = 4;
/** The first byte of every sealed value (sealed.ts). */
const SEALED_TAG = 0xc1;
/** A frame longer than this is no frame: a torn or corrupt length. */
const MAX_FRAME_BYTES = 256 * 1024 * 1024;

export class WalCorruptError extends Error {
  override name = "WalCorruptError";
}

export function walFile(dir: string, generation: number): string {
  return join(dir, `wal-${generation % 2}`);
}

/** Deletes both log files: generations start again from 0 (a new or migrated directory). */
export function removeLogFiles(dir: string): void {
  for (const generation of [0, 1]) rmSync(walFile(dir, generation), { force: true });
}

/**
 * Every frame of `generation` in `dir`, in order: what was appended and synced, and maybe one
 * torn frame's worth less. Throws WalCorruptError for a frame that fails its checksum with a
 * valid frame of the same generation after it.
 */
export function readGeneration<T>(dir: string, generation: number): T[] {
  const path = walFile(dir, generation);
  if (!existsSync(path)) return [];
  const bytes = readFileSync(path);
  const values: T[] = [];
  let at = 0;
  for (;;) {
    const frame = frameAt<T>(bytes, at);
    if (frame === "end") return values;
    if (frame === "bad") {
      if (validFrameFollows(bytes, at, generation))
        throw new WalCorruptError(
          `${path}: frame ${values.length} of generation ${generation} at byte ${at} is corrupt, and the log goes on after it`,
        );
      return values;
    }
    if (frame.value.generation !== generation) return values;
    values.push(frame.value.value);
    at = frame.next;
  }
}

type Parsed<T> = "end" | "bad" | { value: Frame<T>; next: number };

function frameAt<T>(bytes: Buffer, at: number): Parsed<T> {
  if (at + LENGTH_BYTES > bytes.length) return "end";
  const length = bytes.readUInt32BE(at);
  // Zeros: space never written (or written over by nothing yet).
  if (length === 0) return "end";
  const start = at + LENGTH_BYTES;
  if (length > MAX_FRAME_BYTES || start + length > bytes.length) return "bad";
  const body = bytes.subarray(start, start + length);
  if (!isSealed(body)) return "bad";
  let value: unknown;
  try {
    value = unseal(body);
  } catch (error) {
    if (error instanceof SealError) return "bad";
    throw error;
  }
  if (!isFrame(value)) return "bad";
  return { value: value as Frame<T>, next: start + length };
}

function isFrame(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    Number.isSafeInteger((value as Frame<unknown>).generation) &&
    "value" in value
  );
}

/** Whether a good frame of `generation` starts anywhere past a bad frame at `at`: then the bad
 * one is not a torn tail. Searched byte by byte, since the bad frame's length may be what is
 * wrong; only where a sealed value's tag byte stands is a frame tried. Runs once, at start. */
function validFrameFollows(bytes: Buffer, at: number, generation: number): boolean {
  for (let p = at + 1; p + LENGTH_BYTES < bytes.length; p++) {
    if (bytes[p + LENGTH_BYTES] !== SEALED_TAG) continue;
    const frame = frameAt(bytes, p);
    if (typeof frame === "object" && frame.value.generation === generation) return true;
  }
  return false;
}

/**
 * Appends frames of one generation at a time. `append` resolves once the frame is durable; one
 * append at a time (the group commit calls it so).
 */
export class WriteAheadLog<T> {
  #fd: number | undefined;
  #generation: number;
  #position = 0;

  private constructor(
    private readonly dir: string,
    generation: number,
  ) {
    this.#generation = generation;
  }

  /** A log whose next frames are of `generation`, written from the start of its file. */
  static start<T>(dir: string, generation: number): WriteAheadLog<T> {
    const log = new WriteAheadLog<T>(dir, generation);
    log.openFile();
    return log;
  }

  get generation(): number {
    return this.#generation;
  }

  async append(value: T): Promise<void> {
    const frame = sealBehind(
      { generation: this.#generation, value } satisfies Frame<T>,
      LENGTH_BYTES,
    );
    frame.writeUInt32BE(frame.length - LENGTH_BYTES, 0);
    const fd = this.#fd;
    if (fd === undefined) throw new Error("the write-ahead log is closed");
    for (let written = 0; written < frame.length; )
      written += await writeAt(fd, frame, written, this.#position + written);
    if (SYNCED_WRITES === undefined) await dataSync(fd);
    this.#position += frame.length;
  }

  /** Starts the next generation, in the other file. The caller has folded the one before the
   * current into LMDB: its frames are written over. */
  nextGeneration(): void {
    this.close();
    this.#generation++;
    this.#position = 0;
    this.openFile();
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  private openFile(): void {
    const path = walFile(this.dir, this.#generation);
    // Created empty if missing, never truncated: older frames past ours are told apart by
    // their generation, and keeping the blocks makes each sync cheaper.
    if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
    this.#fd = openSync(path, constants.O_RDWR | (SYNCED_WRITES ?? 0));
  }
}

/** Writes that return once on disk; undefined where the platform lacks the flag (Windows). */
const SYNCED_WRITES: number | undefined = constants.O_DSYNC;

/** One positioned write of what is left of `frame` from `offset`: one trip to libuv's pool. */
function writeAt(fd: number, frame: Buffer, offset: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    write(fd, frame, offset, frame.length - offset, position, (error, written) =>
      error ? reject(error) : resolve(written),
    ),
  );
}

function dataSync(fd: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fdatasync(fd, (error) => (error ? reject(error) : resolve())),
  );
}
