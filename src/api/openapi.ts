/** The OpenAPI 3.1 document served at GET /openapi.json. Modules add their paths (alerts, probes, sandbox). */

const err = { $ref: '#/components/schemas/Error' };
const json = (schema: unknown) => ({ 'application/json': { schema } });
const errors = {
  '400': { description: 'Bad input; the body names the field', content: json(err) },
  '401': { description: 'Missing or unknown bearer token', content: json(err) },
  '403': { description: 'The token lacks the scope', content: json(err) },
};
const checkName = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };

export function buildOpenApi(extraPaths: Record<string, unknown> = {}) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'quietwatch',
      version: '0.1.0',
      description:
        "Deadman's-switch monitor for payment pipelines. Scopes: `ingest` (post events), `read` (look), `admin` (pause, probe, ack, silence; implies the others).",
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'message'],
          properties: {
            error: { type: 'string', description: 'Stable code: bad_request, invalid_events, unauthorized, forbidden, not_found, payload_too_large, unavailable' },
            message: { type: 'string' },
            field: { type: 'string', description: 'The field at fault' },
            line: { type: 'integer', description: 'NDJSON line (1-based) at fault' },
            index: { type: 'integer', description: 'Array index (0-based) at fault' },
            problems: { type: 'array', items: { type: 'object' } },
          },
        },
        Event: {
          type: 'object',
          required: ['stream'],
          additionalProperties: false,
          properties: {
            stream: { type: 'string', maxLength: 200 },
            time: { oneOf: [{ type: 'string', format: 'date-time' }, { type: 'integer', description: 'epoch milliseconds' }], description: 'When the event happened; default arrival time. Liveness counts arrival time; this measures pipeline lag.' },
            id: { type: 'string', maxLength: 200 },
            attributes: { type: 'object', additionalProperties: true, description: 'Matched by checks (`match`), and carries probe_id for synthetic transactions' },
          },
        },
        Flip: {
          type: 'object',
          properties: { id: { type: 'integer' }, check: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, at: { type: 'integer' }, reason: { type: 'string' } },
        },
        Check: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            stream: { type: 'string' },
            status: { type: 'string', enum: ['unknown', 'ok', 'quiet', 'down', 'paused'] },
            since: { type: 'integer' },
            probesPerDay: {
              type: 'object',
              description: 'Learned checks: quiet-triggered probes a day the limit is set to spend (expected), what the history gives (observed), the probe budget and the share of it the limit may spend',
              properties: { expected: { type: 'number' }, observed: { type: ['number', 'null'] }, budgetPerDay: { type: 'integer' }, share: { type: 'number' } },
            },
            lastEventAt: { type: ['integer', 'null'] },
            lastEventTime: { type: ['integer', 'null'] },
            lagMs: { type: ['integer', 'null'] },
            silenceMs: { type: 'integer' },
            deadlines: { type: 'object', properties: { quietAt: { type: ['integer', 'null'] }, pageAt: { type: ['integer', 'null'] }, probeDeadline: { type: ['integer', 'null'] }, next: { type: ['integer', 'null'] } } },
            probeWait: {
              type: 'object',
              description: 'Checks with a probe: how long a probe fired now waits for its transaction (learned from the last proofs with probe.learnTimeout, else probe.timeout), and how many proofs it was learned from',
              properties: { ms: { type: 'integer' }, source: { type: 'string', enum: ['learned', 'configured'] }, proofs: { type: 'integer' } },
            },
            limits: { type: 'object', properties: { quietAfterMs: { type: 'number' }, pageAfterMs: { type: 'number' }, expectedGapMs: { type: 'number' }, expectedPerMinute: { type: 'number' }, source: { type: 'string' } } },
            flips: { type: 'array', items: { $ref: '#/components/schemas/Flip' } },
          },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/healthz': { get: { summary: 'Liveness', security: [], responses: { '200': { description: 'The process answers' } } } },
      '/readyz': {
        get: {
          summary:
            'Readiness with components (store, alerts, metrics); "degraded" lists components working in a reduced way. Without a read token only the status and component names (ok/degraded); with one, each component\'s details',
          security: [],
          responses: { '200': { description: 'Ready (possibly degraded)' }, '503': { description: 'Not ready' } },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics (read)', responses: { '200': { description: 'text exposition format' } } } },
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/v1/events': {
        post: {
          summary: 'Ingest events (ingest scope): a JSON array, one object, or NDJSON. All or nothing.',
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: { oneOf: [{ type: 'array', items: { $ref: '#/components/schemas/Event' } }, { $ref: '#/components/schemas/Event' }] } },
              'application/x-ndjson': { schema: { type: 'string', description: 'one Event per line' } },
            },
          },
          responses: {
            '202': { description: 'Accepted and stored', content: json({ type: 'object', properties: { accepted: { type: 'integer' } } }) },
            ...errors,
            '413': { description: 'Body too large', content: json(err) },
            '503': { description: 'Could not be stored; nothing accepted', content: json(err) },
          },
        },
      },
      '/v1/streams/{stream}/ping': {
        post: {
          summary:
            'Record one heartbeat event on a stream (ingest scope); optional body {time?, id?, attributes?}. A job run: ?state=start opens a run (down if it has not succeeded within maxRuntime), ?state=success ends it, ?state=fail is down at once with the body (text or {reason}) as the reason',
          parameters: [
            { name: 'stream', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'state', in: 'query', schema: { type: 'string', enum: ['start', 'success', 'fail'] } },
            { name: 'run', in: 'query', schema: { type: 'string', maxLength: 128 } },
          ],
          responses: { '202': { description: 'Accepted' }, ...errors },
        },
      },
      '/v1/checks': {
        get: { summary: 'All checks (read)', responses: { '200': { description: 'checks', content: json({ type: 'object', properties: { checks: { type: 'array', items: { $ref: '#/components/schemas/Check' } } } }) }, ...errors } },
      },
      '/v1/checks/{name}': {
        get: {
          summary: 'One check: state, last event, next deadlines, learned limits, recent flips, probes, open incident (read)',
          parameters: [checkName, { name: 'flips', in: 'query', schema: { type: 'integer', default: 50 } }],
          responses: { '200': { description: 'the check', content: json({ $ref: '#/components/schemas/Check' }) }, '404': { description: 'No such check', content: json(err) }, ...errors },
        },
      },
      '/v1/checks/{name}/pause': { post: { summary: 'Pause a check (admin): no quiet, no page, no probe', parameters: [checkName], responses: { '200': { description: 'the check' }, '404': { description: 'No such check' }, ...errors } } },
      '/v1/checks/{name}/resume': { post: { summary: 'Resume a check (admin): back to unknown with a fresh window', parameters: [checkName], responses: { '200': { description: 'the check' }, '404': { description: 'No such check' }, ...errors } } },
      ...extraPaths,
    },
  };
}
