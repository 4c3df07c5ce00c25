import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/*
 * Typed search attribute keys of queue workflows. Workflow code imports this module, so it may
 * import nothing but the Temporal SDK. The dev server registers these at start
 * (src/dev/temporal-server.ts); a production cluster needs them registered once by an operator.
 */

/** The queue's number, unique per installation. */
export const queueNumberKey = defineSearchAttributeKey('QueueNumber', SearchAttributeType.INT);

/** The queue's title, searchable as full text. */
export const queueTitleKey = defineSearchAttributeKey('QueueTitle', SearchAttributeType.TEXT);

/** Whether the queue currently fetches mail. */
export const queueActiveKey = defineSearchAttributeKey('QueueActive', SearchAttributeType.BOOL);

/**
 * Whether the queue's mailbox must be reconnected (its OAuth2 grant was rejected). Set only on a
 * change, so a queue that was never degraded has no value.
 */
export const queueDegradedKey = defineSearchAttributeKey('QueueDegraded', SearchAttributeType.BOOL);

/** Every search attribute a queue workflow sets. */
export const queueSearchAttributeKeys = [queueNumberKey, queueTitleKey, queueActiveKey, queueDegradedKey] as const;
