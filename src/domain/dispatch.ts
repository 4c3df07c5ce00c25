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
  /** Categories the agent was granted (`user_category_rights`), compared by exact name. */
  categories: readonly string[];
}

/** A waiting activity for dispatch: its id and its ticket's category (null when the ticket has none). */
export interface WaitingActivity {
  id: number;
  category: string | null;
}

/**
 * Returns true when the agent may work an activity of this category. Any agent of the queue
 * may work a ticket without a category. Otherwise the agent needs the category right, the
 * same right that lets them read the ticket.
 */
export function mayWorkCategory(candidate: DispatchCandidate, category: string | null): boolean {
  return category === null || candidate.categories.includes(category);
}

/**
 * Returns the waiting activities that none of the logged-in candidates may work, whatever
 * their readiness, in the order given. With no candidate at all, nothing is returned: the
 * activities then wait for anyone to log in, not for a category right.
 */
export function activitiesNoAgentMayWork(waiting: readonly WaitingActivity[], candidates: readonly DispatchCandidate[]): WaitingActivity[] {
  if (candidates.length === 0) return [];
  return waiting.filter((activity) => !candidates.some((candidate) => mayWorkCategory(candidate, activity.category)));
}

/** Returns whether the agent may get an offer at `atMs`: ready, out of wrap-up and below capacity. */
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
 * every free agent instead of filling the first one. Each agent takes the oldest activity left
 * whose category it may work; an activity no free agent may work stays out of the plan.
 * Returns [activityId, userId] pairs.
 */
export function planOffers(waiting: readonly WaitingActivity[], candidates: readonly DispatchCandidate[], atMs: number): Array<[activityId: number, userId: number]> {
  const free = rankAgents(candidates, atMs).map((candidate) => ({ candidate, slots: candidate.capacity - candidate.busy }));
  const plan: Array<[number, number]> = [];
  const left = [...waiting];

  // One activity per free agent per round, in rank order, until a round offers nothing.
  let offeredInRound = true;
  while (offeredInRound && left.length > 0) {
    offeredInRound = false;
    for (const agent of free) {
      if (agent.slots === 0) continue;
      const index = left.findIndex((activity) => mayWorkCategory(agent.candidate, activity.category));
      if (index === -1) continue;

      const [activity] = left.splice(index, 1);
      plan.push([activity.id, agent.candidate.userId]);
      agent.slots -= 1;
      offeredInRound = true;
    }
  }
  return plan;
}
