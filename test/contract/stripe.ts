/**
 * A local server that answers like Stripe's API (v1) for what the stripe probe driver uses:
 *
 *   POST /v1/payment_intents   form-encoded (amount, currency, confirm, payment_method,
 *                              metadata[probe_id], automatic_payment_methods[...]).
 *                              Confirmed with a test PaymentMethod it succeeds; pm_card_chargeDeclined /
 *                              pm_card_visa_chargeDeclined -> 402 card_error (card_declined),
 *                              pm_card_chargeDeclinedInsufficientFunds -> decline_code insufficient_funds,
 *                              pm_card_authenticationRequired -> status requires_action.
 *   POST /v1/refunds           payment_intent=pi_… -> refund (400 charge_already_refunded on a repeat).
 *   GET  /v1/payment_intents/:id
 *
 * Like Stripe: `Authorization: Bearer sk_test_…` must be the configured key (401 otherwise, with a
 * masked key in the message); Idempotency-Key replays the first response (including a 402) with
 * `Idempotent-Replayed: true`, and a key reused with other parameters gets 400 idempotency_error;
 * errors have Stripe's shape {error: {type, code?, decline_code?, message, param?}}.
 * script() makes the next requests fail with 500 (api_error, not stored for the key), 429, or hang.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type StripeBehaviour = 'fail-500' | 'rate-limit' | 'hang';

export interface StripeRequestLog {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  params: Record<string, unknown>;
}

export interface ContractPaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  currency: string;
  status: string;
  confirm: boolean;
  payment_method: string | null;
  metadata: Record<string, string>;
  description: string | null;
  latest_charge: string | null;
  last_payment_error: null | Record<string, unknown>;
  livemode: false;
  created: number;
}

/** Parse Stripe's form encoding: a[b][c]=1, a[0]=x. */
export function parseStripeForm(body: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const parts = rawKey.replace(/\]/g, '').split('[');
    let cur: Record<string, unknown> = out;
    parts.forEach((p, i) => {
      if (i === parts.length - 1) cur[p] = value;
      else cur = (cur[p] ??= {}) as Record<string, unknown>;
    });
  }
  return out;
}

const DECLINES: Record<string, string> = {
  pm_card_chargeDeclined: 'generic_decline',
  pm_card_visa_chargeDeclined: 'generic_decline',
  pm_card_chargeDeclinedInsufficientFunds: 'insufficient_funds',
};

export class ContractStripe {
  readonly requests: StripeRequestLog[] = [];
  readonly paymentIntents = new Map<string, ContractPaymentIntent>();
  readonly refunds: { id: string; payment_intent: string; amount: number; idempotencyKey?: string }[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #apiKey: string;
  readonly #echoKey: boolean;
  #queue: StripeBehaviour[] = [];
  #idem = new Map<string, { params: string; status: number; body: unknown }>();
  #seq = 0;
  #requestSeq = 0;
  host = '127.0.0.1';
  port = 0;
  readonly protocol = 'http' as const;

  private constructor(opts: { apiKey: string; echoKeyInErrors?: boolean }) {
    this.#apiKey = opts.apiKey;
    this.#echoKey = opts.echoKeyInErrors ?? false;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  /** `echoKeyInErrors` makes 401s quote the whole presented key (hostile; to prove redaction). */
  static async start(opts: { apiKey: string; echoKeyInErrors?: boolean }): Promise<ContractStripe> {
    const s = new ContractStripe(opts);
    await new Promise<void>((r) => s.#server.listen(0, '127.0.0.1', r));
    s.port = (s.#server.address() as AddressInfo).port;
    return s;
  }

  script(...steps: StripeBehaviour[]): this {
    this.#queue.push(...steps);
    return this;
  }

  /** PaymentIntents that actually charged the card (status succeeded). */
  succeededCharges(): ContractPaymentIntent[] {
    return [...this.paymentIntents.values()].filter((p) => p.status === 'succeeded');
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '/').split('?')[0]!;
    const params = parseStripeForm(raw);
    this.requests.push({ method: req.method ?? '', path, headers: req.headers, params });
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${++this.#requestSeq}`, ...headers });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, e: Record<string, unknown>) => send(status, { error: e });

    const behaviour = this.#queue.shift();
    if (behaviour === 'hang') return;
    if (behaviour === 'fail-500') return error(500, { type: 'api_error', message: 'An unknown error occurred with our servers.' });
    if (behaviour === 'rate-limit') {
      return send(429, { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests hit the API too quickly.' } }, { 'retry-after': '0' });
    }

    const auth = req.headers.authorization ?? '';
    const presented = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (presented !== this.#apiKey || !presented.startsWith('sk_test_')) {
      const shown = this.#echoKey ? presented : `${presented.slice(0, 8)}****${presented.slice(-4)}`;
      return error(401, { type: 'invalid_request_error', message: `Invalid API Key provided: ${shown}` });
    }

    // Idempotency: POSTs with a key replay the first response; other parameters with the same key -> 400.
    const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : undefined;
    const scoped = key ? `${presented}:${path}:${key}` : undefined;
    if (req.method === 'POST' && scoped) {
      const first = this.#idem.get(scoped);
      if (first) {
        if (first.params !== raw) {
          return error(400, {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          });
        }
        return send(first.status, first.body, { 'idempotent-replayed': 'true', 'original-request': 'req_first' });
      }
    }
    const [status, body] = this.#route(req.method ?? '', path, params, key);
    if (req.method === 'POST' && scoped && status !== 500 && status !== 429) this.#idem.set(scoped, { params: raw, status, body });
    send(status, body);
  }

  #route(method: string, path: string, p: Record<string, unknown>, key?: string): [number, unknown] {
    const invalid = (message: string, param?: string, code = 'parameter_missing'): [number, unknown] => [
      400,
      { error: { type: 'invalid_request_error', code, message, ...(param ? { param } : {}) } },
    ];
    if (method === 'POST' && path === '/v1/payment_intents') {
      const amount = Number(p.amount);
      if (p.amount === undefined) return invalid('Missing required param: amount.', 'amount');
      if (!Number.isInteger(amount) || amount < 1) return invalid('Invalid positive integer', 'amount', 'parameter_invalid_integer');
      if (typeof p.currency !== 'string' || !/^[a-z]{3}$/.test(p.currency)) return invalid('Missing required param: currency.', 'currency');
      const pm = typeof p.payment_method === 'string' ? p.payment_method : null;
      if (pm !== null && !pm.startsWith('pm_')) return [400, { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'payment_method', message: `No such PaymentMethod: '${pm}'` } }];
      const confirm = p.confirm === 'true';
      if (confirm && !pm) return invalid('You cannot confirm this PaymentIntent because it\'s missing a payment method.', 'payment_method', 'payment_intent_unexpected_state');
      const apm = p.automatic_payment_methods as Record<string, string> | undefined;
      if (confirm && (!apm || apm.allow_redirects !== 'never') && typeof p.return_url !== 'string') {
        return invalid('This PaymentIntent is configured to accept payment methods enabled in your Dashboard, some of which may require a full page redirect. Specify return_url or set automatic_payment_methods[allow_redirects]=never.', 'return_url');
      }
      const id = `pi_${++this.#seq}`;
      const pi: ContractPaymentIntent = {
        id,
        object: 'payment_intent',
        amount,
        currency: p.currency,
        status: confirm ? 'succeeded' : 'requires_confirmation',
        confirm,
        payment_method: pm,
        metadata: (p.metadata ?? {}) as Record<string, string>,
        description: typeof p.description === 'string' ? p.description : null,
        latest_charge: null,
        last_payment_error: null,
        livemode: false,
        created: Math.floor(Date.now() / 1000),
      };
      this.paymentIntents.set(id, pi);
      if (confirm && pm && DECLINES[pm]) {
        const chargeId = `ch_${++this.#seq}`;
        const err = { type: 'card_error', code: 'card_declined', decline_code: DECLINES[pm], message: 'Your card was declined.', charge: chargeId };
        pi.status = 'requires_payment_method';
        pi.latest_charge = chargeId;
        pi.last_payment_error = err;
        return [402, { error: { ...err, doc_url: 'https://stripe.com/docs/error-codes/card-declined', payment_intent: pi } }];
      }
      if (confirm && pm === 'pm_card_authenticationRequired') pi.status = 'requires_action';
      if (pi.status === 'succeeded') pi.latest_charge = `ch_${++this.#seq}`;
      return [200, pi];
    }
    const get = /^\/v1\/payment_intents\/([^/]+)$/.exec(path);
    if (method === 'GET' && get) {
      const pi = this.paymentIntents.get(get[1]!);
      return pi ? [200, pi] : [404, { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'intent', message: `No such payment_intent: '${get[1]}'` } }];
    }
    if (method === 'POST' && path === '/v1/refunds') {
      const piId = p.payment_intent;
      if (typeof piId !== 'string') return invalid('Missing required param: payment_intent.', 'payment_intent');
      const pi = this.paymentIntents.get(piId);
      if (!pi) return [404, { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'payment_intent', message: `No such payment_intent: '${piId}'` } }];
      if (pi.status !== 'succeeded') return invalid(`This PaymentIntent (${piId}) does not have a successful charge to refund.`, 'payment_intent', 'charge_not_refundable');
      if (this.refunds.some((r) => r.payment_intent === piId)) {
        return [400, { error: { type: 'invalid_request_error', code: 'charge_already_refunded', message: `Charge ${pi.latest_charge} has already been refunded.` } }];
      }
      const id = `re_${++this.#seq}`;
      const refund = { id, payment_intent: piId, amount: pi.amount, ...(key ? { idempotencyKey: key } : {}) };
      this.refunds.push(refund);
      return [200, { id, object: 'refund', amount: pi.amount, currency: pi.currency, payment_intent: piId, status: 'succeeded', metadata: p.metadata ?? {} }];
    }
    return [404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` } }];
  }
}
