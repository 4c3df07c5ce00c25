import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { isPasswordSmtpOutgoing, loadSmtpConnection, type QueueRecord } from '../db/queues.js';
import { FailureType, MailqueueError } from '../errors.js';
import type { OutgoingSendResult, OutgoingTransport } from '../mail/outgoing-transport.js';
import type { SmtpConnectionSettings, SmtpSendResult } from '../mail/smtp.js';
import { getIntegration } from '../db/oauth.js';
import { createGmailTransport } from '../mail/gmail.js';
import { createGraphTransport } from '../mail/graph.js';
import { tokenProviderForQueue } from '../oauth/token-provider.js';

export interface TransportDependencies {
  db: Knex;
  secretKey: () => Buffer;
  sendRawMail: (settings: SmtpConnectionSettings, envelope: { from: string; to: string[] }, raw: Buffer, logger: Logger) => Promise<SmtpSendResult>;
}

function sendResult(result: SmtpSendResult): OutgoingSendResult {
  return { accepted: result.accepted, rejected: result.rejected, response: result.response };
}

/**
 * Opens the transport a queue sends through, chosen by its outgoing protocol: SMTP with a
 * password (or without login), SMTP with XOAUTH2, the Gmail API or Microsoft Graph. Secrets stay inside.
 *
 * @throws MailqueueError InvalidConfiguration when the queue sends no mail; ReconnectRequired when
 *   its OAuth2 grant was rejected or never given.
 */
export async function openOutgoingTransport(deps: TransportDependencies, queue: QueueRecord, log: Logger): Promise<OutgoingTransport> {
  const outgoing = queue.outgoing;
  if (outgoing === null || isPasswordSmtpOutgoing(outgoing)) {
    const settings = await loadSmtpConnection(deps.db, deps.secretKey(), queue);
    return { protocol: 'smtp', send: async (envelope, raw) => sendResult(await deps.sendRawMail(settings, envelope, raw, log)) };
  }

  if (outgoing.protocol === 'smtp-oauth2') {
    const tokens = await tokenProviderForQueue({ db: deps.db, secretKey: deps.secretKey(), logger: log }, queue, 'outgoing');
    const settingsWith = (accessToken: string): SmtpConnectionSettings => ({
      host: outgoing.host,
      port: outgoing.port,
      user: outgoing.user,
      password: null,
      accessToken,
      sslTrusted: outgoing.sslTrusted,
      security: outgoing.security,
    });
    return {
      protocol: 'smtp',
      send: async (envelope, raw) => {
        try {
          return sendResult(await deps.sendRawMail(settingsWith(await tokens.getAccessToken()), envelope, raw, log));
        } catch (error) {
          if (!(error instanceof MailqueueError && error.type === FailureType.AuthenticationFailed)) throw error;
          // The server rejected the token before the mail was accepted: one retry with a fresh token.
          log.warn({ queueId: queue.id }, 'smtp rejected the access token; retrying once with a fresh one');
          tokens.invalidate();
          return sendResult(await deps.sendRawMail(settingsWith(await tokens.getAccessToken()), envelope, raw, log));
        }
      },
    };
  }

  const integrationId = outgoing.useSameMethodAsIncoming && 'integrationId' in queue.incoming ? queue.incoming.integrationId : outgoing.integrationId;
  if (integrationId === null) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Queue ${queue.number} sends over ${outgoing.protocol} but names no integration: set outgoing.integration or useSameMethodAsIncoming in its queue file`, { queueId: queue.id });
  }
  const integration = await getIntegration(deps.db, integrationId);
  const tokens = await tokenProviderForQueue({ db: deps.db, secretKey: deps.secretKey(), logger: log }, queue, 'outgoing');
  const apiBaseUrl = integration.apiUrl ?? undefined;
  if (outgoing.protocol === 'gmail') {
    return createGmailTransport({ apiBaseUrl, userId: 'me', tokens }, log);
  }
  // Sharing a tenant application's token means sending as the named mailbox; a delegated token sends as the signed-in user.
  const mailbox = outgoing.useSameMethodAsIncoming && queue.incoming.protocol === 'graph-tenant' ? queue.incoming.user : 'me';
  return createGraphTransport({ apiBaseUrl, mailbox, tokens }, log);
}
