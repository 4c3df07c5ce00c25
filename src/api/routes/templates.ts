import type { FastifyInstance } from 'fastify';
import { createTemplate, findTemplateByName, listTemplates, updateTemplate } from '../../db/templates.js';
import { templateKinds } from '../../domain/templates.js';
import { ApiError, ErrorCode, notFound } from '../errors.js';
import { nameParams, nullableString, timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';

/** Templates of outgoing mail (sender info, signature, survey block, auto-response); admin only. */

const tags = ['templates'];

const templateResponse = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    kind: { type: 'string', enum: [...templateKinds] },
    subject: nullableString,
    text: { type: 'string' },
    html: nullableString,
    createdAt: timestamp,
    updatedAt: timestamp,
  },
} as const;

const templateParts = {
  subject: { type: ['string', 'null'], maxLength: 10_000 },
  text: { type: 'string', maxLength: 1_000_000 },
  html: { type: ['string', 'null'], maxLength: 1_000_000 },
} as const;

const createBody = {
  type: 'object',
  required: ['name', 'kind', 'text'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, kind: { type: 'string', enum: [...templateKinds] }, ...templateParts },
} as const;

const updateBody = {
  type: 'object',
  required: ['kind', 'text'],
  additionalProperties: false,
  properties: { kind: { type: 'string', enum: [...templateKinds], description: 'Must equal the stored kind' }, ...templateParts },
} as const;

interface TemplateBody {
  kind: string;
  subject?: string | null;
  text: string;
  html?: string | null;
}

export function registerTemplateRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db } = context;

  app.get(
    '/templates',
    { config: { access: 'admin' }, schema: { tags, summary: 'List templates', response: { 200: { type: 'array', items: templateResponse } } } },
    async () => listTemplates(db),
  );

  app.get<{ Params: { name: string } }>(
    '/templates/:name',
    { config: { access: 'admin' }, schema: { tags, summary: 'Show a template', params: nameParams, response: { 200: templateResponse } } },
    async (request) => {
      const template = await findTemplateByName(db, request.params.name);
      if (template === null) throw notFound(`Template "${request.params.name}"`);
      return template;
    },
  );

  app.post<{ Body: TemplateBody & { name: string } }>(
    '/templates',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Create a template',
        description: 'docs/templates.md lists the variables each kind may use; an unknown variable is a validation error.',
        body: createBody,
        response: { 201: templateResponse, 409: { description: 'A template of that name exists', $ref: 'ErrorBody#' } },
      },
    },
    async (request, reply) => {
      if ((await findTemplateByName(db, request.body.name)) !== null) {
        throw new ApiError(409, ErrorCode.Conflict, `Template "${request.body.name}" already exists: change it with PUT /templates/{name}, or choose another name`, { field: 'body.name' });
      }
      return reply.status(201).send(await createTemplate(db, request.body));
    },
  );

  app.put<{ Params: { name: string }; Body: TemplateBody }>(
    '/templates/:name',
    {
      config: { access: 'admin' },
      schema: { tags, summary: "Replace a template's subject, text and html", params: nameParams, body: updateBody, response: { 200: templateResponse } },
    },
    async (request) => {
      if ((await findTemplateByName(db, request.params.name)) === null) throw notFound(`Template "${request.params.name}"`);
      return updateTemplate(db, { ...request.body, name: request.params.name });
    },
  );
}
