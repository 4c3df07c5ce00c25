import type { FastifyInstance } from 'fastify';
import { createTimeGroup, findTimeGroupByName, listTimeGroups, type TimeGroupInput } from '../../db/time-groups.js';
import { ApiError, ErrorCode, notFound } from '../errors.js';
import { nameParams, timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';

/** Time groups: working hours that queues refer to by name; admin only. */

const tags = ['time-groups'];

const wallTime = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$', description: 'HH:MM local time; 24:00 only as a closing time' } as const;
const interval = { type: 'object', required: ['open', 'close'], additionalProperties: false, properties: { open: wallTime, close: wallTime } } as const;

const definitionProperties = {
  timeZone: { type: 'string', minLength: 1, maxLength: 100, description: 'IANA time zone name, such as Europe/Prague' },
  weekly: {
    type: 'array',
    maxItems: 500,
    items: { type: 'object', required: ['day', 'open', 'close'], additionalProperties: false, properties: { day: { type: 'integer', minimum: 1, maximum: 7, description: '1 = Monday' }, open: wallTime, close: wallTime } },
  },
  exceptions: {
    type: 'array',
    maxItems: 1000,
    items: {
      type: 'object',
      required: ['date', 'open'],
      additionalProperties: false,
      properties: {
        date: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' },
        open: { type: 'boolean' },
        intervals: { type: 'array', maxItems: 50, items: interval },
        note: { type: 'string', maxLength: 500 },
      },
    },
  },
} as const;

const timeGroupResponse = {
  type: 'object',
  properties: { name: { type: 'string' }, ...definitionProperties, createdAt: timestamp },
} as const;

const createBody = {
  type: 'object',
  required: ['name', 'timeZone', 'weekly', 'exceptions'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, ...definitionProperties },
} as const;

export function registerTimeGroupRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db } = context;

  app.get(
    '/time-groups',
    { config: { access: 'admin' }, schema: { tags, summary: 'List time groups', response: { 200: { type: 'array', items: timeGroupResponse } } } },
    async () => (await listTimeGroups(db)).map((group) => ({ name: group.name, ...group.definition, createdAt: group.createdAt })),
  );

  app.get<{ Params: { name: string } }>(
    '/time-groups/:name',
    { config: { access: 'admin' }, schema: { tags, summary: 'Show a time group', params: nameParams, response: { 200: timeGroupResponse } } },
    async (request) => {
      const group = await findTimeGroupByName(db, request.params.name);
      if (group === null) throw notFound(`Time group "${request.params.name}"`);
      return { name: group.name, ...group.definition, createdAt: group.createdAt };
    },
  );

  app.post<{ Body: TimeGroupInput }>(
    '/time-groups',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Create a time group', body: createBody, response: { 201: timeGroupResponse, 409: { description: 'A time group of that name exists', $ref: 'ErrorBody#' } } },
    },
    async (request, reply) => {
      if ((await findTimeGroupByName(db, request.body.name)) !== null) {
        throw new ApiError(409, ErrorCode.Conflict, `Time group "${request.body.name}" already exists: choose another name`, { field: 'body.name' });
      }
      const group = await createTimeGroup(db, request.body);
      return reply.status(201).send({ name: group.name, ...group.definition, createdAt: group.createdAt });
    },
  );
}
