/**
 * A local Slack Web API contract server: chat.postMessage, chat.update, conversations.history and
 * conversations.replies (message metadata kept and returned with include_all_metadata, the way Slack
 * does) with a Bearer token check,
 * form-encoded or JSON bodies (as @slack/web-api sends them), `{ok:true, channel, ts}` answers,
 * `ok:false` errors (not_authed, invalid_auth, channel_not_found, message_not_found…), 429 with
 * Retry-After, 500 and hangs on demand — and `processThenHang`: the call takes effect (the message is
 * posted) but no answer ever comes, as when Slack processed a request the client timed out on.
 * Also an incoming-webhook endpoint. Records every call.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type SlackScript =
  | { status: 429; retryAfter?: string }
  | { status: 500 | 503 }
  | { error: string }
  | { hang: true }
  | { processThenHang: true };

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
  /** chat.postMessage `metadata` ({event_type, event_payload}), as Slack keeps it. */
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
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
  // Real-time seconds (conversations.history filters by `oldest`), unique and increasing.
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;

  const answer = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
  const json = answer;
  const view = (m: SlackMessage, withMetadata: boolean) => ({
    type: 'message',
    ts: m.ts,
    text: m.text,
    ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
    ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
  });

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
    let s = queue.shift() ?? down;
    // Processed, never answered: everything below happens, the answer is swallowed.
    const swallow = s !== undefined && 'processThenHang' in s;
    if (swallow) s = undefined;
    const respond = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (swallow) {
        call.outcome = `processed-then-hang:${(body as { ok?: boolean; error?: string }).error ?? 'ok'}`;
        return;
      }
      answer(res, status, body, headers);
    };
    if (s && !('processThenHang' in s)) {
      if ('hang' in s) {
        call.outcome = 'hang';
        return;
      }
      if ('status' in s) {
        call.outcome = String(s.status);
        if (s.status === 429) return respond(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': s.retryAfter ?? '1' });
        res.writeHead(s.status, { 'content-type': 'text/plain' });
        return res.end('upstream failure');
      }
      call.outcome = s.error;
      return respond(res, 200, { ok: false, error: s.error });
    }
    const fail = (error: string) => {
      call.outcome = error;
      return respond(res, 200, { ok: false, error });
    };
    const auth = req.headers.authorization ?? (typeof args.token === 'string' ? `Bearer ${args.token}` : undefined);
    if (!auth) return fail('not_authed');
    if (auth !== `Bearer ${opts.token}`) return fail('invalid_auth');
    const KNOWN = ['chat.postMessage', 'chat.update', 'conversations.history', 'conversations.replies'];
    if (!KNOWN.includes(method)) return fail('unknown_method');
    const channel = String(args.channel ?? '');
    if (!channels.has(channel)) return fail('channel_not_found');
    const withMetadata = args.include_all_metadata === true || args.include_all_metadata === 'true';
    if (method === 'conversations.history') {
      // Newest first, top-level messages only (thread replies show only when broadcast), from `oldest`.
      const oldest = args.oldest !== undefined ? Number(args.oldest) : 0;
      const limit = Math.min(Number(args.limit ?? 100) || 100, 999);
      const list = [...messages.values()]
        .filter((m) => m.channel === channel && !m.thread_ts && Number(m.ts) >= oldest)
        .sort((a, b) => Number(b.ts) - Number(a.ts))
        .slice(0, limit);
      return respond(res, 200, { ok: true, channel, messages: list.map((m) => view(m, withMetadata)), has_more: false });
    }
    if (method === 'conversations.replies') {
      const ts = String(args.ts ?? '');
      const parent = messages.get(ts);
      if (!parent || parent.channel !== channel) return fail('thread_not_found');
      const list = [parent, ...[...messages.values()].filter((m) => m.thread_ts === ts)].sort((a, b) => Number(a.ts) - Number(b.ts));
      return respond(res, 200, { ok: true, channel, messages: list.map((m) => view(m, withMetadata)), has_more: false });
    }
    const text = typeof args.text === 'string' ? args.text : '';
    const blocks = typeof args.blocks === 'string' ? JSON.parse(args.blocks) : args.blocks;
    if (!text && !blocks) return fail('no_text');
    if (method === 'chat.postMessage') {
      const thread = args.thread_ts !== undefined ? String(args.thread_ts) : undefined;
      if (thread && !messages.has(thread)) return fail('thread_not_found');
      const ts = nextTs();
      const msg: SlackMessage = { channel, ts, text, blocks, edits: 0, history: [text] };
      if (thread) msg.thread_ts = thread;
      if (args.metadata !== undefined) {
        try {
          msg.metadata = typeof args.metadata === 'string' ? JSON.parse(args.metadata) : (args.metadata as SlackMessage['metadata']);
        } catch {
          return fail('invalid_metadata_format');
        }
      }
      messages.set(ts, msg);
      return respond(res, 200, { ok: true, channel, ts, message: { type: 'message', text, ts, thread_ts: thread } });
    }
    const ts = String(args.ts ?? '');
    const msg = messages.get(ts);
    if (!msg || msg.channel !== channel) return fail('message_not_found');
    msg.text = text;
    msg.blocks = blocks;
    msg.edits++;
    msg.history.push(text);
    return respond(res, 200, { ok: true, channel, ts, text });
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
