/**
 * A secret value (token, routing key, API key). It never prints: `String(s)`, JSON and
 * `util.inspect` all give `<secret>`. Read the real value with `reveal()` at the one place
 * that needs it (an outgoing header or body).
 */
import { inspect } from 'node:util';

export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '<secret>';
  }
  toJSON(): string {
    return '<secret>';
  }
  [inspect.custom](): string {
    return '<secret>';
  }
}

export const isSecret = (v: unknown): v is Secret => v instanceof Secret;
