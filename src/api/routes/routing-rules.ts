import type { FastifyInstance } from 'fastify';
import { checkRoutingRuleReferences, createRoutingRule, deleteRoutingRule, findRoutingRule, listRoutingRules, moveRoutingRule, updateRoutingRule } from '../../db/routing-rules.js';
import { parseRoutingRule, routingRuleSchema, type RoutingRule } from '../../domain/routing-rules.js';
import { fromFieldIssues, notFound } from '../errors.js';
import { bodyIssuesFromLines, jsonSchemaOf, positiveInteger, timestamp } from '../schemas.js';
import type { RouteContext } from '../server.js';
import type { Knex } from 'knex';

/** Routing rules: conditions on incoming mail and the ticket fields they set; admin only. */

const tags = ['routing-rules'];

const ruleDocument = jsonSchemaOf(routingRuleSchema, 'A routing rule document (docs/routing-rules.md).');

const ruleResponse = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    position: { type: 'integer', description: 'Place in evaluation order, 1 first' },
    name: { type: 'string' },
    active: { type: 'boolean' },
    rule: { type: 'object', additionalProperties: true },
    createdAt: timestamp,
    updatedAt: timestamp,
  },
} as const;

const idParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: positiveInteger } } as const;
const positionQuery = { type: 'object', additionalProperties: false, properties: { position: { ...positiveInteger, description: 'Place in evaluation order, 1 first; default last' } } } as const;

/**
 * Parses a rule and checks what it names (queues, categories, statuses, owners), so each
 * problem is reported with its field. The repository checks again inside its transaction.
 */
async function validRule(db: Knex, document: unknown): Promise<RoutingRule> {
  const parsed = parseRoutingRule(document);
  if (!parsed.ok) throw fromFieldIssues(bodyIssuesFromLines(parsed.errors));
  const problems = await checkRoutingRuleReferences(db, parsed.rule);
  if (problems.length > 0) throw fromFieldIssues(bodyIssuesFromLines(problems));
  return parsed.rule;
}

export function registerRoutingRuleRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db } = context;

  app.get(
    '/routing-rules',
    { config: { access: 'admin' }, schema: { tags, summary: 'List routing rules in evaluation order', response: { 200: { type: 'array', items: ruleResponse } } } },
    async () => listRoutingRules(db),
  );

  app.post<{ Body: unknown; Querystring: { position?: number } }>(
    '/routing-rules',
    { config: { access: 'admin' }, schema: { tags, summary: 'Create a routing rule', querystring: positionQuery, body: ruleDocument, response: { 201: ruleResponse } } },
    async (request, reply) => {
      await validRule(db, request.body);
      return reply.status(201).send(await createRoutingRule(db, request.body, { position: request.query.position }));
    },
  );

  app.get<{ Params: { id: number } }>(
    '/routing-rules/:id',
    { config: { access: 'admin' }, schema: { tags, summary: 'Show a routing rule', params: idParams, response: { 200: ruleResponse } } },
    async (request) => {
      const rule = await findRoutingRule(db, request.params.id);
      if (rule === null) throw notFound(`Routing rule ${request.params.id}`);
      return rule;
    },
  );

  app.put<{ Params: { id: number }; Body: unknown }>(
    '/routing-rules/:id',
    { config: { access: 'admin' }, schema: { tags, summary: "Replace a routing rule's document; its position stays", params: idParams, body: ruleDocument, response: { 200: ruleResponse } } },
    async (request) => {
      if ((await findRoutingRule(db, request.params.id)) === null) throw notFound(`Routing rule ${request.params.id}`);
      await validRule(db, request.body);
      return updateRoutingRule(db, request.params.id, request.body);
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/routing-rules/:id',
    { config: { access: 'admin' }, schema: { tags, summary: 'Delete a routing rule', params: idParams, response: { 204: { type: 'null', description: 'Deleted' } } } },
    async (request, reply) => {
      if (!(await deleteRoutingRule(db, request.params.id))) throw notFound(`Routing rule ${request.params.id}`);
      return reply.status(204).send();
    },
  );

  app.post<{ Params: { id: number }; Body: { position: number } }>(
    '/routing-rules/:id/move',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Move a routing rule to another place in the order',
        params: idParams,
        body: { type: 'object', required: ['position'], additionalProperties: false, properties: { position: positiveInteger } },
        response: { 200: { type: 'array', items: ruleResponse } },
      },
    },
    async (request) => {
      if ((await findRoutingRule(db, request.params.id)) === null) throw notFound(`Routing rule ${request.params.id}`);
      return moveRoutingRule(db, request.params.id, request.body.position);
    },
  );
}
