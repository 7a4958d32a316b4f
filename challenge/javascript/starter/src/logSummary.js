/**
 * Part 3 — parse access-log lines and summarise them.
 * See README.md for the format and the rules.
 */

/**
 * @param {string} line
 * @returns {{time: Date, method: string, route: string, status: number, durationMs: number, user: string | null} | null}
 */
export function parseLine(line) {
  // TODO: Part 3a
  throw new Error('TODO: Part 3a, parseLine');
}

/**
 * @param {Iterable<string>} lines
 * @returns {{total: number, malformed: number, errorRate: number,
 *            routes: {route: string, count: number, p95Ms: number}[],
 *            topUsers: {user: string, count: number}[]}}
 */
export function summarize(lines) {
  // TODO: Part 3b
  throw new Error('TODO: Part 3b, summarize');
}
