import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { defaultSenderAddress, validateQueueConfig } from '../../src/domain/queue-config.js';

const incoming = { host: 'imap.example.com', user: 'support@example.com', password: 'imap-secret' };

function errorsOf(document: unknown): string[] {
  return validateQueueConfig(document).errors;
}

describe('validateQueueConfig', () => {
  test('accepts incoming-only file', () => {
    const result = validateQueueConfig({ title: 'Support', incoming });

    assert.deepEqual(result.errors, []);
    assert.equal(result.config?.outgoing, undefined);
  });

  test('accepts full outgoing settings', () => {
    const result = validateQueueConfig({
      title: 'Support',
      incoming,
      outgoing: { host: 'smtp.example.com', port: 465, user: 'support@example.com', password: 'smtp-secret', security: 'implicit-tls', sslTrusted: false },
      senderAddress: 'help@example.com',
      senderInfoTemplate: 'agent-name',
      replyTo: '',
      signatureTemplate: 'signature',
      npsSurveyTemplate: 'nps',
      autoresponseTemplate: 'thanks',
      timeGroup: 'office-hours',
      autoresponseExceptions: ['noreply@*', 'example.org'],
      autoresponseRateLimit: { max: 2, windowSeconds: 600 },
      postprocessing: { workflowType: 'classifyTicket', taskQueue: 'classifier' },
    });

    assert.deepEqual(result.errors, []);
    assert.equal(result.config?.postprocessing?.timeoutSeconds, 600);
  });

  test('defaults outgoing port and security', () => {
    const result = validateQueueConfig({ title: 'Support', incoming, outgoing: { host: 'smtp.example.com' } });

    const outgoing = result.config?.outgoing;
    assert.ok(outgoing);
    assert.ok(outgoing.protocol === 'smtp');
    assert.equal(outgoing.port, 587);
    assert.equal(outgoing.security, 'auto');
  });

  test('reports each bad field path', () => {
    const errors = errorsOf({
      title: 'Support',
      incoming,
      outgoing: { host: 'smtp.example.com', port: 70000, security: 'tls' },
      senderAddress: 'not an address',
      replyTo: 'nobody',
      autoresponseExceptions: ['noreply@*', 'a@b@c', ''],
      autoresponseRateLimit: { max: -1, windowSeconds: 60 },
      postprocessing: { workflowType: 'classify ticket', taskQueue: '' },
    });
    const paths = errors.map((error) => error.slice(0, error.indexOf(':')));

    for (const path of [
      'outgoing.port',
      'outgoing.security',
      'senderAddress',
      'replyTo',
      'autoresponseExceptions.1',
      'autoresponseExceptions.2',
      'autoresponseRateLimit',
      'postprocessing.workflowType',
      'postprocessing.taskQueue',
    ]) {
      assert.ok(paths.includes(path), `${path} missing from:\n${errors.join('\n')}`);
    }
  });

  test('rejects unknown outgoing field', () => {
    const errors = errorsOf({ title: 'Support', incoming, outgoing: { host: 'smtp.example.com', tls: true } });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /^outgoing\.tls: unknown field/);
  });

  test('rejects user without password', () => {
    const errors = errorsOf({ title: 'Support', incoming, outgoing: { host: 'smtp.example.com', user: 'support' } });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /^outgoing\.password: /);
  });

  test('requires sender for non-address user', () => {
    const errors = errorsOf({ title: 'Support', incoming: { ...incoming, user: 'support' }, outgoing: { host: 'smtp.example.com' } });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /^senderAddress: .*"support"/);
  });
});

describe('defaultSenderAddress', () => {
  test('uses address-shaped incoming user', () => {
    assert.equal(defaultSenderAddress({ incoming: { ...incoming, protocol: 'imap', ssl: true, sslTrusted: true, dontKeepEmails: false, folder: 'INBOX' } }), 'support@example.com');
  });

  test('returns null for plain login', () => {
    assert.equal(defaultSenderAddress({ incoming: { ...incoming, user: 'support', protocol: 'imap', ssl: true, sslTrusted: true, dontKeepEmails: false, folder: 'INBOX' } }), null);
  });

  test('file without protocol stays imap', () => {
    const result = validateQueueConfig({ title: 'Support', incoming, outgoing: { host: 'smtp.example.com' } });

    assert.equal(result.config?.incoming.protocol, 'imap');
    assert.equal(result.config?.outgoing?.protocol, 'smtp');
  });

  test('accepts pop3 with defaults', () => {
    const result = validateQueueConfig({ title: 'Support', incoming: { protocol: 'pop3', host: 'pop.example.com', user: 'support@example.com', password: 'pop-secret' } });

    assert.deepEqual(result.errors, []);
    const pop3 = result.config?.incoming;
    assert.ok(pop3);
    assert.ok(pop3.protocol === 'pop3');
    assert.equal(pop3.ssl, true);
    assert.equal(pop3.dontKeepEmails, false);
  });

  test('pop3 rejects an imap folder', () => {
    assert.deepEqual(errorsOf({ title: 'Support', incoming: { protocol: 'pop3', host: 'pop.example.com', user: 'u', password: 'p', folder: 'INBOX' } }), ['incoming.folder: unknown field; check its spelling or remove it']);
  });

  test('unknown protocol names the field', () => {
    const errors = errorsOf({ title: 'Support', incoming: { protocol: 'exchange', host: 'x.example.com', user: 'u', password: 'p' } });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /^incoming\.protocol: /);
  });

  test('imap-oauth2 needs provider and integration', () => {
    const paths = errorsOf({ title: 'Support', incoming: { protocol: 'imap-oauth2', user: 'support@example.com' } }).map((error) => error.slice(0, error.indexOf(':')));

    assert.deepEqual(paths.sort(), ['incoming.integration', 'incoming.provider']);
  });

  test('useSameMethodAsIncoming picks the matching outgoing protocol', () => {
    const result = validateQueueConfig({
      title: 'Support',
      incoming: { protocol: 'gmail', integration: 'google', user: 'support@example.com' },
      outgoing: { useSameMethodAsIncoming: true },
    });

    assert.deepEqual(result.errors, []);
    assert.equal(result.config?.outgoing?.protocol, 'gmail');
  });

  test('sharing a password mailbox is refused', () => {
    const errors = errorsOf({ title: 'Support', incoming, outgoing: { protocol: 'smtp-oauth2', useSameMethodAsIncoming: true } });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /^outgoing\.useSameMethodAsIncoming: cannot share incoming protocol "imap"/);
  });

  test('oauth2 outgoing without sharing needs an integration', () => {
    const errors = errorsOf({ title: 'Support', incoming, outgoing: { protocol: 'graph' } });

    assert.deepEqual(errors, ['outgoing.integration: is missing: name an integration, or set useSameMethodAsIncoming to true to share the incoming connection']);
  });

  test('graph-tenant needs the mailbox address', () => {
    const errors = errorsOf({ title: 'Support', incoming: { protocol: 'graph-tenant', integration: 'contoso', user: 'support' } });

    assert.deepEqual(errors, ['incoming.user: must be the mailbox address such as support@example.com']);
  });
});

describe('agents section', () => {
  test('missing fields take defaults', () => {
    const result = validateQueueConfig({ title: 'Support', incoming, agents: {} });

    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.config?.agents, { wrapUpSeconds: 0, offerTimeoutSeconds: 60, allowMultipleStatuses: false });
  });

  test('accepts a five-minute wrap-up', () => {
    const result = validateQueueConfig({ title: 'Support', incoming, agents: { wrapUpSeconds: 300, offerTimeoutSeconds: 120, allowMultipleStatuses: true } });

    assert.deepEqual(result.errors, []);
    assert.equal(result.config?.agents?.wrapUpSeconds, 300);
  });

  test('bad values name their field', () => {
    const errors = errorsOf({ title: 'Support', incoming, agents: { wrapUpSeconds: -1, offerTimeoutSeconds: 2, allowMultipleStatuses: 'yes', pauseAfterMissed: true } });

    assert.ok(errors.some((error) => error.startsWith('agents.wrapUpSeconds')), errors.join('\n'));
    assert.ok(errors.some((error) => error.startsWith('agents.offerTimeoutSeconds')), errors.join('\n'));
    assert.ok(errors.some((error) => error.startsWith('agents.allowMultipleStatuses')), errors.join('\n'));
    assert.ok(errors.some((error) => error.includes('pauseAfterMissed')), errors.join('\n'));
  });
});
