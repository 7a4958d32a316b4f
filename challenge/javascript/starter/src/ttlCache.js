/**
 * Part 1 — a least-recently-used cache whose entries expire.
 * See README.md for the rules.
 */
export class TtlCache {
  /**
   * @param {object} options
   * @param {number} options.capacity  most live entries held (a positive integer)
   * @param {number} options.ttlMs     default time to live, in milliseconds (positive)
   * @param {() => number} [options.now] the clock, in milliseconds (default Date.now)
   */
  constructor({ capacity, ttlMs, now = Date.now } = {}) {
    // TODO: Part 1
    throw new Error('TODO: Part 1, TtlCache');
  }

  /** The value for `key`, or undefined if absent or expired. A hit makes `key` most recently used. */
  get(key) {
    throw new Error('TODO: Part 1, TtlCache.get');
  }

  /** Stores `value` under `key` for `ttlMs` (default: the cache's ttlMs). Returns the cache. */
  set(key, value, ttlMs) {
    throw new Error('TODO: Part 1, TtlCache.set');
  }

  /** Whether `key` holds a live entry. Does not change recency. */
  has(key) {
    throw new Error('TODO: Part 1, TtlCache.has');
  }

  /** Removes `key`; true if it held a live entry. */
  delete(key) {
    throw new Error('TODO: Part 1, TtlCache.delete');
  }

  /** The number of live entries. */
  get size() {
    throw new Error('TODO: Part 1, TtlCache.size');
  }
}
