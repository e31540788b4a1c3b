/**
 * An Error whose `name` is its class's own, so a log line or `String(error)` says which failure
 * it is without each class repeating its name by hand. Subclasses add their fields and nothing
 * else; a simple one is a single line (`class SealError extends NamedError {}`).
 */
export class NamedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
