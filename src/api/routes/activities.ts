import type { FastifyInstance } from 'fastify';
import { acceptEmailActivity, closeEmailActivity, listEmailActivities, setEmailActivityStatuses, type AgentOperationsContext } from '../../agents/operations.js';
import { activityStates, findActivity, type ActivityRecord, type ActivityState } from '../../db/email-activities.js';
import { visibleTicketIds } from '../../db/ticket-access.js';
import { currentUser, type ApiUser } from '../auth.js';
import { notFound } from '../errors.js';
import { absentBodyAsEmpty, nullableString, positiveInteger, timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';

/**
 * Email activities: listing, accept, statuses and close. The caller acts as themselves.
 * Admins see every activity. An agent sees the activities of tickets its category rights
 * show, plus those offered to, open with or closed by the agent, so an offer can always
 * be accepted. Anything else answers 404, as if it did not exist.
 */

const tags = ['activities'];

const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;

/** An email activity as the API returns it. */
export const activityResponse = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    queueId: { type: 'integer' },
    queueNumber: { type: 'integer' },
    ticketId: { type: 'integer' },
    ticketNumber: { type: 'integer' },
    state: { type: 'string', enum: [...activityStates] },
    agentUserId: { type: ['integer', 'null'] },
    agentAlias: nullableString,
    offerId: nullableString,
    offeredAt: nullableTimestamp,
    offerExpiresAt: nullableTimestamp,
    statuses: { type: 'array', items: { type: 'string' } },
    createdAt: timestamp,
    assignedAt: nullableTimestamp,
    closedAt: nullableTimestamp,
    messageRowIds: { type: 'array', items: { type: 'integer' } },
  },
} as const;

const closeResponse = {
  type: 'object',
  properties: {
    activity: activityResponse,
    wrapUpSeconds: { type: 'integer', description: "The queue's wrap-up, in seconds" },
    wrapUpUntil: { ...timestamp, description: 'When the wrap-up ends and the agent may get offers again' },
  },
} as const;

const idParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: positiveInteger } } as const;

const statusNames = { type: 'array', maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 100 } } as const;

const conflictResponse = { description: 'The activity is not in a state that allows this, or is with another agent', $ref: 'ErrorBody#' } as const;

interface IdParams {
  id: number;
}

/** Builds the operations context of one request. */
export function operationsContext(context: RouteContext): AgentOperationsContext {
  return { db: context.db, temporal: context.temporal, taskQueue: context.taskQueue };
}

/** True when the user may see the activity: admins always, agents by ticket rights or when it is theirs. */
async function maySee(context: RouteContext, user: ApiUser, activity: ActivityRecord): Promise<boolean> {
  if (user.role === 'admin' || activity.agentUserId === user.id) return true;
  return (await visibleTicketIds(context.db, user, [activity.ticketId])).has(activity.ticketId);
}

/** Loads an activity the user may see; 404 for one that does not exist or is hidden. */
async function requireVisibleActivity(context: RouteContext, user: ApiUser, id: number): Promise<ActivityRecord> {
  const activity = await findActivity(context.db, id);
  if (activity === null || !(await maySee(context, user, activity))) throw notFound(`Activity ${id}`);
  return activity;
}

export function registerActivityRoutes(app: FastifyInstance, context: RouteContext): void {
  const operations = operationsContext(context);

  app.get<{ Querystring: { queue?: number; state?: ActivityState; limit?: number } }>(
    '/activities',
    {
      config: { access: 'agent' },
      schema: {
        tags,
        summary: 'List email activities, oldest first',
        description: 'Admins see every activity. Agents see those of tickets their category rights allow, and those offered to, open with or closed by them. Filters combine.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            queue: { ...positiveInteger, description: 'Queue number' },
            state: { type: 'string', enum: [...activityStates] },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
          },
        },
        response: { 200: { type: 'array', items: activityResponse } },
      },
    },
    async (request) => {
      const user = currentUser(request);
      const { queue, state, limit } = request.query;
      const activities = await listEmailActivities(operations, { queueNumber: queue, state, limit: limit ?? 100 });
      if (user.role === 'admin') return activities;

      // NOTE: rights filter the page after the limit, so an agent may get fewer than `limit` activities while more exist.
      const visible = await visibleTicketIds(context.db, user, activities.map((activity) => activity.ticketId));
      return activities.filter((activity) => activity.agentUserId === user.id || visible.has(activity.ticketId));
    },
  );

  app.get<{ Params: IdParams }>(
    '/activities/:id',
    { config: { access: 'agent' }, schema: { tags, summary: 'Show an email activity', params: idParams, response: { 200: activityResponse } } },
    async (request) => requireVisibleActivity(context, currentUser(request), request.params.id),
  );

  app.post<{ Params: IdParams }>(
    '/activities/:id/accept',
    {
      config: { access: 'agent' },
      schema: {
        tags,
        summary: 'Accept an activity offered to you',
        description: 'Moves the offer to open. Accepting an activity already open with you returns it unchanged.',
        params: idParams,
        response: { 200: activityResponse, 409: conflictResponse },
      },
    },
    async (request) => {
      const user = currentUser(request);
      await requireVisibleActivity(context, user, request.params.id);
      return acceptEmailActivity(operations, user.alias, request.params.id);
    },
  );

  app.put<{ Params: IdParams; Body: { statuses: string[] } }>(
    '/activities/:id/statuses',
    {
      config: { access: 'agent' },
      schema: {
        tags,
        summary: 'Replace the statuses of an activity open with you',
        description: 'Status names come from GET /statuses. A queue without agents.allowMultipleStatuses takes one.',
        params: idParams,
        body: { type: 'object', required: ['statuses'], additionalProperties: false, properties: { statuses: statusNames } },
        response: { 200: activityResponse, 409: conflictResponse },
      },
    },
    async (request) => {
      const user = currentUser(request);
      await requireVisibleActivity(context, user, request.params.id);
      return setEmailActivityStatuses(operations, user.alias, request.params.id, request.body.statuses, 'replace');
    },
  );

  app.post<{ Params: IdParams; Body: { statuses?: string[] } }>(
    '/activities/:id/close',
    {
      config: { access: 'agent' },
      preValidation: absentBodyAsEmpty,
      schema: {
        tags,
        summary: 'Close an activity open with you; your wrap-up starts',
        description: 'Optional `statuses` are added before closing. Closing an activity you already closed returns the same result.',
        params: idParams,
        body: { type: 'object', additionalProperties: false, properties: { statuses: statusNames } },
        response: { 200: closeResponse, 409: conflictResponse },
      },
    },
    async (request) => {
      const user = currentUser(request);
      await requireVisibleActivity(context, user, request.params.id);
      return closeEmailActivity(operations, user.alias, request.params.id, request.body.statuses ?? []);
    },
  );
}
