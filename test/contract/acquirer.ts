/**
 * A local contract acquirer: a real HTTP server that validates a charge request the way a real
 * card acquirer does and can be scripted to misbehave.
 *
 *   POST /v1/charges            JSON {amount, currency, probe_id | metadata.probe_id, card_token?}
 *                               headers: Authorization: Bearer <token> (when configured), Idempotency-Key
 *                               -> 201 {data: {id, status: 'authorized', amount, currency}}
 *                               -> 402 {error: {code: 'card_declined', message}}   (scripted decline)
 *   POST /v1/charges/:id/void   headers: Idempotency-Key -> 200 {data: {id, status: 'voided'}}
 *
 * It deduplicates by idempotency key like a real acquirer: a repeat key with the same body gets
 * the first answer again (header `Idempotent-Replayed: true`) without a second charge; a repeat key
 * with another body gets 422. `charges` counts real charges only.
 *
 * Scripted behaviours (one-shot via script(), or permanent via always()) for the next charges:
 *   'decline'        402 card_declined (a real outcome: cached for the key)
 *   'fail-500'       500 before processing (not cached, no charge) — a retry may succeed
 *   'rate-limit'     429 with Retry-After: 0 (not cached, no charge)
 *   'hang'           never answers (no charge) — the caller's timeout fires
 *   'lose-response'  processes the charge, then drops the connection (the caller sees a network
 *                    error; its retry with the same key gets the stored answer)
 *
 * onTransaction(cb) is the hook for the synthetic transaction each real charge produces (the
 * lead's integration test posts it to /v1/events).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type AcquirerBehaviour = 'decline' | 'fail-500' | 'rate-limit' | 'hang' | 'lose-response';

export interface AcquirerCharge {
  id: string;
  idempotencyKey: string;
  amount: number;
  currency: string;
  probeId: string;
  cardToken?: string;
  at: number;
}

export interface AcquirerRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface SyntheticTransaction {
  stream?: string;
  time: number;
  id: string;
  attributes: Record<string, string>;
}

interface Stored {
  body: string;
  status: number;
  response: unknown;
}

export class ContractAcquirer {
  readonly charges: AcquirerCharge[] = [];
  readonly declines: { idempotencyKey: string; probeId: string }[] = [];
  readonly reversals: { reference: string; idempotencyKey: string }[] = [];
  readonly requests: AcquirerRequest[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #token?: string;
  readonly #stream?: string;
  #queue: AcquirerBehaviour[] = [];
  #always: AcquirerBehaviour | undefined;
  #byKey = new Map<string, Stored>();
  #voids = new Map<string, Stored>();
  #listeners: ((tx: SyntheticTransaction) => void)[] = [];
  #seq = 0;
  url = '';

  private constructor(opts: { token?: string; stream?: string }) {
    this.#token = opts.token;
    this.#stream = opts.stream;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(opts: { token?: string; stream?: string } = {}): Promise<ContractAcquirer> {
    const a = new ContractAcquirer(opts);
    await new Promise<void>((r) => a.#server.listen(0, '127.0.0.1', r));
    a.url = `http://127.0.0.1:${(a.#server.address() as AddressInfo).port}`;
    return a;
  }

  /** One-shot behaviours for the next charge requests, in order. */
  script(...steps: AcquirerBehaviour[]): this {
    this.#queue.push(...steps);
    return this;
  }

  /** A behaviour for every charge request from now on (undefined: behave). */
  always(b: AcquirerBehaviour | undefined): this {
    this.#always = b;
    return this;
  }

  onTransaction(cb: (tx: SyntheticTransaction) => void): () => void {
    this.#listeners.push(cb);
    return () => (this.#listeners = this.#listeners.filter((l) => l !== cb));
  }

  /** Requests that reached POST /v1/charges (every attempt, replays included). */
  chargeAttempts(): AcquirerRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path === '/v1/charges');
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '/').split('?')[0]!;
    this.requests.push({ method: req.method ?? '', path, headers: req.headers, body });
    const send = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(json));
    };
    const err = (status: number, code: string, message: string, param?: string) =>
      send(status, { error: param ? { code, message, param } : { code, message } });

    if (this.#token !== undefined && req.headers.authorization !== `Bearer ${this.#token}`) {
      return err(401, 'unauthorized', 'missing or invalid credentials');
    }
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || !key) return err(400, 'idempotency_key_missing', 'Idempotency-Key header is required');

    const voidMatch = /^\/v1\/charges\/([^/]+)\/void$/.exec(path);
    if (req.method === 'POST' && voidMatch) return this.#void(decodeURIComponent(voidMatch[1]!), key, body, send, err);
    if (req.method !== 'POST' || path !== '/v1/charges') return err(404, 'not_found', `no route ${req.method} ${path}`);

    const behaviour = this.#queue.shift() ?? this.#always;
    if (behaviour === 'hang') return; // never answers; close() destroys the socket
    if (behaviour === 'fail-500') return err(500, 'internal_error', 'acquirer internal error');
    if (behaviour === 'rate-limit') return send(429, { error: { code: 'rate_limited', message: 'slow down' } }, { 'retry-after': '0' });

    const stored = this.#byKey.get(key);
    if (stored) {
      if (stored.body !== body) return err(422, 'idempotency_mismatch', 'Idempotency-Key reused with a different request');
      if (behaviour === 'lose-response') return void req.socket.destroy();
      return send(stored.status, stored.response, { 'idempotent-replayed': 'true' });
    }

    let json: Record<string, unknown>;
    try {
      json = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return err(400, 'invalid_json', 'body is not JSON');
    }
    const amount = json.amount;
    const currency = json.currency;
    const meta = (json.metadata ?? {}) as Record<string, unknown>;
    const probeId = json.probe_id ?? meta.probe_id;
    if (typeof amount !== 'number' || !Number.isInteger(amount) || amount <= 0) return err(400, 'invalid_request', 'amount must be a positive integer (minor units)', 'amount');
    if (typeof currency !== 'string' || !/^[a-zA-Z]{3}$/.test(currency)) return err(400, 'invalid_request', 'currency must be a 3-letter code', 'currency');
    if (typeof probeId !== 'string' || !probeId) return err(400, 'invalid_request', 'probe_id is required', 'probe_id');

    if (behaviour === 'decline') {
      const response = { error: { code: 'card_declined', message: 'The card was declined' } };
      this.#byKey.set(key, { body, status: 402, response });
      this.declines.push({ idempotencyKey: key, probeId });
      return send(402, response);
    }

    const id = `ch_${++this.#seq}`;
    const cardToken = typeof json.card_token === 'string' ? json.card_token : undefined;
    const charge: AcquirerCharge = { id, idempotencyKey: key, amount, currency: currency.toLowerCase(), probeId, at: Date.now() };
    if (cardToken) charge.cardToken = cardToken;
    this.charges.push(charge);
    const response = { data: { id, status: 'authorized', amount, currency: charge.currency } };
    this.#byKey.set(key, { body, status: 201, response });
    const tx: SyntheticTransaction = {
      time: Date.now(),
      id: `tx_${id}`,
      attributes: { probe_id: probeId, amount: String(amount), currency: charge.currency, reference: id, ...(cardToken ? { card_token: cardToken } : {}) },
    };
    if (this.#stream) tx.stream = this.#stream;
    for (const l of this.#listeners) l(tx);
    if (behaviour === 'lose-response') return void req.socket.destroy();
    return send(201, response);
  }

  #void(
    id: string,
    key: string,
    body: string,
    send: (s: number, j: unknown, h?: Record<string, string>) => void,
    err: (s: number, c: string, m: string) => void,
  ): void {
    const stored = this.#voids.get(key);
    if (stored) return send(stored.status, stored.response, { 'idempotent-replayed': 'true' });
    if (!this.charges.some((c) => c.id === id)) return err(404, 'not_found', `no charge ${id}`);
    if (this.reversals.some((r) => r.reference === id)) return err(409, 'already_voided', `charge ${id} is already voided`);
    this.reversals.push({ reference: id, idempotencyKey: key });
    const response = { data: { id, status: 'voided' } };
    this.#voids.set(key, { body, status: 200, response });
    send(200, response);
  }
}
