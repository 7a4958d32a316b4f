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
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${limit}`);
    }
    if (!Number.isInteger(windowMs) || windowMs < 1) {
      throw new RangeError(`windowMs must be a positive integer, got ${windowMs}`);
    }
    this.limit = limit;
    this.windowMs = windowMs;
    this.now = now;
    /** key -> timestamps of allowed requests still in the window, oldest first */
    this.log = new Map();
    this.attemptsSinceSweep = 0;
    this.keysAfterSweep = 0;
  }

  /**
   * @param {string} key
   * @returns {{allowed: boolean, remaining: number, retryAfterMs: number}}
   */
  attempt(key) {
    const now = this.now();
    this.#sweepNowAndThen(now);
    const stamps = (this.log.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (stamps.length >= this.limit) {
      this.log.set(key, stamps);
      return { allowed: false, remaining: 0, retryAfterMs: stamps[0] + this.windowMs - now };
    }
    stamps.push(now);
    this.log.set(key, stamps);
    return { allowed: true, remaining: this.limit - stamps.length, retryAfterMs: 0 };
  }

  // Forgets keys whose last request left the window. A sweep costs one step per key, and runs
  // only after as many attempts as there were keys after the last one, so an attempt costs O(1)
  // on average and at most about twice the keys active within a window are kept.
  #sweepNowAndThen(now) {
    this.attemptsSinceSweep += 1;
    if (this.attemptsSinceSweep < Math.max(64, this.keysAfterSweep)) return;
    this.attemptsSinceSweep = 0;
    for (const [key, stamps] of this.log) {
      if (stamps.length === 0 || stamps[stamps.length - 1] <= now - this.windowMs) this.log.delete(key);
    }
    this.keysAfterSweep = this.log.size;
  }
}
