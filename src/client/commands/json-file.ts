import { readFile } from 'node:fs/promises';
import type { z } from 'zod';

/**
 * Reads a JSON file and checks its shape with `schema`. Throws an Error naming the file
 * and, for a wrong shape, one line per bad field, so the CLI can print it as it is.
 */
export async function readJsonFile<Schema extends z.ZodType>(path: string, what: string, schema: Schema): Promise<z.output<Schema>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }

  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`${what} file ${path} is not valid JSON: ${(error as Error).message}`);
  }

  const result = schema.safeParse(document);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(document)'}: ${issue.message}`);
    throw new Error(`${what} file ${path} is invalid:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}
