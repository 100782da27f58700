/**
 * An in-house webhook receiver: verifies X-Quietwatch-Signature with the exported `verifySignature`,
 * answers 401 on a bad signature, can be scripted to fail (500, 429 with Retry-After, 401, hang).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Secret } from '../../src/lib/secret.ts';
import { verifySignature } from '../../src/alerts/webhook/index.ts';

export type WebhookScript = { status: number; retryAfter?: string } | { hang: true };

export interface WebhookReceiver {
  url: string;
  received: { headers: Record<string, string | string[] | undefined>; body: string; json: unknown; verified: boolean }[];
  script(...s: WebhookScript[]): void;
  setDown(mode: WebhookScript | undefined): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(opts: { secret: string; nowSec?: () => number }): Promise<WebhookReceiver> {
  const secret = new Secret(opts.secret);
  const received: WebhookReceiver['received'] = [];
  const queue: WebhookScript[] = [];
  let down: WebhookScript | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const s = queue.shift() ?? down;
      if (s && 'hang' in s) return;
      if (s) {
        res.writeHead(s.status, s.retryAfter ? { 'retry-after': s.retryAfter } : {});
        return res.end(`scripted ${s.status}`);
      }
      const verified = verifySignature({
        secret,
        body,
        timestampHeader: req.headers['x-quietwatch-timestamp'] as string | undefined,
        signatureHeader: req.headers['x-quietwatch-signature'] as string | undefined,
        nowSec: opts.nowSec?.() ?? Math.floor(Date.now() / 1000),
      });
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      received.push({ headers: req.headers, body, json, verified });
      if (!verified) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: 'bad signature' }));
      }
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/quietwatch`,
    received,
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
