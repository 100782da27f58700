/**
 * HTTP control of the sandbox pipeline:
 *   GET  /v1/sandbox/pipeline            -> {mode, stats}
 *   POST /v1/sandbox/pipeline {"mode"}   -> {mode, previous}   (admin scope)
 */
import type { FastifyInstance, RouteShorthandOptions } from 'fastify';
import { PIPELINE_MODES, isPipelineMode, type Sandbox } from './sandbox.ts';

type PreHandler = NonNullable<RouteShorthandOptions['preHandler']>;

export interface SandboxRoutesOptions {
  sandbox: Sandbox;
  /** The server's auth guard for a scope; `read` guards GET, `admin` guards POST. */
  requireScope(scope: 'read' | 'admin'): PreHandler;
}

export async function registerSandboxRoutes(app: FastifyInstance, opts: SandboxRoutesOptions): Promise<void> {
  const { sandbox } = opts;

  app.get('/v1/sandbox/pipeline', { preHandler: opts.requireScope('read') }, async () => ({
    mode: sandbox.mode(),
    modes: PIPELINE_MODES,
    stats: sandbox.stats(),
  }));

  app.post('/v1/sandbox/pipeline', { preHandler: opts.requireScope('admin') }, async (req, reply) => {
    const body = req.body as { mode?: unknown } | null | undefined;
    const mode = body && typeof body === 'object' ? body.mode : undefined;
    if (!isPipelineMode(mode)) {
      return reply.code(400).send({ error: 'bad_request', message: `mode must be one of ${PIPELINE_MODES.join(', ')}`, field: 'mode' });
    }
    const previous = sandbox.setMode(mode);
    return { mode, previous };
  });
}

const modeSchema = { type: 'string', enum: [...PIPELINE_MODES] };
const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
  required: ['error', 'message'],
};

/** OpenAPI 3.1 path objects for the lead's published document. */
export const sandboxOpenApiPaths = {
  '/v1/sandbox/pipeline': {
    get: {
      operationId: 'getSandboxPipeline',
      summary: 'The simulated pipeline mode and counters',
      tags: ['sandbox'],
      responses: {
        '200': {
          description: 'Current mode',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  mode: modeSchema,
                  modes: { type: 'array', items: modeSchema },
                  stats: {
                    type: 'object',
                    properties: {
                      mode: modeSchema,
                      trafficEmitted: { type: 'integer' },
                      charges: { type: 'integer' },
                      refused: { type: 'integer' },
                      probeTransactionsEmitted: { type: 'integer' },
                      probeTransactionsSwallowed: { type: 'integer' },
                      reversals: { type: 'integer' },
                    },
                  },
                },
                required: ['mode'],
              },
            },
          },
        },
      },
    },
    post: {
      operationId: 'setSandboxPipeline',
      summary: 'Switch the simulated pipeline: healthy | quiet | broken | acquirer-down (admin)',
      description:
        'quiet stops real traffic but probe transactions still come through; broken swallows everything; acquirer-down refuses charges (and real traffic stops).',
      tags: ['sandbox'],
      requestBody: {
        required: true,
        content: { 'application/json': { schema: { type: 'object', properties: { mode: modeSchema }, required: ['mode'] } } },
      },
      responses: {
        '200': {
          description: 'Switched',
          content: {
            'application/json': {
              schema: { type: 'object', properties: { mode: modeSchema, previous: modeSchema }, required: ['mode', 'previous'] },
            },
          },
        },
        '400': { description: 'Bad mode', content: { 'application/json': { schema: errorSchema } } },
      },
    },
  },
} as const;
