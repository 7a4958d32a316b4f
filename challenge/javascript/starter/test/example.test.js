// A few examples to start from; add your own. Run with `npm test` (or `node --test test/`).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { TtlCache } from '../src/ttlCache.js';
import { RateLimiter } from '../src/rateLimiter.js';
import { parseLine } from '../src/logSummary.js';

test('a cache returns what was stored until it expires', () => {
  let now = 0;
  const cache = new TtlCache({ capacity: 2, ttlMs: 100, now: () => now });
  cache.set('a', 1);
  assert.equal(cache.get('a'), 1);
  now = 100;
  assert.equal(cache.get('a'), undefined);
});

test('a limiter allows `limit` requests per window', () => {
  const limiter = new RateLimiter({ limit: 2, windowMs: 1000, now: () => 0 });
  assert.equal(limiter.attempt('k').allowed, true);
  assert.equal(limiter.attempt('k').allowed, true);
  assert.equal(limiter.attempt('k').allowed, false);
});

test('a log line is parsed into its fields', () => {
  const entry = parseLine('2024-03-01T12:00:00.123Z GET /api/orders/42?expand=items 200 35ms user=alice');
  assert.equal(entry.route, '/api/orders/:id');
  assert.equal(entry.status, 200);
  assert.equal(entry.durationMs, 35);
  assert.equal(entry.user, 'alice');
});
