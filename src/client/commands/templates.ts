import type { Command } from 'commander';
import { z } from 'zod';

import { createTemplate, findTemplateByName, listTemplates, updateTemplate, type TemplateRecord } from '../../db/templates.js';
import { templateKinds } from '../../domain/templates.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, terminalSafe } from '../output.js';
import { readJsonFile } from './json-file.js';

/** Shape of a template file; the content is checked by createTemplate/updateTemplate. */
const templateFileSchema = z
  .object({
    name: z.string(),
    kind: z.string(),
    subject: z.string().nullable().optional(),
    text: z.string(),
    html: z.string().nullable().optional(),
  })
  .strict();

/** Builds the `--json` form of a template. */
export function templateJson(template: TemplateRecord) {
  return {
    name: template.name,
    kind: template.kind,
    subject: template.subject,
    text: template.text,
    html: template.html,
    createdAt: template.createdAt,
    updatedAt: template.updatedAt,
  };
}

const fileHelp = `template in JSON: { "name", "kind" (${templateKinds.join(', ')}), "subject"?, "text", "html"? } (see docs/templates.md)`;

export function registerTemplateCommands(program: Command, run: (action: (context: CliContext) => Promise<void>) => Promise<void>): void {
  const templates = program.command('templates').description('create and inspect templates of outgoing mail (see docs/templates.md)');

  templates
    .command('create')
    .description('create a template from a JSON file; it is validated before it is saved')
    .requiredOption('--file <path>', fileHelp)
    .action((options: { file: string }) =>
      run(async (context) => {
        const input = await readJsonFile(options.file, 'Template', templateFileSchema);
        const created = await createTemplate(context.db(), input);
        process.stdout.write(`Created ${created.kind} template "${terminalSafe(created.name)}".\n`);
      }),
    );

  templates
    .command('update')
    .description('replace the subject, text and html of the template named in the file')
    .requiredOption('--file <path>', fileHelp)
    .action((options: { file: string }) =>
      run(async (context) => {
        const input = await readJsonFile(options.file, 'Template', templateFileSchema);
        const updated = await updateTemplate(context.db(), input);
        process.stdout.write(`Updated ${updated.kind} template "${terminalSafe(updated.name)}"; queues that use it send the new text from now on.\n`);
      }),
    );

  templates
    .command('list')
    .description('list templates')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      run(async (context) => {
        const rows = await listTemplates(context.db());
        if (options.json) {
          printJson(rows.map(templateJson));
          return;
        }
        printTable(
          ['NAME', 'KIND', 'SUBJECT', 'HTML', 'UPDATED'],
          rows.map((t) => [terminalSafe(t.name), t.kind, t.subject === null ? null : terminalSafe(t.subject), t.html !== null, t.updatedAt]),
        );
      }),
    );

  templates
    .command('show <name>')
    .description('show a template')
    .option('--json', 'print JSON')
    .action((name: string, options: { json?: boolean }) =>
      run(async (context) => {
        const template = await findTemplateByName(context.db(), name);
        if (!template) throw new Error(`Template "${name}" does not exist: run \`mailqueue templates list\` for the names`);
        if (options.json) {
          printJson(templateJson(template));
          return;
        }
        process.stdout.write(`name     ${terminalSafe(template.name)}\nkind     ${template.kind}\nupdated  ${template.updatedAt}\n`);
        if (template.subject !== null) process.stdout.write(`subject  ${terminalSafe(template.subject)}\n`);
        process.stdout.write(`\n--- text\n${template.text}\n`);
        if (template.html !== null) process.stdout.write(`\n--- html\n${template.html}\n`);
      }),
    );
}
