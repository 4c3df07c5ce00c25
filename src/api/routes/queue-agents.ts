import type { FastifyInstance } from 'fastify';
import { allowQueueAgent, disallowQueueAgent, listQueueAgentIds } from '../../db/queue-agents.js';
import { requireQueueByNumber } from '../../db/queues.js';
import { findUserByAlias, listUsers, type UserRecord } from '../../db/users.js';
import { ApiError, ErrorCode, notFound } from '../errors.js';
import { numberParams, positiveInteger, timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';

/** Routes for the agents allowed on a queue (admin). An agent logs in only to queues that allow it. */

const tags = ['queues'];

const queueAgentParams = {
  type: 'object',
  required: ['number', 'alias'],
  additionalProperties: false,
  properties: { number: positiveInteger, alias: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$' } },
} as const;

const queueAgentResponse = {
  type: 'object',
  properties: {
    alias: { type: 'string' },
    name: { type: 'string' },
    email: { type: 'string' },
    role: { type: 'string' },
    active: { type: 'boolean' },
    createdAt: timestamp,
  },
} as const;

interface QueueAgentParams {
  number: number;
  alias: string;
}

function agentJson(user: UserRecord) {
  return { alias: user.alias, name: user.name, email: user.email, role: user.role, active: user.active, createdAt: user.createdAt };
}

async function requireUser(context: RouteContext, alias: string): Promise<UserRecord> {
  const user = await findUserByAlias(context.db, alias);
  if (user === null) throw notFound(`User "${alias}"`);
  return user;
}

export function registerQueueAgentRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db } = context;

  app.get<{ Params: { number: number } }>(
    '/queues/:number/agents',
    { config: { access: 'admin' }, schema: { tags, summary: 'List the agents who may use a queue', params: numberParams, response: { 200: { type: 'array', items: queueAgentResponse } } } },
    async (request) => {
      const queue = await requireQueueByNumber(db, request.params.number);
      const ids = new Set(await listQueueAgentIds(db, queue.id));
      return (await listUsers(db)).filter((user) => ids.has(user.id)).map(agentJson);
    },
  );

  app.put<{ Params: QueueAgentParams }>(
    '/queues/:number/agents/:alias',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Let an agent use a queue (adding twice changes nothing)', params: queueAgentParams, response: { 200: queueAgentResponse } },
    },
    async (request) => {
      const queue = await requireQueueByNumber(db, request.params.number);
      const user = await requireUser(context, request.params.alias);
      await allowQueueAgent(db, queue.id, user.id);
      return agentJson(user);
    },
  );

  app.delete<{ Params: QueueAgentParams }>(
    '/queues/:number/agents/:alias',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Stop an agent from using a queue',
        description: 'Later logins of the agent to this queue are rejected.',
        params: queueAgentParams,
        response: { 204: { type: 'null', description: 'Removed' } },
      },
    },
    async (request, reply) => {
      const queue = await requireQueueByNumber(db, request.params.number);
      const user = await requireUser(context, request.params.alias);
      if (!(await disallowQueueAgent(db, queue.id, user.id))) {
        throw new ApiError(404, ErrorCode.NotFound, `User "${user.alias}" is not an agent of queue ${queue.number}: GET /queues/${queue.number}/agents lists them`);
      }
      return reply.status(204).send();
    },
  );
}
