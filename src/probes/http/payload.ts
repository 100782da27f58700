/**
 * Pure builders for the generic http acquirer driver: the outgoing request and the reading of
 * the response. No I/O here; tested alone.
 */
import type { Secret } from '../../lib/secret.ts';
import type { HttpDriverConfig } from '../config.ts';
import { getPath, renderString, renderTemplate, type TemplateVars } from '../template.ts';
import type { ChargeRequest, ChargeResult, ReverseRequest } from '../types.ts';

export interface HttpRequestSpec {
  method: string;
  url: string;
  /** Header values stay Secret until the one place they are sent. */
  headers: Record<string, Secret | string>;
  body?: string;
  timeoutMs: number;
}

export function chargeVars(req: ChargeRequest): TemplateVars {
  return {
    probeId: req.probeId,
    idempotencyKey: req.idempotencyKey,
    amount: req.amountMinor,
    currency: req.currency,
    check: req.check,
  };
}

/** The reversal's own idempotency key, derived from the charge's so a retried reversal cannot refund twice. */
export const reverseIdempotencyKey = (chargeKey: string): string => `${chargeKey}-reverse`;

/** One templated HTTP call (the charge or the reversal): URL, headers, optional JSON body. */
function buildRequest(
  call: { method: HttpRequestSpec['method']; url: string; body?: unknown; timeout: number },
  headers: Record<string, Secret | string>,
  vars: TemplateVars,
): HttpRequestSpec {
  const spec: HttpRequestSpec = {
    method: call.method,
    url: renderString(call.url, vars, encodeURIComponent),
    headers,
    timeoutMs: call.timeout,
  };
  if (call.body !== undefined && call.method !== 'GET') {
    spec.body = JSON.stringify(renderTemplate(call.body, vars));
    if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/json';
  }
  return spec;
}

export function buildChargeRequest(cfg: HttpDriverConfig, req: ChargeRequest): HttpRequestSpec {
  return buildRequest(cfg, { ...cfg.headers, [cfg.idempotencyHeader]: req.idempotencyKey }, chargeVars(req));
}

export function buildReverseRequest(cfg: HttpDriverConfig, req: ReverseRequest): HttpRequestSpec | undefined {
  const rev = cfg.reverse;
  if (!rev) return undefined;
  const headers = { ...cfg.headers, ...rev.headers, [cfg.idempotencyHeader]: reverseIdempotencyKey(req.idempotencyKey) };
  return buildRequest(rev, headers, { ...chargeVars(req), reference: req.reference ?? '' });
}

function hasHeader(h: Record<string, unknown>, name: string): boolean {
  return Object.keys(h).some((k) => k.toLowerCase() === name);
}

export type ChargeResponseReading =
  | { kind: 'result'; result: ChargeResult }
  /** Not a success nor a decline: classify with errorForStatus. */
  | { kind: 'status'; status: number };

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const asText = (v: unknown): string | undefined =>
  v === undefined || v === null ? undefined : typeof v === 'string' ? v : JSON.stringify(v);

/** Read a charge response: success (with reference), decline (status or body value), or other. */
export function readChargeResponse(cfg: HttpDriverConfig, status: number, text: string): ChargeResponseReading {
  const json = parseJson(text);
  if (cfg.declineStatus.includes(status)) {
    return { kind: 'result', result: refused(cfg, json, `declined with HTTP ${status}`) };
  }
  if (cfg.successStatus.includes(status)) {
    if (cfg.decline) {
      const v = getPath(json, cfg.decline.path);
      if (v !== undefined && cfg.decline.values.some((d) => d === v)) {
        return { kind: 'result', result: refused(cfg, json, `declined: ${cfg.decline.path}=${asText(v)}`) };
      }
    }
    const result: ChargeResult = { outcome: 'accepted' };
    const ref = cfg.referencePath ? asText(getPath(json, cfg.referencePath)) : undefined;
    if (ref) result.reference = ref;
    return { kind: 'result', result };
  }
  return { kind: 'status', status };
}

function refused(cfg: HttpDriverConfig, json: unknown, fallback: string): ChargeResult {
  const code = asText(getPath(json, cfg.declineCodePath));
  const message = asText(getPath(json, cfg.declineMessagePath)) ?? fallback;
  return code ? { outcome: 'refused', code, message } : { outcome: 'refused', message };
}
