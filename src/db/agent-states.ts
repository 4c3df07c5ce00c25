import type { Knex } from 'knex';

/**
 * The database mirror of each agent's live state. The agent workflow owns the state and
 * writes it here through an activity, so dispatch can read it in SQL and lock the row.
 */

export interface AgentStateSnapshot {
  userId: number;
  capacity: number;
  ready: boolean;
  pauseReason: string | null;
  /** Epoch milliseconds; the stored value never moves back. */
  wrapUpUntilMs: number | null;
  /** Epoch milliseconds; the stored value never moves back. */
  idleSinceMs: number | null;
  /** Queues the agent wants to be logged in to. */
  queueIds: number[];
}

export interface SaveAgentStateResult {
  /** The queues the agent is logged in to now: those asked for that the agent may still use. */
  queueIds: number[];
  /** Queues whose offers to this agent went back to waiting, because the agent paused or left the queue. */
  returnedOfferQueueIds: number[];
}

export interface AgentStateRecord {
  userId: number;
  capacity: number;
  ready: boolean;
  pauseReason: string | null;
  wrapUpUntil: string | null;
  idleSince: string | null;
  queueIds: number[];
  updatedAt: string;
}

const toDate = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

/**
 * Writes the agent's state in one transaction. The state row's wrap-up end and idle-since
 * only move forward, so an older snapshot cannot undo a close. Only logged-in queues listed
 * in queue_agents are kept. The agent's offers in queues it left, or all of them when it is
 * not ready, go back to waiting. Writing the same snapshot twice changes nothing.
 */
export async function saveAgentState(db: Knex, snapshot: AgentStateSnapshot): Promise<SaveAgentStateResult> {
  return db.transaction(async (trx) => {
    await trx('agent_states')
      .insert({
        user_id: snapshot.userId,
        capacity: snapshot.capacity,
        ready: snapshot.ready,
        pause_reason: snapshot.pauseReason,
        wrap_up_until: toDate(snapshot.wrapUpUntilMs),
        idle_since: toDate(snapshot.idleSinceMs),
      })
      .onConflict('user_id')
      .merge({
        capacity: snapshot.capacity,
        ready: snapshot.ready,
        pause_reason: snapshot.pauseReason,
        wrap_up_until: trx.raw('GREATEST(agent_states.wrap_up_until, EXCLUDED.wrap_up_until)'),
        idle_since: trx.raw('GREATEST(agent_states.idle_since, EXCLUDED.idle_since)'),
        updated_at: trx.fn.now(),
      });
    // Later statements of this transaction see the row locked, like an offer would.
    await trx('agent_states').where({ user_id: snapshot.userId }).forUpdate().first('user_id');

    const allowedRows: Array<{ queue_id: number }> = snapshot.queueIds.length === 0
      ? []
      : await trx('queue_agents as qa')
          .join('queues as q', 'q.id', 'qa.queue_id')
          .where('qa.user_id', snapshot.userId)
          .whereIn('qa.queue_id', snapshot.queueIds)
          .whereNull('q.deleted_at')
          .orderBy('qa.queue_id')
          .select('qa.queue_id');
    const allowed = allowedRows.map((row) => row.queue_id);

    await trx('agent_queue_logins').where({ user_id: snapshot.userId }).whereNotIn('queue_id', allowed).delete();
    if (allowed.length > 0) {
      await trx('agent_queue_logins').insert(allowed.map((queueId) => ({ user_id: snapshot.userId, queue_id: queueId }))).onConflict(['user_id', 'queue_id']).ignore();
    }

    const returnQuery = trx('email_activities').where({ agent_user_id: snapshot.userId, state: 'offered' });
    if (snapshot.ready) returnQuery.whereNotIn('queue_id', allowed);
    const returned: Array<{ queue_id: number }> = await returnQuery
      .update({ state: 'waiting', agent_user_id: null, offer_id: null, offered_at: null, offer_expires_at: null })
      .returning('queue_id');

    return { queueIds: allowed, returnedOfferQueueIds: [...new Set(returned.map((row) => row.queue_id))].sort((a, b) => a - b) };
  });
}

/** Reads the mirrored state, or null when the agent never logged in. */
export async function readAgentState(db: Knex, userId: number): Promise<AgentStateRecord | null> {
  const row: { user_id: number; capacity: number; ready: boolean; pause_reason: string | null; wrap_up_until: Date | null; idle_since: Date | null; updated_at: Date } | undefined = await db('agent_states').where({ user_id: userId }).first();
  if (!row) return null;
  const logins: Array<{ queue_id: number }> = await db('agent_queue_logins').where({ user_id: userId }).orderBy('queue_id').select('queue_id');
  return {
    userId: row.user_id,
    capacity: row.capacity,
    ready: row.ready,
    pauseReason: row.pause_reason,
    wrapUpUntil: row.wrap_up_until?.toISOString() ?? null,
    idleSince: row.idle_since?.toISOString() ?? null,
    queueIds: logins.map((login) => login.queue_id),
    updatedAt: row.updated_at.toISOString(),
  };
}
