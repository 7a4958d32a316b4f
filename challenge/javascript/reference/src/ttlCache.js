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
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
    checkTtl(ttlMs);
    this.capacity = capacity;
    this.ttlMs = ttlMs;
    this.now = now;
    // A Map iterates in insertion order: re-inserting a key on use keeps the least recently
    // used entry first, so eviction is O(1).
    this.entries = new Map();
  }

  get(key) {
    const entry = this.#live(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key, value, ttlMs = this.ttlMs) {
    checkTtl(ttlMs);
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    if (this.entries.size > this.capacity) this.#purgeExpired();
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      this.entries.delete(oldest);
    }
    return this;
  }

  has(key) {
    return this.#live(key) !== undefined;
  }

  delete(key) {
    const wasLive = this.has(key);
    this.entries.delete(key);
    return wasLive;
  }

  get size() {
    this.#purgeExpired();
    return this.entries.size;
  }

  #live(key) {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.now() >= entry.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #purgeExpired() {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (now >= entry.expiresAt) this.entries.delete(key);
    }
  }
}

function checkTtl(ttlMs) {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`ttlMs must be a positive number of milliseconds, got ${ttlMs}`);
  }
}
