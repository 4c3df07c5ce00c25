import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { describeIssues } from '../../domain/validation-messages.js';

/**
 * Reads a JSON file and checks its shape with `schema`. The Error it throws names the file
 * and, for a wrong shape, lists one line per bad field, so the CLI can print it unchanged.
 */
export async function readJsonFile<Schema extends z.ZodType>(path: string, fileType: string, schema: Schema): Promise<z.output<Schema>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read ${fileType} file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }

  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`${fileType} file ${path} is not valid JSON: ${(error as Error).message}`);
  }

  const result = schema.safeParse(document);
  if (!result.success) {
    const lines = describeIssues(result.error.issues);
    throw new Error(`${fileType} file ${path} is invalid:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}
