import type { FastifyInstance, FastifyRequest } from 'fastify';
import { agentStatus, loginAgent, logoutAgent, MAX_AGENT_CAPACITY, pauseAgent, setAgentReady } from '../../agents/operations.js';
import { findUserByAlias } from '../../db/users.js';
import { currentUser, type RouteAccess } from '../auth.js';
import { notFound } from '../errors.js';
import { absentBodyAsEmpty, nullableString, positiveInteger, timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';
import { activityResponse, operationsContext } from './activities.js';

/**
 * Agent sign-in and availability. Every user acts as themselves under `/agents/me`; admins
 * also act for an agent under `/agents/{alias}`. The static `me` wins over the alias, so a
 * user named "me" is reached through its own token only.
 */

const tags = ['agents'];

const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;
const aliasParams = { type: 'object', required: ['alias'], additionalProperties: false, properties: { alias: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$' } } } as const;
const queueRef = { type: 'object', properties: { queueId: { type: 'integer' }, queueNumber: { type: 'integer' } } } as const;
const queueNumbers = { type: 'array', minItems: 1, maxItems: 100, uniqueItems: true, items: positiveInteger } as const;

const statusResponse = {
  type: 'object',
  properties: {
    alias: { type: 'string' },
    userId: { type: 'integer' },
    live: {
      type: ['object', 'null'],
      description: "The agent workflow's live state; null when the agent never logged in",
      properties: {
        userId: { type: 'integer' },
        queues: { type: 'array', items: queueRef },
        ready: { type: 'boolean' },
        pauseReason: nullableString,
        capacity: { type: 'integer' },
        wrapUpUntil: nullableTimestamp,
        inWrapUp: { type: 'boolean' },
        idleSince: nullableTimestamp,
        finishedCount: { type: 'integer' },
        savePending: { type: 'boolean' },
      },
    },
    stored: {
      type: ['object', 'null'],
      description: 'The state dispatch reads from the database; it follows the live state within moments',
      properties: {
        userId: { type: 'integer' },
        capacity: { type: 'integer' },
        ready: { type: 'boolean' },
        pauseReason: nullableString,
        wrapUpUntil: nullableTimestamp,
        idleSince: nullableTimestamp,
        queueIds: { type: 'array', items: { type: 'integer' } },
        updatedAt: timestamp,
      },
    },
    activities: { type: 'array', items: activityResponse, description: 'Activities offered to or open with the agent' },
  },
} as const;

const loginBody = {
  type: 'object',
  required: ['queues'],
  additionalProperties: false,
  properties: {
    queues: { ...queueNumbers, description: 'Queue numbers; an admin must have allowed the agent on each (PUT /queues/{number}/agents/{alias})' },
    capacity: { type: 'integer', minimum: 1, maximum: MAX_AGENT_CAPACITY, description: 'Maximum number of activities offered or open at once; default 1' },
  },
} as const;

const pauseBody = { type: 'object', required: ['reason'], additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 200 } } } as const;
const logoutBody = { type: 'object', additionalProperties: false, properties: { queues: { ...queueNumbers, description: 'Leave these queues only; without it, every queue' } } } as const;
const signalled = { 204: { type: 'null', description: 'Sent to the agent workflow; GET the agent to see the state' } } as const;
const notLoggedIn = { 409: { description: 'The agent is not logged in', $ref: 'ErrorBody#' } } as const;

interface Target {
  /** Route prefix. */
  prefix: string;
  access: RouteAccess;
  /** Whom the routes act for, as the summaries name it. */
  subject: string;
  /** Returns the alias the request acts for. */
  alias(request: FastifyRequest): Promise<string>;
}

export function registerAgentRoutes(app: FastifyInstance, context: RouteContext): void {
  const operations = operationsContext(context);

  const targets: Target[] = [
    { prefix: '/agents/me', access: 'agent', subject: 'yourself', alias: async (request) => currentUser(request).alias },
    {
      prefix: '/agents/:alias',
      access: 'admin',
      subject: 'an agent (admin)',
      alias: async (request) => {
        const { alias } = request.params as { alias: string };
        if ((await findUserByAlias(context.db, alias)) === null) throw notFound(`Agent "${alias}"`);
        return alias;
      },
    },
  ];

  for (const target of targets) {
    const params = target.access === 'admin' ? { params: aliasParams } : {};
    const config = { access: target.access };

    app.get(target.prefix, { config, schema: { tags, summary: `Status of ${target.subject}: live state, stored state, current activities`, ...params, response: { 200: statusResponse } } }, async (request) =>
      agentStatus(operations, await target.alias(request)),
    );

    app.post<{ Body: { queues: number[]; capacity?: number } }>(
      `${target.prefix}/login`,
      {
        config,
        schema: {
          tags,
          summary: `Log ${target.subject} in to queues`,
          description: 'Starts the agent workflow when needed. The agent starts paused ("not-ready"); POST …/ready to get offers. A queue the agent may not use stops the whole login (403).',
          ...params,
          body: loginBody,
          response: { 200: { type: 'object', properties: { workflowId: { type: 'string' }, queues: { type: 'array', items: queueRef } } } },
        },
      },
      async (request) => loginAgent(operations, await target.alias(request), { queueNumbers: request.body.queues, capacity: request.body.capacity }),
    );

    app.post(
      `${target.prefix}/ready`,
      { config, schema: { tags, summary: `Mark ${target.subject} ready for offers`, ...params, response: { ...signalled, ...notLoggedIn } } },
      async (request, reply) => {
        await setAgentReady(operations, await target.alias(request));
        return reply.status(204).send();
      },
    );

    app.post<{ Body: { reason: string } }>(
      `${target.prefix}/pause`,
      {
        config,
        schema: { tags, summary: `Pause ${target.subject} with a reason; offers not yet accepted go back to their queues`, ...params, body: pauseBody, response: { ...signalled, ...notLoggedIn } },
      },
      async (request, reply) => {
        await pauseAgent(operations, await target.alias(request), request.body.reason);
        return reply.status(204).send();
      },
    );

    app.post<{ Body: { queues?: number[] } }>(
      `${target.prefix}/logout`,
      { config, preValidation: absentBodyAsEmpty, schema: { tags, summary: `Log ${target.subject} out of some or all queues`, ...params, body: logoutBody, response: { ...signalled, ...notLoggedIn } } },
      async (request, reply) => {
        await logoutAgent(operations, await target.alias(request), request.body.queues ?? []);
        return reply.status(204).send();
      },
    );
  }
}
