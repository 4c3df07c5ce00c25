import type { Knex } from 'knex';

import { isTemplateKind, templateKinds, validateTemplate, type TemplateKind } from '../domain/templates.js';
import { FailureType, MailqueueError } from '../errors.js';

/** A stored template of outgoing mail. */
export interface TemplateRecord {
  id: number;
  name: string;
  kind: TemplateKind;
  subject: string | null;
  text: string;
  html: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A template as written in a template file (`mailqueue templates create --file t.json`). */
export interface TemplateInput {
  name: string;
  kind: string;
  subject?: string | null;
  text: string;
  html?: string | null;
}

interface TemplateRow {
  id: number;
  name: string;
  kind: string;
  subject: string | null;
  text: string;
  html: string | null;
  created_at: Date;
  updated_at: Date;
}

const maxNameLength = 200;

function toRecord(row: TemplateRow): TemplateRecord {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind as TemplateKind,
    subject: row.subject,
    text: row.text,
    html: row.html,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Returns the problems with a name of a template or time group; empty when it is usable. */
export function validateRecordName(name: unknown, recordType: string): string[] {
  if (typeof name !== 'string' || name.trim() === '') return [`name is missing: give the ${recordType} a name such as "default".`];
  if (name !== name.trim()) return [`name ${JSON.stringify(name)} has spaces at its start or end: remove them.`];
  if (name.length > maxNameLength) return [`name is longer than ${maxNameLength} characters: shorten it.`];
  if (/[\u0000-\u001f\u007f]/.test(name)) return [`name ${JSON.stringify(name)} contains control characters: use printable characters only.`];
  return [];
}

function emptyToNull(value: string | null | undefined): string | null {
  return value === undefined || value === null || value === '' ? null : value;
}

/** Validates name, kind and every part; throws one InvalidConfiguration error listing all problems. */
function assertValidTemplate(input: TemplateInput): TemplateKind {
  const errors = validateRecordName(input.name, 'template');

  if (!isTemplateKind(input.kind)) {
    errors.push(`kind ${JSON.stringify(input.kind)} is unknown: use one of ${templateKinds.join(', ')}.`);
  } else if (typeof input.text !== 'string') {
    errors.push('text is missing: write the plain-text version of the template.');
  } else {
    errors.push(...validateTemplate(input.kind, input));
  }

  if (errors.length > 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Template ${JSON.stringify(input.name)} is invalid:\n  ${errors.join('\n  ')}`, { name: input.name, errors });
  }
  return input.kind as TemplateKind;
}

/**
 * Validates and stores a new template.
 *
 * @throws MailqueueError (InvalidConfiguration) listing every problem of the template,
 *   or when a template of that name exists.
 */
export async function createTemplate(db: Knex, input: TemplateInput): Promise<TemplateRecord> {
  const kind = assertValidTemplate(input);

  const existing = await findTemplateByName(db, input.name);
  if (existing) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Template "${input.name}" already exists: change it with \`mailqueue templates update --file\`, or choose another name.`, { name: input.name });
  }

  const [row] = await db('templates')
    .insert({ name: input.name, kind, subject: emptyToNull(input.subject), text: input.text, html: emptyToNull(input.html) })
    .returning<TemplateRow[]>('*');
  return toRecord(row);
}

/**
 * Replaces the subject, text and html of the template named `input.name`. The kind cannot
 * change, because queues refer to the template in a slot of that kind.
 *
 * @throws MailqueueError (InvalidConfiguration) when the template is invalid, missing, or
 *   `input.kind` differs from the stored kind.
 */
export async function updateTemplate(db: Knex, input: TemplateInput): Promise<TemplateRecord> {
  const kind = assertValidTemplate(input);

  const existing = await findTemplateByName(db, input.name);
  if (!existing) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Template "${input.name}" does not exist: create it with \`mailqueue templates create --file\`, or run \`mailqueue templates list\` for the names.`, { name: input.name });
  }
  if (existing.kind !== kind) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Template "${input.name}" is of kind ${existing.kind}, not ${kind}: keep the kind, or create a new template under another name.`, { name: input.name });
  }

  const [row] = await db('templates')
    .where({ id: existing.id })
    .update({ subject: emptyToNull(input.subject), text: input.text, html: emptyToNull(input.html), updated_at: db.fn.now() })
    .returning<TemplateRow[]>('*');
  return toRecord(row);
}

/** Lists templates ordered by name. */
export async function listTemplates(db: Knex): Promise<TemplateRecord[]> {
  const rows: TemplateRow[] = await db('templates').orderBy('name').select('*');
  return rows.map(toRecord);
}

export async function findTemplateByName(db: Knex, name: string): Promise<TemplateRecord | null> {
  const row: TemplateRow | undefined = await db('templates').where({ name }).first();
  return row ? toRecord(row) : null;
}

export async function findTemplateById(db: Knex, id: number): Promise<TemplateRecord | null> {
  const row: TemplateRow | undefined = await db('templates').where({ id }).first();
  return row ? toRecord(row) : null;
}
