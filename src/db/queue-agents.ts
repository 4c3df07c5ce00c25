import type { Knex } from 'knex';

/** Gives an agent the right to use a queue; granting it twice changes nothing. */
export async function allowQueueAgent(db: Knex, queueId: number, userId: number): Promise<void> {
  await db('queue_agents').insert({ queue_id: queueId, user_id: userId }).onConflict(['queue_id', 'user_id']).ignore();
}

/** Takes the right away; returns false when the agent did not have it. */
export async function disallowQueueAgent(db: Knex, queueId: number, userId: number): Promise<boolean> {
  const removed = await db('queue_agents').where({ queue_id: queueId, user_id: userId }).delete();
  return removed > 0;
}

/** User ids of the agents who may use the queue, ascending. */
export async function listQueueAgentIds(db: Knex, queueId: number): Promise<number[]> {
  const rows: Array<{ user_id: number }> = await db('queue_agents').where({ queue_id: queueId }).orderBy('user_id').select('user_id');
  return rows.map((row) => row.user_id);
}

/** Ids of the queues the user may use, ascending. */
export async function listAgentQueueIds(db: Knex, userId: number): Promise<number[]> {
  const rows: Array<{ queue_id: number }> = await db('queue_agents').where({ user_id: userId }).orderBy('queue_id').select('queue_id');
  return rows.map((row) => row.queue_id);
}

export async function mayUseQueue(db: Knex, queueId: number, userId: number): Promise<boolean> {
  const row = await db('queue_agents').where({ queue_id: queueId, user_id: userId }).first('queue_id');
  return row !== undefined;
}
