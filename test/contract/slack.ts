/**
 * A local Slack Web API contract server: chat.postMessage and chat.update with a Bearer token check,
 * form-encoded or JSON bodies (as @slack/web-api sends them), `{ok:true, channel, ts}` answers,
 * `ok:false` errors (not_authed, invalid_auth, channel_not_found, message_not_found…), 429 with
 * Retry-After, 500 and hangs on demand. Also an incoming-webhook endpoint. Records every call.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type SlackScript =
  | { status: 429; retryAfter?: string }
  | { status: 500 | 503 }
  | { error: string }
  | { hang: true };

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  contentType: string;
  authorization?: string;
  /** What the server answered: ok, an error string, or an HTTP status. */
  outcome: string;
}

export interface SlackMessage {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown;
  thread_ts?: string;
  /** How many times chat.update edited it. */
  edits: number;
  history: string[];
}

export interface SlackContract {
  /** Web API base URL for `slackApiUrl` (ends with `/api/`). */
  apiUrl: string;
  /** Incoming-webhook URL (valid). */
  webhookUrl: string;
  calls: SlackCall[];
  messages: Map<string, SlackMessage>;
  /** Top-level messages (not thread replies). */
  topLevel(): SlackMessage[];
  replies(ts: string): SlackMessage[];
  /** Bodies received on the incoming webhook. */
  webhookPosts: Record<string, unknown>[];
  script(...s: SlackScript[]): void;
  setDown(mode: SlackScript | undefined): void;
  close(): Promise<void>;
}

export async function startSlackContract(opts: { token: string; channels?: string[]; webhookPath?: string }): Promise<SlackContract> {
  const channels = new Set(opts.channels ?? ['C0ALERTS']);
  const webhookPath = opts.webhookPath ?? '/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX';
  const calls: SlackCall[] = [];
  const messages = new Map<string, SlackMessage>();
  const webhookPosts: Record<string, unknown>[] = [];
  const queue: SlackScript[] = [];
  let down: SlackScript | undefined;
  let seq = 0;
  const nextTs = () => `${1_700_000_000 + Math.floor(seq / 1000)}.${String(++seq).padStart(6, '0')}`;

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };

  const parse = (ct: string, raw: string): Record<string, unknown> => {
    if (ct.startsWith('application/json')) return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    const out: Record<string, unknown> = {};
    for (const [k, v] of new URLSearchParams(raw)) out[k] = v;
    return out;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const url = req.url ?? '';
    const ct = String(req.headers['content-type'] ?? '');
    if (url.startsWith('/services/')) {
      const s = queue.shift() ?? down;
      if (s && 'hang' in s) return;
      if (s && 'status' in s) {
        res.writeHead(s.status, s.status === 429 && s.retryAfter ? { 'retry-after': s.retryAfter } : {});
        return res.end(s.status === 429 ? 'rate_limited' : 'internal_error');
      }
      if (url !== webhookPath) {
        res.writeHead(404);
        return res.end('no_service');
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw);
      } catch {
        res.writeHead(400);
        return res.end('invalid_payload');
      }
      if (typeof body.text !== 'string' && !Array.isArray(body.blocks)) {
        res.writeHead(400);
        return res.end('no_text');
      }
      webhookPosts.push(body);
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('ok');
    }
    const m = /^\/api\/([a-zA-Z.]+)/.exec(url);
    if (req.method !== 'POST' || !m) return json(res, 404, { ok: false, error: 'unknown_method' });
    const method = m[1]!;
    let args: Record<string, unknown>;
    try {
      args = parse(ct, raw);
    } catch {
      return json(res, 200, { ok: false, error: 'invalid_json' });
    }
    const call: SlackCall = { method, args, contentType: ct, authorization: req.headers.authorization, outcome: 'ok' };
    calls.push(call);
    const s = queue.shift() ?? down;
    if (s) {
      if ('hang' in s) {
        call.outcome = 'hang';
        return;
      }
      if ('status' in s) {
        call.outcome = String(s.status);
        if (s.status === 429) return json(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': s.retryAfter ?? '1' });
        res.writeHead(s.status, { 'content-type': 'text/plain' });
        return res.end('upstream failure');
      }
      call.outcome = s.error;
      return json(res, 200, { ok: false, error: s.error });
    }
    const fail = (error: string) => {
      call.outcome = error;
      return json(res, 200, { ok: false, error });
    };
    const auth = req.headers.authorization ?? (typeof args.token === 'string' ? `Bearer ${args.token}` : undefined);
    if (!auth) return fail('not_authed');
    if (auth !== `Bearer ${opts.token}`) return fail('invalid_auth');
    if (method !== 'chat.postMessage' && method !== 'chat.update') return fail('unknown_method');
    const channel = String(args.channel ?? '');
    if (!channels.has(channel)) return fail('channel_not_found');
    const text = typeof args.text === 'string' ? args.text : '';
    const blocks = typeof args.blocks === 'string' ? JSON.parse(args.blocks) : args.blocks;
    if (!text && !blocks) return fail('no_text');
    if (method === 'chat.postMessage') {
      const thread = args.thread_ts !== undefined ? String(args.thread_ts) : undefined;
      if (thread && !messages.has(thread)) return fail('thread_not_found');
      const ts = nextTs();
      const msg: SlackMessage = { channel, ts, text, blocks, edits: 0, history: [text] };
      if (thread) msg.thread_ts = thread;
      messages.set(ts, msg);
      return json(res, 200, { ok: true, channel, ts, message: { type: 'message', text, ts, thread_ts: thread } });
    }
    const ts = String(args.ts ?? '');
    const msg = messages.get(ts);
    if (!msg || msg.channel !== channel) return fail('message_not_found');
    msg.text = text;
    msg.blocks = blocks;
    msg.edits++;
    msg.history.push(text);
    return json(res, 200, { ok: true, channel, ts, text });
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    apiUrl: `${base}/api/`,
    webhookUrl: `${base}${webhookPath}`,
    calls,
    messages,
    topLevel: () => [...messages.values()].filter((m) => !m.thread_ts),
    replies: (ts) => [...messages.values()].filter((m) => m.thread_ts === ts),
    webhookPosts,
    script: (...s) => queue.push(...s),
    setDown: (m) => {
      down = m;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
