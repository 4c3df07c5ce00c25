import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseMessage } from '../../src/mail/parse.js';
import { caseExpected, caseFile, noSharedData, sharedRoot } from './shared-data.js';

const needsShared = { skip: sharedRoot === null ? noSharedData : false };

/** Builds a CRLF message; Buffer parts are inserted as raw bytes (for 8-bit content). */
function message(...lines: Array<string | Buffer>): Buffer {
  return Buffer.concat(lines.flatMap((line) => [typeof line === 'string' ? Buffer.from(line, 'utf8') : line, Buffer.from('\r\n')]));
}

function expectedMap(caseId: string, key: string): Record<string, string> {
  return caseExpected(caseId)[key] as Record<string, string>;
}

// Charsets

test('windows-1250 html body decodes', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C20', '1.eml'));
  for (const phrase of ['tiskárna v kanceláři č. 214 hlásí chybu papíru', 'Děkuji, Jiří Dvořák']) {
    assert.ok(parsed.html?.includes(phrase), `html lacks "${phrase}"`);
  }
  assert.equal(parsed.subject, expectedMap('C20', 'subjects')['1']);
  assert.equal(parsed.from[0]?.name, expectedMap('C20', 'from_names')['1']);
});

test('missing charset 8-bit body uses windows-1252', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C20', '2.eml'));
  assert.ok(parsed.text.includes('vores kølerum på lager 2 viser forkert temperatur'));
  assert.equal(parsed.from[0]?.name, expectedMap('C20', 'from_names')['2']);
});

test('missing charset euro sign is windows-1252', async () => {
  const raw = message('From: a@example.com', 'Subject: price', 'Content-Type: text/plain', 'Content-Transfer-Encoding: 8bit', '', Buffer.from([0x80, 0x20, 0x35, 0x93, 0x6f, 0x6b, 0x94]));
  const parsed = await parseMessage(raw);
  assert.equal(parsed.text.trim(), '€ 5“ok”');
});

test('missing charset valid utf-8 stays utf-8', async () => {
  const raw = message('From: a@example.com', 'Subject: utf', 'Content-Type: text/plain', 'Content-Transfer-Encoding: 8bit', '', 'Grüße aus Köln');
  const parsed = await parseMessage(raw);
  assert.equal(parsed.text.trim(), 'Grüße aus Köln');
});

// Encoded-words

test('split q encoded-word joins bytes', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C22', '1.eml'));
  assert.equal(parsed.subject, expectedMap('C22', 'subjects')['1']);
  assert.equal(parsed.from[0]?.name, expectedMap('C22', 'from_names')['1']);
});

test('split b encoded-word joins bytes', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C22', '2.eml'));
  assert.equal(parsed.subject, expectedMap('C22', 'subjects')['2']);
  assert.ok(!JSON.stringify(parsed.headers).includes('\uFFFD'));
});

test('inline split encoded-word display name', async () => {
  // "Ž" is C5 BD in UTF-8; the two bytes sit in two encoded-words.
  const raw = message('From: =?UTF-8?Q?R=C5=ABta_=C5?= =?UTF-8?Q?=BDemait=C4=97?= <r@example.lt>', 'Subject: x', '', 'body');
  const parsed = await parseMessage(raw);
  assert.equal(parsed.from[0]?.name, 'Rūta Žemaitė');
});

// Raw 8-bit headers

test('raw utf-8 header bytes decode', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C23', '1.eml'));
  assert.equal(parsed.subject, expectedMap('C23', 'subjects')['1']);
  assert.equal(parsed.from[0]?.name, expectedMap('C23', 'from_names')['1']);
});

test('raw latin-1 header bytes decode', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C23', '2.eml'));
  assert.equal(parsed.subject, expectedMap('C23', 'subjects')['2']);
  assert.equal(parsed.from[0]?.name, expectedMap('C23', 'from_names')['2']);
});

test('raw header uses body charset', async () => {
  // "Привет" in windows-1251, declared only on the text part.
  const cp1251 = Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2]);
  const raw = message(Buffer.concat([Buffer.from('Subject: '), cp1251]), 'From: a@example.com', 'Content-Type: text/plain; charset=windows-1251', '', 'x');
  const parsed = await parseMessage(raw);
  assert.equal(parsed.subject, 'Привет');
});

// NUL bytes

test('nul bytes removed from strings', needsShared, async () => {
  for (const file of ['1.eml', '2.eml']) {
    const parsed = await parseMessage(caseFile('C26', file));
    const strings = JSON.stringify({ ...parsed, attachments: parsed.attachments.map(({ content: _content, ...rest }) => rest) });
    assert.ok(!strings.includes('\\u0000'), `${file} has U+0000`);
  }
});

test('nul message keeps its text', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C26', '2.eml'));
  assert.ok(parsed.text.includes('Row 4411 contains a NUL byte here:<- end.'));
  assert.equal(parsed.subject, expectedMap('C26', 'subjects')['2']);
});

test('attachment bytes keep nul', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C26', '1.eml'));
  const expected = (caseExpected('C26').attachments as Record<string, Array<{ sha256: string; size: number }>>)['1']?.[0];
  const dump = parsed.attachments.find((a) => a.filename === 'dump.bin');
  assert.equal(dump?.sha256, expected?.sha256);
  assert.equal(dump?.sha256, createHash('sha256').update(dump?.content ?? Buffer.alloc(0)).digest('hex'));
  assert.equal(dump?.size, expected?.size);
});

// Attachment names

test('rfc 2231 and 2047 names', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C27', '1.eml'));
  const expected = caseExpected('C27').attachments as Array<{ filename: string; size: number; content_type: string }>;
  assert.deepEqual(
    parsed.attachments.map((a) => [a.filename, a.size, a.contentType]),
    expected.map((a) => [a.filename, a.size, a.content_type]),
  );
});

test('path separators removed from names', async () => {
  const raw = message(
    'From: a@example.com',
    'Subject: x',
    'Content-Type: multipart/mixed; boundary=b',
    '',
    '--b',
    'Content-Type: text/plain',
    '',
    'hi',
    '--b',
    'Content-Type: application/octet-stream',
    'Content-Disposition: attachment; filename="..\\\\..\\\\evil/\u0007name.txt"',
    '',
    'data',
    '--b--',
  );
  const parsed = await parseMessage(raw);
  const name = parsed.attachments[0]?.filename ?? '';
  assert.doesNotMatch(name, /[/\\\u0000-\u001f]/);
  assert.ok(name.endsWith('name.txt'), name);
});

test('nameless part named from type', async () => {
  const raw = message(
    'From: a@example.com',
    'Subject: x',
    'Content-Type: multipart/mixed; boundary=b',
    '',
    '--b',
    'Content-Type: text/plain',
    '',
    'hi',
    '--b',
    'Content-Type: application/pdf',
    'Content-Transfer-Encoding: base64',
    '',
    'JVBERi0xLjQK',
    '--b--',
  );
  const parsed = await parseMessage(raw);
  assert.equal(parsed.attachments[0]?.filename, 'attachment.pdf');
});

test('forwarded message kept as eml', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C30', '1.eml'));
  const expected = (caseExpected('C30').attachments as Array<{ filename: string; size: number }>)[0];
  assert.equal(parsed.attachments.length, 1);
  assert.equal(parsed.attachments[0]?.filename, expected?.filename);
  assert.equal(parsed.attachments[0]?.size, expected?.size);
  assert.equal(parsed.messageId, 'c30-outer@partner.example.com');
  assert.equal(parsed.subject, caseExpected('C30').subject);
  assert.ok(!parsed.text.includes('Damaged pallet'), 'inner text spliced into body');
});

// HTML body and inline images

test('nested related html body found', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C29', '1.eml'));
  for (const phrase of ['the error dialog looks like this', 'Measurement report attached.']) {
    assert.ok(parsed.html?.includes(phrase), `html lacks "${phrase}"`);
  }
  assert.ok(!parsed.attachments.some((a) => a.contentType === 'text/html'));
});

test('cid and bare src inline', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C29', '1.eml'));
  const inline = parsed.attachments.filter((a) => a.inline).map((a) => [a.filename, a.contentId]);
  const regular = parsed.attachments.filter((a) => !a.inline).map((a) => a.filename);
  const expected = caseExpected('C29').inline_images as Array<{ filename: string; content_id: string }>;
  assert.deepEqual(inline, expected.map((i) => [i.filename, i.content_id]));
  assert.deepEqual(regular, ['measurement.pdf']);
});

test('unreferenced image not inline', async () => {
  const raw = message(
    'From: a@example.com',
    'Subject: x',
    'Content-Type: multipart/related; boundary=b',
    '',
    '--b',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p>no images here</p>',
    '--b',
    'Content-Type: image/png; name=a.png',
    'Content-ID: <unused@x>',
    'Content-Transfer-Encoding: base64',
    '',
    'iVBORw0KGgo=',
    '--b--',
  );
  const parsed = await parseMessage(raw);
  assert.equal(parsed.attachments[0]?.inline, false);
});

test('active content removed from html', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C37', '1.eml'));
  const expected = caseExpected('C37');
  for (const bad of expected.body_html_must_not_contain as string[]) {
    assert.ok(!(parsed.html ?? '').toLowerCase().includes(bad.toLowerCase()), `html contains "${bad}"`);
  }
  for (const good of expected.body_html_must_contain as string[]) {
    assert.ok(parsed.html?.includes(good), `html lacks "${good}"`);
  }
  assert.equal(parsed.subject, expected.subject);
});

test('html links and images filtered', async () => {
  const html =
    '<div style="display:none;color:red">hidden</div><a href="https://example.com/x">l</a>' +
    '<a href="javascript:alert(1)">j</a><img src="http://tracker.example.com/p.gif"><img src="cid:abc"><img src="data:image/png;base64,AAAA">' +
    '<meta http-equiv="refresh" content="0"><table><tr><td onclick="x()">cell</td></tr></table><form><input></form><iframe src="https://e.com"></iframe>';
  const raw = message('From: a@example.com', 'Subject: x', 'Content-Type: text/html; charset=utf-8', '', html);
  const out = (await parseMessage(raw)).html ?? '';
  assert.ok(out.includes('rel="nofollow noreferrer noopener"'));
  assert.ok(out.includes('href="https://example.com/x"'));
  assert.ok(!out.includes('javascript:'));
  assert.ok(!out.includes('display'));
  assert.ok(out.includes('color:red'));
  assert.ok(!out.includes('tracker.example.com'));
  assert.ok(out.includes('src="cid:abc"'));
  assert.ok(out.includes('src="data:image/png;base64,AAAA"'));
  assert.ok(!out.includes('http-equiv'));
  assert.ok(out.includes('<td>cell</td>'));
  assert.ok(!out.includes('<form'));
  assert.ok(!out.includes('<iframe'));
});

test('plain text message has null html', async () => {
  const parsed = await parseMessage(message('From: a@example.com', 'Subject: x', '', 'just text'));
  assert.equal(parsed.html, null);
});

// Addresses

test('name-only from has null address', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C34', '1.eml'));
  assert.equal(parsed.from.length, 1);
  assert.equal(parsed.from[0]?.address, null);
  assert.ok((parsed.from[0]?.name ?? '') !== '');
  assert.equal(parsed.returnPath, 'scan2@devices.example.com');
});

test('several from mailboxes plus sender', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C34', '2.eml'));
  assert.deepEqual(parsed.from.map((a) => a.address), ['ann.lee@example.com', 'bo.park@example.com']);
  assert.equal(parsed.sender?.address, 'ann.lee@example.com');
});

test('empty group yields no recipients', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C34', '3.eml'));
  assert.deepEqual(parsed.to, []);
});

test('groups comments and quoting', async () => {
  const raw = message(
    'From: "Doe, Jane" <jane@example.com>',
    'To: Team: a@example.com, "B B" <b@example.com>;, c@example.com (Cee)',
    'Cc: undisclosed-recipients:;',
    'Return-Path: <>',
    'Subject: x',
    '',
    'body',
  );
  const parsed = await parseMessage(raw);
  assert.deepEqual(parsed.from, [{ name: 'Doe, Jane', address: 'jane@example.com' }]);
  assert.deepEqual(parsed.to, [
    { name: '', address: 'a@example.com' },
    { name: 'B B', address: 'b@example.com' },
    { name: 'Cee', address: 'c@example.com' },
  ]);
  assert.deepEqual(parsed.cc, []);
  assert.equal(parsed.returnPath, '');
});

// Message ids, headers, date

test('threading headers parsed', async () => {
  const raw = message(
    'Message-ID: <m1@example.com>',
    'In-Reply-To: <p@example.com> (comment)',
    'References: <r1@example.com><r2@example.com>,',
    ' <r3@example.com>',
    'Subject: x',
    '',
    'b',
  );
  const parsed = await parseMessage(raw);
  assert.equal(parsed.messageId, 'm1@example.com');
  assert.equal(parsed.messageIdSynthetic, false);
  assert.deepEqual(parsed.inReplyTo, ['p@example.com']);
  assert.deepEqual(parsed.references, ['r1@example.com', 'r2@example.com', 'r3@example.com']);
});

test('missing message-id gets stable synthetic', async () => {
  const raw = message('From: a@example.com', 'Subject: no id', '', 'b');
  const first = await parseMessage(raw);
  const second = await parseMessage(Buffer.from(raw));
  const other = await parseMessage(message('From: a@example.com', 'Subject: other', '', 'b'));
  assert.equal(first.messageIdSynthetic, true);
  assert.equal(first.messageId, second.messageId);
  assert.notEqual(first.messageId, other.messageId);
  assert.match(first.messageId, /@mailqueue\.invalid$/);
});

test('headers listed in order decoded', async () => {
  const parsed = await parseMessage(message('X-First: one', 'Subject: =?utf-8?Q?f=C3=BCr?=', ' folded', '', 'b'));
  const withNul = await parseMessage(Buffer.concat([Buffer.from('X-Nul: a'), Buffer.from([0]), Buffer.from('b\r\n\r\nbody')]));
  assert.deepEqual(parsed.headers, [
    ['x-first', 'one'],
    ['subject', 'für folded'],
  ]);
  assert.deepEqual(withNul.headers, [['x-nul', 'ab']]);
});

test('date iso or null', async () => {
  const good = await parseMessage(message('Date: Mon, 14 Apr 2025 06:00:00 +0200 (CEST)', 'Subject: x', '', 'b'));
  const bad = await parseMessage(message('Date: yesterday-ish', 'Subject: x', '', 'b'));
  assert.equal(good.date, '2025-04-14T04:00:00.000Z');
  assert.equal(bad.date, null);
});

test('top-level content type lowercased', async () => {
  const parsed = await parseMessage(message('Content-Type: Multipart/Mixed; boundary=b', 'Subject: x', '', '--b', '', 'x', '--b--'));
  assert.equal(parsed.contentType, 'multipart/mixed');
});

// Bounces

test('dsn bounce report read', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C17', '2.eml'));
  const expected = caseExpected('C17').delivery_failure_recorded as { recipient: string; status: string };
  assert.equal(parsed.bounce?.recipients[0]?.address, expected.recipient);
  assert.equal(parsed.bounce?.recipients[0]?.status, expected.status);
  assert.equal(parsed.bounce?.recipients[0]?.action, 'failed');
  assert.ok((parsed.bounce?.recipients[0]?.diagnostic ?? '').includes('5.2.2'));
  assert.deepEqual(parsed.bounce?.originalMessageIds, ['ar-100001@helpdesk.example.com']);
  assert.equal(parsed.returnPath, '');
});

test('forwarded message is no bounce', needsShared, async () => {
  const parsed = await parseMessage(caseFile('C30', '1.eml'));
  assert.equal(parsed.bounce, null);
});

test('non-standard bounce with returned message', async () => {
  const raw = message(
    'From: MAILER-DAEMON@mx.example.com',
    'Subject: failure notice',
    'Content-Type: multipart/mixed; boundary=b',
    '',
    '--b',
    'Content-Type: text/plain',
    '',
    'Could not deliver.',
    '--b',
    'Content-Type: message/rfc822',
    '',
    'Message-ID: <orig-1@helpdesk.example.com>',
    'Subject: Your ticket',
    '',
    'hello',
    '--b--',
  );
  const parsed = await parseMessage(raw);
  assert.deepEqual(parsed.bounce?.originalMessageIds, ['orig-1@helpdesk.example.com']);
});

// Budgets and broken input

test('unterminated multipart parses in budget', needsShared, async () => {
  const started = Date.now();
  const parsed = await parseMessage(caseFile('C32', '1.eml'));
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  assert.ok(parsed.text.includes('Stock report for March is attached.'));
  assert.equal(parsed.messageId, 'c32-poison@erp.example.com');
});

test('timeout keeps headers', async () => {
  // Thousands of parts with no closing boundary: far more than 2 ms of parsing work.
  const parts = Array.from({ length: 4000 }, (_, index) => `--b\r\nContent-Type: text/plain\r\n\r\npart ${index}\r\n`).join('');
  const raw = Buffer.concat([
    message('From: Reports <reports@erp.example.com>', 'Subject: Monthly stock report with broken structure', 'Message-ID: <slow@erp.example.com>', 'Content-Type: multipart/mixed; boundary="b"', ''),
    Buffer.from(parts),
  ]);
  const parsed = await parseMessage(raw, { timeoutMs: 2 });
  assert.match(parsed.parseError ?? '', /timed out after 2 ms/);
  assert.equal(parsed.subject, 'Monthly stock report with broken structure');
  assert.equal(parsed.from[0]?.address, 'reports@erp.example.com');
  assert.equal(parsed.messageId, 'slow@erp.example.com');
});

test('parse after timeout still works', async () => {
  const raw = message('From: a@example.com', 'Subject: after', 'Message-ID: <after@example.com>', '', 'plain body');
  const parsed = await parseMessage(raw, { timeoutMs: 5000 });
  assert.equal(parsed.parseError, null);
  assert.match(parsed.text, /plain body/);
});

test('oversize message skips body', async () => {
  const raw = message('From: a@example.com', 'Subject: big', 'Message-ID: <big@example.com>', '', 'x'.repeat(2000));
  const parsed = await parseMessage(raw, { maxBytes: 1000 });
  assert.match(parsed.parseError ?? '', /over maxBytes 1000/);
  assert.equal(parsed.subject, 'big');
  assert.equal(parsed.text, '');
});

test('arbitrary bytes never throw', async () => {
  // A fixed pseudo-random sequence, so a failure can be reproduced.
  let seed = 12345;
  const bytes = Buffer.alloc(4096, 0);
  for (let i = 0; i < bytes.length; i += 1) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    bytes[i] = seed % 256;
  }
  const samples = [bytes, Buffer.alloc(0), Buffer.from('\r\n\r\n'), Buffer.from('Subject: =?x?Q?'), Buffer.from('Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n')];
  for (const sample of samples) {
    const parsed = await parseMessage(sample);
    assert.equal(typeof parsed.messageId, 'string');
  }
});
