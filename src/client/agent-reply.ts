import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { composeAgentReply, type AgentReplyInput } from '../activities/reply.js';
import { TASK_QUEUE } from '../config.js';
import { startOutboxDelivery } from './queue-control.js';

/** A reply written to the outbox and handed to its delivery workflow. */
export interface SentReply {
  outboxId: number;
  messageId: string;
  recipient: string;
  workflowId: string;
  /** False when the idempotency key named a reply queued before: nothing new was written. */
  created: boolean;
}

/**
 * Writes an agent's reply on a ticket to the outbox through the ticket's queue and starts
 * its delivery: the one path of `mailqueue tickets reply` and `POST /tickets/{number}/replies`.
 * Starting delivery is idempotent per outbox row, so a retried request with the same
 * idempotency key neither writes nor sends a second mail.
 *
 * @throws MailqueueError (InvalidConfiguration) when the ticket or user is missing, or
 *   the queue has no outgoing server or the ticket no customer address.
 */
export async function sendAgentReply(db: Knex, client: Client, input: AgentReplyInput, logger: Logger, taskQueue: string = TASK_QUEUE): Promise<SentReply> {
  const reply = await composeAgentReply(db, input, logger);
  const workflowId = await startOutboxDelivery(client, reply.outboxId, taskQueue);
  return { ...reply, workflowId };
}
