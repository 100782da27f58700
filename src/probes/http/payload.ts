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

export function buildChargeRequest(cfg: HttpDriverConfig, req: ChargeRequest): HttpRequestSpec {
  const vars = chargeVars(req);
  const headers: Record<string, Secret | string> = { ...cfg.headers, [cfg.idempotencyHeader]: req.idempotencyKey };
  const spec: HttpRequestSpec = {
    method: cfg.method,
    url: renderString(cfg.url, vars, encodeURIComponent),
    headers,
    timeoutMs: cfg.timeout,
  };
  if (cfg.body !== undefined && cfg.method !== 'GET') {
    spec.body = JSON.stringify(renderTemplate(cfg.body, vars));
    if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/json';
  }
  return spec;
}

export function buildReverseRequest(cfg: HttpDriverConfig, req: ReverseRequest): HttpRequestSpec | undefined {
  const rev = cfg.reverse;
  if (!rev) return undefined;
  const vars: TemplateVars = { ...chargeVars(req), reference: req.reference ?? '' };
  const headers: Record<string, Secret | string> = {
    ...cfg.headers,
    ...rev.headers,
    [cfg.idempotencyHeader]: reverseIdempotencyKey(req.idempotencyKey),
  };
  const spec: HttpRequestSpec = {
    method: rev.method,
    url: renderString(rev.url, vars, encodeURIComponent),
    headers,
    timeoutMs: rev.timeout,
  };
  if (rev.body !== undefined && rev.method !== 'GET') {
    spec.body = JSON.stringify(renderTemplate(rev.body, vars));
    if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/json';
  }
  return spec;
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
