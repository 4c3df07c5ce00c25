/**
 * Compares mailparser (simpleParser) and postal-mime on the shared corpus and the failure
 * cases: how often each gets the subject, the From address and display name, attachment
 * names and charset-sensitive text right, and how often it crashes or hangs.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/parser-compare.js
 * Reads ../shared relative to the repo root; prints one table and exits.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import PostalMime from 'postal-mime';
import { parse as parseYaml } from 'yaml';

interface LibraryView {
  subject: string;
  fromAddress: string;
  fromName: string;
  filenames: string[];
  text: string;
}

interface Expectation {
  subject?: string;
  fromAddress?: string;
  fromName?: string;
  filenames?: string[];
  bodyContains?: string[];
}

interface Tally {
  checks: number;
  right: number;
  subjectWrong: string[];
  fromWrong: string[];
  filenamesWrong: string[];
  bodyWrong: string[];
  crashes: string[];
  hangs: string[];
}

const hangMs = 5000;

/** Zammad invents these names; neither library is expected to produce them. */
const zammadInventedNames = new Set(['message.html', 'file']);

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sharedRoot = resolve(repoRoot, '..', 'shared');

async function viaMailparser(raw: Buffer): Promise<LibraryView> {
  const parsed = await simpleParser(raw);
  const first = parsed.from?.value[0];
  return {
    subject: parsed.subject ?? '',
    fromAddress: first?.address ?? '',
    fromName: first?.name ?? '',
    filenames: parsed.attachments.map((a) => a.filename ?? '').filter((n) => n !== ''),
    text: `${parsed.text ?? ''}\n${typeof parsed.html === 'string' ? parsed.html : ''}`,
  };
}

async function viaPostalMime(raw: Buffer): Promise<LibraryView> {
  const parsed = await PostalMime.parse(raw, { forceRfc822Attachments: true });
  const from = parsed.from;
  const mailbox = from !== undefined && 'address' in from ? from : undefined;
  return {
    subject: parsed.subject ?? '',
    fromAddress: mailbox?.address ?? '',
    fromName: mailbox?.name ?? '',
    filenames: parsed.attachments.map((a) => a.filename ?? '').filter((n) => n !== ''),
    text: `${parsed.text ?? ''}\n${parsed.html ?? ''}`,
  };
}

function withHangGuard<T>(work: Promise<T>): Promise<T | 'hang'> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<'hang'>((done) => {
    timer = setTimeout(() => done('hang'), hangMs);
  });
  return Promise.race([work, guard]).finally(() => clearTimeout(timer));
}

function zammadExpectation(ymlPath: string): Expectation {
  const doc: unknown = parseYaml(readFileSync(ymlPath, 'utf8'), { logLevel: 'silent' });
  if (typeof doc !== 'object' || doc === null) return {};
  const record = doc as Record<string, unknown>;
  const expectation: Expectation = {};
  if (typeof record.subject === 'string') expectation.subject = record.subject;
  if (typeof record.from_email === 'string') expectation.fromAddress = record.from_email;
  if (typeof record.from_display_name === 'string') expectation.fromName = record.from_display_name;
  if (Array.isArray(record.attachments)) {
    expectation.filenames = record.attachments
      .map((a: unknown) => (typeof a === 'object' && a !== null ? (a as Record<string, unknown>).filename : undefined))
      .filter((n): n is string => typeof n === 'string' && !zammadInventedNames.has(n));
  }
  return expectation;
}

function caseExpectation(caseDir: string, file: string): Expectation {
  const expectedPath = join(caseDir, 'expected.json');
  if (!existsSync(expectedPath)) return {};
  const expected = JSON.parse(readFileSync(expectedPath, 'utf8')) as Record<string, unknown>;
  const index = file.replace(/\.eml$/, '');
  const pick = (key: string): unknown => {
    const value = expected[key];
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[index] : undefined;
  };
  const expectation: Expectation = {};
  const subject = pick('subjects') ?? (index === '1' ? expected.subject : undefined);
  if (typeof subject === 'string') expectation.subject = subject;
  const name = pick('from_names');
  if (typeof name === 'string') expectation.fromName = name;
  const body = pick('body_contains');
  if (Array.isArray(body)) expectation.bodyContains = body.filter((b): b is string => typeof b === 'string');
  if (index === '1' && Array.isArray(expected.attachments)) {
    expectation.filenames = expected.attachments
      .map((a: unknown) => (typeof a === 'object' && a !== null ? (a as Record<string, unknown>).filename : undefined))
      .filter((n): n is string => typeof n === 'string');
  }
  return expectation;
}

function listInputs(): Array<{ label: string; path: string; expectation: Expectation }> {
  const inputs: Array<{ label: string; path: string; expectation: Expectation }> = [];
  const corpus = join(sharedRoot, 'corpus');
  const manifest = readFileSync(join(corpus, 'manifest.tsv'), 'utf8').split('\n').slice(1);
  for (const row of manifest) {
    const [path, , , , , expected] = row.split('\t');
    if (path === undefined || path === '') continue;
    const expectation = expected ? zammadExpectation(join(corpus, expected)) : {};
    inputs.push({ label: path, path: join(corpus, path), expectation });
  }
  const cases = join(sharedRoot, 'cases');
  for (const dir of readdirSync(cases).filter((d) => /^C\d+$/.test(d)).sort()) {
    for (const file of readdirSync(join(cases, dir)).filter((f) => /^\d+\.eml$/.test(f))) {
      inputs.push({ label: `cases/${dir}/${file}`, path: join(cases, dir, file), expectation: caseExpectation(join(cases, dir), file) });
    }
  }
  return inputs;
}

function score(tally: Tally, label: string, view: LibraryView, expectation: Expectation): void {
  const check = (ok: boolean, bucket: string[]): void => {
    tally.checks += 1;
    if (ok) tally.right += 1;
    else bucket.push(label);
  };
  if (expectation.subject !== undefined) check(view.subject.trim() === expectation.subject.trim(), tally.subjectWrong);
  if (expectation.fromAddress !== undefined) {
    check(view.fromAddress.toLowerCase() === expectation.fromAddress.toLowerCase(), tally.fromWrong);
  }
  if (expectation.fromName !== undefined) check(view.fromName.trim() === expectation.fromName.trim(), tally.fromWrong);
  if (expectation.filenames !== undefined) {
    const got = new Set(view.filenames);
    check(
      expectation.filenames.every((n) => got.has(n)),
      tally.filenamesWrong,
    );
  }
  if (expectation.bodyContains !== undefined) {
    const flat = view.text.replace(/\s+/g, ' ');
    check(expectation.bodyContains.every((b) => flat.includes(b)), tally.bodyWrong);
  }
}

async function main(): Promise<void> {
  if (!existsSync(sharedRoot)) {
    console.log(`no test data at ${sharedRoot}; nothing to compare`);
    return;
  }
  const inputs = listInputs();
  const libraries: Array<[string, (raw: Buffer) => Promise<LibraryView>]> = [
    ['mailparser', viaMailparser],
    ['postal-mime', viaPostalMime],
  ];
  for (const [name, run] of libraries) {
    const tally: Tally = { checks: 0, right: 0, subjectWrong: [], fromWrong: [], filenamesWrong: [], bodyWrong: [], crashes: [], hangs: [] };
    const started = Date.now();
    for (const input of inputs) {
      const raw = readFileSync(input.path);
      try {
        const view = await withHangGuard(run(raw));
        if (view === 'hang') tally.hangs.push(input.label);
        else score(tally, input.label, view, input.expectation);
      } catch (error) {
        tally.crashes.push(`${input.label}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    console.log(`\n## ${name}: ${inputs.length} files, ${Date.now() - started} ms`);
    console.log(`checks right: ${tally.right}/${tally.checks}`);
    console.log(`subject wrong (${tally.subjectWrong.length}): ${tally.subjectWrong.join(', ')}`);
    console.log(`from wrong (${tally.fromWrong.length}): ${tally.fromWrong.join(', ')}`);
    console.log(`attachment names wrong (${tally.filenamesWrong.length}): ${tally.filenamesWrong.join(', ')}`);
    console.log(`body text wrong (${tally.bodyWrong.length}): ${tally.bodyWrong.join(', ')}`);
    console.log(`crashes (${tally.crashes.length}): ${tally.crashes.join('; ')}`);
    console.log(`hangs (${tally.hangs.length}): ${tally.hangs.join(', ')}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
