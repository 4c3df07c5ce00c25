import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  findTicketNumbers,
  formatTicketTag,
  NO_SUBJECT_TITLE,
  removeTicketTag,
  replySubject,
  stripReplyPrefixes,
  ticketTitleFromSubject,
  validateTicketTagTemplate,
} from '../../src/domain/subject.js';

const template = '[Ticket#{number}]';

describe('stripReplyPrefixes', () => {
  const rows: Array<{ name: string; subject: string; expected: string }> = [
    { name: 'english re', subject: 'Re: Printer jam', expected: 'Printer jam' },
    { name: 'uppercase fwd', subject: 'FWD: Printer jam', expected: 'Printer jam' },
    { name: 'fw without space', subject: 'Fw:Printer jam', expected: 'Printer jam' },
    { name: 'finnish vs', subject: 'VS: Printer jam', expected: 'Printer jam' },
    { name: 'german aw glued', subject: 'AW:Printer jam', expected: 'Printer jam' },
    { name: 'german wg', subject: 'WG: Printer jam', expected: 'Printer jam' },
    { name: 'dutch antw stacked with sv', subject: 'Antw: SV: Printer jam', expected: 'Printer jam' },
    { name: 'german antwort', subject: 'Antwort: Printer jam', expected: 'Printer jam' },
    { name: 'polish odp', subject: 'Odp: Printer jam', expected: 'Printer jam' },
    { name: 'turkish ynt', subject: 'YNT: Printer jam', expected: 'Printer jam' },
    { name: 'turkish dotted capital', subject: 'İLT: Printer jam', expected: 'Printer jam' },
    { name: 'french tr with space before colon', subject: 'TR : Printer jam', expected: 'Printer jam' },
    { name: 'spanish rv', subject: 'RV: Printer jam', expected: 'Printer jam' },
    { name: 'portuguese enc and res', subject: 'ENC: RES: Printer jam', expected: 'Printer jam' },
    { name: 'italian r and rif', subject: 'R: Rif: Printer jam', expected: 'Printer jam' },
    { name: 'italian forward after replies', subject: 'R: R: I: Printer jam', expected: 'Printer jam' },
    { name: 'pronoun without colon kept', subject: 'I need a new printer', expected: 'I need a new printer' },
    { name: 'croatian odg', subject: 'Odg: Printer jam', expected: 'Printer jam' },
    { name: 'hungarian va', subject: 'VÁ: Printer jam', expected: 'Printer jam' },
    { name: 'dutch doorst', subject: 'Doorst: Printer jam', expected: 'Printer jam' },
    { name: 'latvian atb and lithuanian ats', subject: 'Atb: ATS: Printer jam', expected: 'Printer jam' },
    { name: 'russian otv', subject: 'Отв: Принтер', expected: 'Принтер' },
    { name: 'russian it uppercase', subject: 'ИТ: Принтер', expected: 'Принтер' },
    { name: 'chinese full-width colon', subject: '回复：打印机', expected: '打印机' },
    { name: 'chinese forward', subject: '转发: 打印机', expected: '打印机' },
    { name: 'japanese reply and forward', subject: '返信: 転送: プリンター', expected: 'プリンター' },
    { name: 'korean reply', subject: '답장: 프린터', expected: '프린터' },
    { name: 'counter in brackets', subject: 'RE[2]: Printer jam', expected: 'Printer jam' },
    { name: 'counter in parentheses', subject: 'RE(3): Printer jam', expected: 'Printer jam' },
    { name: 'counter with caret', subject: 'Re^2: Printer jam', expected: 'Printer jam' },
    { name: 'repeated same prefix', subject: 'Re: re: RE: Printer jam', expected: 'Printer jam' },
    { name: 'mixed stack without spaces', subject: 'Re:Fwd:AW:Printer jam', expected: 'Printer jam' },
    { name: 'prefix after ticket tag', subject: '[Ticket#100001] Re: Printer jam', expected: '[Ticket#100001] Printer jam' },
    { name: 'prefix after list name', subject: '[users] AW: Printer jam', expected: '[users] Printer jam' },
    { name: 'other brackets kept', subject: '[EXTERNAL] Printer jam', expected: '[EXTERNAL] Printer jam' },
    { name: 'whitespace collapsed', subject: '  Re:\t Printer \r\n  jam  ', expected: 'Printer jam' },
    { name: 'word starting with re', subject: 'Reports due', expected: 'Reports due' },
    { name: 'word starting with svn', subject: 'SVN build broken', expected: 'SVN build broken' },
    { name: 'word starting with tr', subject: 'TRansfer: new office', expected: 'TRansfer: new office' },
    { name: 'word starting with antw', subject: 'Answer: yes', expected: 'Answer: yes' },
    { name: 'prefix mid-subject kept', subject: 'Printer Re: jam', expected: 'Printer Re: jam' },
    { name: 'prefix only', subject: 'Re:', expected: '' },
  ];

  for (const row of rows) {
    test(row.name, () => {
      assert.equal(stripReplyPrefixes(row.subject), row.expected);
    });
  }
});

describe('validateTicketTagTemplate', () => {
  test('accepts standard template', () => {
    assert.deepEqual(validateTicketTagTemplate(template), []);
  });

  const invalid: Array<{ name: string; template: string; mentions: string }> = [
    { name: 'missing placeholder', template: '[Ticket#]', mentions: '{number}' },
    { name: 'placeholder twice', template: '[{number}#{number}]', mentions: 'exactly one' },
    { name: 'placeholder without literal', template: ' {number} ', mentions: 'literal text' },
    { name: 'unknown placeholder', template: '[{year}-{number}]', mentions: '{year}' },
    { name: 'line break', template: '[Ticket\n#{number}]', mentions: 'line break' },
  ];

  for (const row of invalid) {
    test(`rejects ${row.name}`, () => {
      const errors = validateTicketTagTemplate(row.template);
      assert.ok(errors.some((error) => error.includes(row.mentions)), `errors: ${JSON.stringify(errors)}`);
    });
  }
});

describe('formatTicketTag', () => {
  test('fills number into template', () => {
    assert.equal(formatTicketTag(template, 100001), '[Ticket#100001]');
  });

  test('rejects invalid template', () => {
    assert.throws(() => formatTicketTag('[Ticket#]', 1), /\{number\}/);
  });

  test('rejects negative number', () => {
    assert.throws(() => formatTicketTag(template, -1), /-1/);
  });
});

describe('findTicketNumbers', () => {
  const rows: Array<{ name: string; subject: string; template?: string; expected: number[] }> = [
    { name: 'tag at start', subject: '[Ticket#100001] Printer jam', expected: [100001] },
    { name: 'tag after stacked prefixes', subject: 'Antw: SV: [Ticket#100001] Printer jam', expected: [100001] },
    { name: 'tag glued to prefix', subject: 'AW:[Ticket#100001] Printer jam', expected: [100001] },
    { name: 'tag mid-subject', subject: 'Printer jam [Ticket#100002] again', expected: [100002] },
    { name: 'literal case-insensitive', subject: 'RE: [TICKET#100001] x', expected: [100001] },
    { name: 'space inside tag', subject: 'Re: [Ticket# 100001 ] x', expected: [100001] },
    { name: 'two different tags', subject: '[Ticket#100002] x [Ticket#100001]', expected: [100002, 100001] },
    { name: 'same tag twice', subject: '[Ticket#100001] Re: [Ticket#100001] x', expected: [100001] },
    { name: 'number without tag', subject: 'Invoice 100001 is wrong', expected: [] },
    { name: 'other bracket number', subject: '[Case#100001] x', expected: [] },
    { name: 'template with regex characters', subject: 'Re: (REQ+42) x', template: '(REQ+{number})', expected: [42] },
    { name: 'suffix-free template digit boundary', subject: 'ID-12345 and ID-7', template: 'ID-{number}', expected: [12345, 7] },
  ];

  for (const row of rows) {
    test(row.name, () => {
      assert.deepEqual(findTicketNumbers(row.subject, row.template ?? template), row.expected);
    });
  }

  test('rejects invalid template', () => {
    assert.throws(() => findTicketNumbers('x', 'Ticket'), /\{number\}/);
  });
});

describe('removeTicketTag', () => {
  test('removes tag and spacing', () => {
    assert.equal(removeTicketTag('Re: [Ticket#100001]   Printer jam', template), 'Re: Printer jam');
  });

  test('removes every occurrence', () => {
    assert.equal(removeTicketTag('[ticket#1] x [Ticket#2]', template), 'x');
  });
});

describe('ticketTitleFromSubject', () => {
  const rows: Array<{ name: string; subject: string; expected: string }> = [
    { name: 'localised stacked reply', subject: 'Antw: SV: [Ticket#100001] Invoice 2024-118 shows wrong VAT rate', expected: 'Invoice 2024-118 shows wrong VAT rate' },
    { name: 'counter reply', subject: 'RE[2]: [Ticket#100001] Invoice 2024-118 shows wrong VAT rate', expected: 'Invoice 2024-118 shows wrong VAT rate' },
    { name: 'prefix after tag', subject: '[Ticket#100001] AW: Re: Printer jam', expected: 'Printer jam' },
    { name: 'plain subject unchanged', subject: 'Printer jam', expected: 'Printer jam' },
    { name: 'empty subject', subject: '', expected: NO_SUBJECT_TITLE },
    { name: 'only prefixes and tag', subject: 'Re: [Ticket#100001]', expected: NO_SUBJECT_TITLE },
  ];

  for (const row of rows) {
    test(row.name, () => {
      assert.equal(ticketTitleFromSubject(row.subject, template), row.expected);
    });
  }
});

describe('replySubject', () => {
  const rows: Array<{ name: string; title: string; expected: string }> = [
    { name: 'clean title', title: 'Printer jam', expected: 'Re: [Ticket#100001] Printer jam' },
    { name: 'title with prefixes', title: 'AW: Re: Printer jam', expected: 'Re: [Ticket#100001] Printer jam' },
    { name: 'title with tag', title: 'Re: [Ticket#100001] Printer jam', expected: 'Re: [Ticket#100001] Printer jam' },
    { name: 'empty title', title: '', expected: `Re: [Ticket#100001] ${NO_SUBJECT_TITLE}` },
  ];

  for (const row of rows) {
    test(row.name, () => {
      assert.equal(replySubject(row.title, '[Ticket#100001]'), row.expected);
    });
  }

  test('round trip stays stable', () => {
    const first = replySubject('Printer jam', '[Ticket#100001]');
    const second = replySubject(ticketTitleFromSubject(`AW: ${first}`, template), '[Ticket#100001]');
    assert.equal(second, first);
  });
});
