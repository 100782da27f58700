/**
 * The status board: a live page for the office screen that needs neither Grafana nor InfluxDB.
 *
 *   GET /                 the page (HTML, inline CSS and JS, no external assets)
 *   GET /v1/board         the board as JSON
 *   GET /v1/board/stream  server-sent events: `snapshot` first, then `check` and `incidents`
 *                         updates, and a heartbeat (a comment and a `time` event)
 *
 * All three need the read scope, and accept it as `?token=` (a screen cannot send headers); with
 * `board.public: true` in the config they are open read-only (Auth decides both).
 */
import type { ApiPlugin } from '../api/server.ts';
import type { CheckRuntime } from '../checks/runtime.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { BoardHistory, type AcceptedEvent } from './history.ts';
import { BoardHub } from './hub.ts';
import type { BoardReplica, IncidentLike } from './model.ts';
import { boardPage } from './page.ts';
import { boardOpenApiPaths } from './openapi.ts';

export type { Band, BoardCheck, BoardIncident, BoardReplica, BoardSnapshot, CheckHistory, IncidentLike, RateSeries } from './model.ts';
export { boardSafeText } from './model.ts';
export { BoardHistory, HISTORY_WINDOW_MS, RATE_BUCKET_MS, type AcceptedEvent } from './history.ts';
export { STATE_COLOURS } from './page.ts';

export interface BoardDeps {
  runtime: CheckRuntime;
  /** Open incidents (oldest first is not required). Failures and slow answers never break the board. */
  incidents?: () => Promise<readonly IncidentLike[]>;
  clock: Clock;
  /** Heartbeat on the stream; default 15 s. */
  heartbeatMs?: number;
  /** At most one update per check per this long; default 250 ms. */
  coalesceMs?: number;
  /**
   * While a screen watches: how often the incident list is re-read (it is also re-read after each
   * flip) and the checks compared with what the screens were last sent; default 5 s.
   */
  pollMs?: number;
  /** A snapshot waits this long for the incident list, then goes out without it; default 2 s. */
  incidentsTimeoutMs?: number;
  /**
   * The tiles' 6-hour state strips and rate sparklines. Without one the plugin keeps its own, fed
   * by the runtime's flips only (no rate: wire `history.recordEvents` to the ingest to get one).
   */
  history?: BoardHistory;
  /** Stored flips of a check, newest first (SqliteStore.listFlips fits): the strips survive a restart. */
  flips?: (check: string, limit: number) => Promise<ReadonlyArray<{ at: number; from: string; to: string }>>;
  /** How often the strips and sparklines are sent again; default 60 s. */
  historyMs?: number;
  /**
   * Which replica leads (PostgreSQL replicas): shown in the page's header, in the snapshot, and sent
   * as a `replica` event when it changes (checked every `pollMs` while a screen watches).
   */
  replica?: () => BoardReplica | undefined;
  logger?: Logger;
}

export const BOARD_DEFAULTS = { heartbeatMs: 15_000, coalesceMs: 250, pollMs: 5_000, incidentsTimeoutMs: 2_000 } as const;

export interface BoardPlugin extends ApiPlugin {
  /** Screens streaming now (for tests and health). */
  readonly screens: () => number;
  /** The board's history (the one passed in, or its own). */
  readonly history: BoardHistory;
  /** Count accepted events for the sparklines (wire to the ingest's onAccepted). */
  readonly recordEvents: (events: readonly AcceptedEvent[]) => void;
}

export function boardPlugin(deps: BoardDeps): BoardPlugin {
  const logger = deps.logger?.child({ component: 'board' });
  const history = deps.history ?? new BoardHistory({ runtime: deps.runtime, clock: deps.clock });
  if (deps.flips) {
    const read = deps.flips;
    const rt = deps.runtime;
    // Once the runtime knows which states came from the store: only those checks can have stored flips
    // (a flip is stored with its check's state), read a slice per turn of the event loop after start-up.
    // A fresh store of 100,000 checks costs no query; a restart, 100,000 queries that never hold /healthz.
    const restoredOnly = typeof rt.restored === 'function' && typeof rt.once === 'function';
    const loadAll = async () => {
      const names = restoredOnly ? rt.names().filter((n) => rt.restored(n)) : rt.names();
      for (let i = 0; i < names.length; i += 1000) {
        if (i > 0) await new Promise<void>((r) => setImmediate(r));
        await Promise.all(
          names.slice(i, i + 1000).map(async (name) => {
            try {
              history.load(name, (await read(name, 500)) as never);
            } catch (err) {
              logger?.warn({ err, check: name }, 'board: could not read stored flips for the state strip');
            }
          }),
        );
      }
    };
    if (!restoredOnly || rt.ready) void loadAll();
    else rt.once('ready', () => void loadAll());
  }
  const hub = new BoardHub({
    history,
    historyMs: positive(deps.historyMs, 60_000),
    runtime: deps.runtime,
    clock: deps.clock,
    incidents: deps.incidents,
    heartbeatMs: positive(deps.heartbeatMs, BOARD_DEFAULTS.heartbeatMs),
    coalesceMs: positive(deps.coalesceMs, BOARD_DEFAULTS.coalesceMs),
    pollMs: positive(deps.pollMs, BOARD_DEFAULTS.pollMs),
    incidentsTimeoutMs: positive(deps.incidentsTimeoutMs, BOARD_DEFAULTS.incidentsTimeoutMs),
    replica: deps.replica,
    logger,
  });

  return {
    screens: () => hub.size,
    history,
    recordEvents: (events) => history.recordEvents(events),
    openApiPaths: boardOpenApiPaths,
    register(app, { requireScope }) {
      const preHandler = requireScope('read', { allowQueryToken: true, publicRead: true });

      app.get('/', { preHandler }, async (_req, reply) => reply.headers(boardPage.headers).send(boardPage.html));

      app.get('/v1/board', { preHandler }, async (_req, reply) => reply.header('cache-control', 'no-store').send(await hub.snapshot()));

      // A HEAD would hold a connection open with nothing to send: GET only.
      app.get('/v1/board/stream', { preHandler, exposeHeadRoute: false }, (req, reply) => {
        reply.hijack();
        const res = reply.raw;
        req.raw.socket.setNoDelay(true);
        req.raw.socket.setKeepAlive(true);
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          'x-accel-buffering': 'no',
          'x-content-type-options': 'nosniff',
        });
        hub.connect(res).catch((err: unknown) => {
          logger?.error({ err }, 'board: could not start a stream');
          res.destroy();
        });
      });

      // Open streams would keep the server from closing: end them first.
      app.addHook('preClose', async () => hub.closeAll());
      if (!deps.history) app.addHook('onClose', async () => history.close());
    },
  };
}

function positive(v: number | undefined, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : dflt;
}
