/**
 * Whether `text` is exactly one JSON object (RFC 8259), checked by scanning, without building
 * it. Entry bodies from peers are spliced into lookup replies, so each must be a JSON object;
 * JSON.parse would say so too, but allocates the whole object graph only to throw it away, and
 * on a bootstrap of a million entries that garbage costs seconds.
 */
const MAX_DEPTH = 64;

export function isJsonObjectText(text: string): boolean {
  return SHALLOW_OBJECT.test(text) || scanObjectText(text);
}

/*
 * The fast path: a regular expression for the objects registrations produce (no whitespace,
 * values that are scalars or hold only scalars, as entry bodies are). V8 compiles it to machine
 * code, which checks a body three to four times faster than the scanner below; anything it
 * does not match (deeper nesting, whitespace, or invalid text) goes to the scanner. It only
 * ever accepts valid JSON: every part is a strict subset of RFC 8259's grammar, and its
 * alternatives start with different characters, so it cannot backtrack far.
 */
const STRING = String.raw`"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"`;
const NUMBER = String.raw`-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?`;
const SCALAR = `(?:${STRING}|${NUMBER}|true|false|null)`;
const FLAT_ARRAY = String.raw`\[(?:${SCALAR}(?:,${SCALAR})*)?\]`;
const FLAT_OBJECT = String.raw`\{(?:${STRING}:${SCALAR}(?:,${STRING}:${SCALAR})*)?\}`;
const MEMBER = `${STRING}:(?:${SCALAR}|${FLAT_ARRAY}|${FLAT_OBJECT})`;
export const SHALLOW_OBJECT = new RegExp(String.raw`^\{(?:${MEMBER}(?:,${MEMBER})*)?\}$`);

/** The general check: any JSON object up to MAX_DEPTH, whitespace allowed. */
export function scanObjectText(text: string): boolean {
  const scanner = new Scanner(text);
  scanner.skipSpace();
  if (text.charCodeAt(scanner.at) !== 0x7b) return false;
  if (!scanner.value(0)) return false;
  scanner.skipSpace();
  return scanner.at === text.length;
}

class Scanner {
  at = 0;
  constructor(private readonly s: string) {}

  skipSpace(): void {
    for (;;) {
      const c = this.s.charCodeAt(this.at);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.at++;
      else return;
    }
  }

  value(depth: number): boolean {
    this.skipSpace();
    const c = this.s.charCodeAt(this.at);
    if (c === 0x7b) return depth < MAX_DEPTH && this.object(depth + 1);
    if (c === 0x5b) return depth < MAX_DEPTH && this.array(depth + 1);
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    return this.literal("true") || this.literal("false") || this.literal("null");
  }

  private object(depth: number): boolean {
    this.at++; // {
    this.skipSpace();
    if (this.s.charCodeAt(this.at) === 0x7d) {
      this.at++;
      return true;
    }
    for (;;) {
      this.skipSpace();
      if (this.s.charCodeAt(this.at) !== 0x22 || !this.string()) return false;
      this.skipSpace();
      if (this.s.charCodeAt(this.at) !== 0x3a) return false;
      this.at++;
      if (!this.value(depth)) return false;
      this.skipSpace();
      const c = this.s.charCodeAt(this.at++);
      if (c === 0x7d) return true;
      if (c !== 0x2c) return false;
    }
  }

  private array(depth: number): boolean {
    this.at++; // [
    this.skipSpace();
    if (this.s.charCodeAt(this.at) === 0x5d) {
      this.at++;
      return true;
    }
    for (;;) {
      if (!this.value(depth)) return false;
      this.skipSpace();
      const c = this.s.charCodeAt(this.at++);
      if (c === 0x5d) return true;
      if (c !== 0x2c) return false;
    }
  }

  private string(): boolean {
    this.at++; // opening quote
    for (;;) {
      const c = this.s.charCodeAt(this.at++);
      if (c === 0x22) return true;
      if (Number.isNaN(c) || c < 0x20) return false;
      if (c === 0x5c) {
        const e = this.s.charCodeAt(this.at++);
        if (e === 0x75) {
          for (let i = 0; i < 4; i++) if (!isHex(this.s.charCodeAt(this.at++))) return false;
        } else if (
          !(
            e === 0x22 ||
            e === 0x5c ||
            e === 0x2f ||
            e === 0x62 ||
            e === 0x66 ||
            e === 0x6e ||
            e === 0x72 ||
            e === 0x74
          )
        ) {
          return false;
        }
      }
    }
  }

  private number(): boolean {
    if (this.s.charCodeAt(this.at) === 0x2d) this.at++;
    const first = this.s.charCodeAt(this.at);
    if (first === 0x30) this.at++;
    else if (!this.digits()) return false;
    if (this.s.charCodeAt(this.at) === 0x2e) {
      this.at++;
      if (!this.digits()) return false;
    }
    const e = this.s.charCodeAt(this.at);
    if (e === 0x65 || e === 0x45) {
      this.at++;
      const sign = this.s.charCodeAt(this.at);
      if (sign === 0x2b || sign === 0x2d) this.at++;
      if (!this.digits()) return false;
    }
    return true;
  }

  private digits(): boolean {
    const start = this.at;
    while (isDigit(this.s.charCodeAt(this.at))) this.at++;
    return this.at > start;
  }

  private literal(word: string): boolean {
    if (!this.s.startsWith(word, this.at)) return false;
    this.at += word.length;
    return true;
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}
