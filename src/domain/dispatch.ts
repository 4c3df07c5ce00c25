/**
 * Chooses which agents a queue offers its waiting activities to. Pure: the caller passes
 * the agents' state as read from the database and the instant to decide at.
 */

export interface DispatchCandidate {
  userId: number;
  ready: boolean;
  capacity: number;
  /** Offered plus open activities the agent holds, in every queue. */
  busy: number;
  /** Epoch milliseconds; null when the agent has no wrap-up. */
  wrapUpUntil: number | null;
  /** Epoch milliseconds the agent became free; null sorts first (never offered anything). */
  idleSince: number | null;
}

/** Whether the agent may get an offer at `atMs`: ready, out of wrap-up and below capacity. */
export function canTakeOffer(candidate: DispatchCandidate, atMs: number): boolean {
  if (!candidate.ready) return false;
  if (candidate.wrapUpUntil !== null && candidate.wrapUpUntil > atMs) return false;
  return candidate.busy < candidate.capacity;
}

/**
 * Returns the agents that may get an offer at `atMs`, longest idle first. Ties (equal
 * idle-since) go to the lower user id, so the order never depends on input order.
 */
export function rankAgents(candidates: readonly DispatchCandidate[], atMs: number): DispatchCandidate[] {
  return candidates
    .filter((candidate) => canTakeOffer(candidate, atMs))
    .sort((a, b) => {
      const idleA = a.idleSince ?? Number.NEGATIVE_INFINITY;
      const idleB = b.idleSince ?? Number.NEGATIVE_INFINITY;
      if (idleA !== idleB) return idleA < idleB ? -1 : 1;
      return a.userId - b.userId;
    });
}

/**
 * Pairs waiting activities (oldest first, as given) with agents, each agent taking as many as
 * its free capacity allows, longest idle first and round-robin, so a backlog spreads over
 * every free agent instead of filling the first one. Returns [activityId, userId] pairs.
 */
export function planOffers(waitingActivityIds: readonly number[], candidates: readonly DispatchCandidate[], atMs: number): Array<[activityId: number, userId: number]> {
  const free = rankAgents(candidates, atMs).map((candidate) => ({ userId: candidate.userId, slots: candidate.capacity - candidate.busy }));
  const plan: Array<[number, number]> = [];
  const waiting = [...waitingActivityIds];

  // One activity per free agent per round, in rank order, until agents or activities run out.
  while (waiting.length > 0 && free.some((agent) => agent.slots > 0)) {
    for (const agent of free) {
      if (agent.slots === 0) continue;
      const activityId = waiting.shift();
      if (activityId === undefined) break;
      plan.push([activityId, agent.userId]);
      agent.slots -= 1;
    }
  }
  return plan;
}
