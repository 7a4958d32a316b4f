/**
 * Part 2 — a sliding-window rate limiter, one window per key.
 * See README.md for the rules.
 */
export class RateLimiter {
  /**
   * @param {object} options
   * @param {number} options.limit     requests allowed per window (a positive integer)
   * @param {number} options.windowMs  the window, in milliseconds (a positive integer)
   * @param {() => number} [options.now] the clock, in milliseconds (default Date.now)
   */
  constructor({ limit, windowMs, now = Date.now } = {}) {
    // TODO: Part 2
    throw new Error('TODO: Part 2, RateLimiter');
  }

  /**
   * Records a request for `key` if it is allowed.
   * @param {string} key
   * @returns {{allowed: boolean, remaining: number, retryAfterMs: number}}
   */
  attempt(key) {
    throw new Error('TODO: Part 2, RateLimiter.attempt');
  }
}
