import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseMessage } from '../../src/mail/parse.js';
import type { ParsedMessage } from '../../src/mail/parsed-message.js';
import { noSharedData, sharedRoot } from './shared-data.js';

/** Same budget the product uses; a corpus file over it counts as a hang. */
const budgetMs = 5000;

interface Expected {
  subject?: string;
  fromEmail?: string;
  fromName?: string;
  filenames?: string[];
}

/**
 * Zammad expectations that are Zammad's own conventions or its known mis-decodings, not
 * facts about the message. Each entry names the file, the field and why it is not checked.
 */
const skipList: Record<string, Partial<Record<keyof Expected, string>>> = {
  'zammad/mail016.eml': { fromEmail: 'no From header; Zammad falls back to Reply-To, we report From as sent (empty)', fromName: 'same as fromEmail' },
  'zammad/mail046.eml': {
    subject: 'raw GB2312 subject while the first text part declares iso-8859-1; Zammad guesses the charset, our rule uses the declared one',
    fromName: 'Zammad expects its own mojibake of the raw GB2312 display name',
  },
  'zammad/mail065.eml': { fromName: 'Zammad splits the list at the comma inside an encoded-word; we keep the encoded-word whole' },
  'zammad/mail076.eml': { fromName: 'Zammad turns the broken address into a display name; the address itself is checked' },
  'zammad/mail087.eml': { fromName: 'Zammad copies the address into the display name when there are no angle brackets' },
  'zammad/mail092.eml': { filenames: 'the returned message part is empty; Zammad names it "Mail.eml", we name it from its Content-Description' },
  'zammad/mail093.eml': {
    subject: 'raw Shift_JIS bytes without a declaration; Zammad guesses Shift_JIS, our rule gives windows-1252',
    fromName: 'encoded-word declares ISO-2022-JP but holds Shift_JIS bytes; Zammad guesses, we decode as declared',
  },
  'zammad/mail117.eml': { fromEmail: 'Zammad decodes an encoded-word inside the address; RFC 2047 forbids it there and we keep the address verbatim' },
  'zammad/mail118.eml': { fromEmail: 'same as mail117: encoded-word inside the address is not decoded' },
};

/** File names Zammad invents for parts that have none; we invent different ones. */
const zammadInventedNames = new Map<string, string>([
  ['message.html', 'Zammad keeps the original HTML part as an attachment; we keep it as the sanitised body'],
  ['file', 'Zammad names nameless parts "file"; we name them from the content type'],
  ['Delivery report.txt', 'Zammad names delivery-status parts "Delivery report.txt"; we use delivery-status.txt'],
]);

function readExpected(path: string): Expected {
  const doc: unknown = parseYaml(readFileSync(path, 'utf8'), { logLevel: 'silent' });
  if (typeof doc !== 'object' || doc === null) return {};
  const record = doc as Record<string, unknown>;
  const expected: Expected = {};
  if (typeof record.subject === 'string') expected.subject = record.subject;
  if (typeof record.from_email === 'string') expected.fromEmail = record.from_email;
  if (typeof record.from_display_name === 'string') expected.fromName = record.from_display_name;
  if (Array.isArray(record.attachments)) {
    expected.filenames = record.attachments
      .map((a: unknown) => (typeof a === 'object' && a !== null ? (a as Record<string, unknown>).filename : undefined))
      .filter((n): n is string => typeof n === 'string' && !zammadInventedNames.has(n));
  }
  return expected;
}

function manifestRows(root: string): Array<{ path: string; expected: string }> {
  return readFileSync(join(root, 'corpus', 'manifest.tsv'), 'utf8')
    .split('\n')
    .slice(1)
    .map((row) => row.split('\t'))
    .filter((cols) => (cols[0] ?? '') !== '')
    .map((cols) => ({ path: cols[0] ?? '', expected: cols[5] ?? '' }));
}

function checks(label: string, parsed: ParsedMessage, expected: Expected): Array<[string, () => void]> {
  const skip = skipList[label] ?? {};
  const first = parsed.from[0];
  const list: Array<[string, () => void]> = [];
  if (expected.subject !== undefined && skip.subject === undefined) {
    const want = expected.subject;
    list.push(['subject', () => assert.equal(parsed.subject.trim(), want.trim())]);
  }
  if (expected.fromEmail !== undefined && skip.fromEmail === undefined) {
    const want = expected.fromEmail;
    list.push(['from address', () => assert.equal((first?.address ?? '').toLowerCase(), want.toLowerCase())]);
  }
  if (expected.fromName !== undefined && skip.fromName === undefined) {
    const want = expected.fromName.replace(/^"|"$/g, '').trim();
    list.push(['from name', () => assert.equal((first?.name ?? '').trim(), want)]);
  }
  if (expected.filenames !== undefined && skip.filenames === undefined) {
    const want = expected.filenames;
    list.push(['attachment names', () => assert.deepEqual(want.filter((n) => !parsed.attachments.some((a) => a.filename === n)), [])]);
  }
  return list;
}

test('corpus messages parse within budget', { skip: sharedRoot === null ? noSharedData : false }, async (t) => {
  const root = sharedRoot ?? '';
  for (const row of manifestRows(root)) {
    await t.test(row.path, async (fileTest) => {
      const raw = readFileSync(join(root, 'corpus', row.path));
      const started = Date.now();
      const parsed = await parseMessage(raw, { timeoutMs: budgetMs });
      const elapsed = Date.now() - started;

      assert.ok(elapsed < budgetMs + 1000, `took ${elapsed} ms`);
      assert.equal(parsed.parseError, null);
      assert.ok(!JSON.stringify({ ...parsed, attachments: parsed.attachments.map((a) => a.filename) }).includes('\\u0000'));
      if (row.expected === '') return;

      for (const [name, check] of checks(row.path, parsed, readExpected(join(root, 'corpus', row.expected)))) {
        await fileTest.test(name, check);
      }
    });
  }
});
