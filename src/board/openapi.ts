/** OpenAPI paths of the status board (merged into /openapi.json by the server). */

const tokenParam = {
  name: 'token',
  in: 'query',
  required: false,
  schema: { type: 'string' },
  description: 'A read-scoped token, for screens that cannot send an Authorization header. Not needed with `board.public: true`.',
};
const err = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
const denied = {
  '401': { description: 'Missing or unknown token (and the board is not public)', content: err },
  '403': { description: 'The token lacks the read scope', content: err },
};
const nullableInt = { type: ['integer', 'null'] };

const BoardCheck = {
  type: 'object',
  required: ['name', 'status', 'since', 'lastEventAt', 'lagMs', 'quietAfterMs', 'pageAfterMs', 'held', 'probe'],
  properties: {
    name: { type: 'string' },
    status: { type: 'string', enum: ['unknown', 'ok', 'quiet', 'down', 'paused'] },
    since: { type: 'integer', description: 'When the current status was entered (epoch ms)' },
    lastEventAt: { ...nullableInt, description: 'Arrival of the newest matching event (epoch ms)' },
    lagMs: nullableInt,
    quietAfterMs: { type: 'number' },
    pageAfterMs: { type: 'number' },
    held: { type: 'boolean', description: 'Held down by flap control' },
    probe: {
      type: ['object', 'null'],
      properties: { reason: { type: 'string' }, deadline: { type: 'integer' }, accepted: { type: 'boolean' } },
    },
  },
};
const BoardIncident = {
  type: 'object',
  required: ['id', 'check', 'openedAt', 'acknowledgedAt', 'summary'],
  properties: { id: { type: 'string' }, check: { type: 'string' }, openedAt: { type: 'integer' }, acknowledgedAt: nullableInt, summary: { type: 'string' } },
};
const BoardReplica = {
  type: 'object',
  description: 'Which replica leads (replicas on PostgreSQL only)',
  required: ['self', 'role', 'leader'],
  properties: {
    self: { type: 'string', description: 'The replica that answered (its lease holder id)' },
    role: { type: 'string', enum: ['leader', 'follower'] },
    leader: { type: ['string', 'null'], description: 'The holder of the leader lease as last seen; null when none holds it' },
  },
};
const BoardSnapshot = {
  type: 'object',
  required: ['serverTime', 'heartbeatMs', 'checks', 'incidents'],
  properties: {
    serverTime: { type: 'integer', description: "The server's clock (epoch ms); the page ticks from it" },
    heartbeatMs: { type: 'integer' },
    checks: { type: 'array', items: BoardCheck },
    incidents: { type: 'array', items: BoardIncident, description: 'Open incidents, oldest first' },
    incidentsError: { type: 'string', description: 'Present when the incident list could not be read' },
    replica: BoardReplica,
  },
};

export const boardOpenApiPaths: Record<string, unknown> = {
  '/': {
    get: {
      summary: 'The status board: a live HTML page for office screens (read; `?token=` accepted; open with `board.public`)',
      tags: ['board'],
      parameters: [tokenParam],
      responses: { '200': { description: 'The page (self-contained HTML)', content: { 'text/html': { schema: { type: 'string' } } } }, ...denied },
    },
  },
  '/v1/board': {
    get: {
      summary: 'The status board as JSON: every check and the open incidents (read; `?token=` accepted)',
      tags: ['board'],
      parameters: [tokenParam],
      responses: { '200': { description: 'The board now', content: { 'application/json': { schema: BoardSnapshot } } }, ...denied },
    },
  },
  '/v1/board/stream': {
    get: {
      summary: 'The status board as server-sent events (read; `?token=` accepted)',
      description:
        'Events: `snapshot` (a BoardSnapshot) on connect; `check` ({serverTime, check}) when a check changes, at most one per check per 250 ms; ' +
        '`incidents` ({serverTime, incidents, incidentsError?}) when the open incidents change; `replica` ({serverTime, replica}) when the leader changes (replicas); `time` ({serverTime}) with a `: heartbeat` comment every 15 s. ' +
        'On reconnect a fresh `snapshot` is sent.',
      tags: ['board'],
      parameters: [tokenParam],
      responses: { '200': { description: 'An endless event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...denied },
    },
  },
};
