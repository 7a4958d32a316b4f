// Hidden tests, Part 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './workspace.mjs';

const { RateLimiter } = await load('src/rateLimiter.js');

function limiterAt(options) {
  const c = { now: 10_000 };
  const limiter = new RateLimiter({ ...options, now: () => c.now });
  return { c, limiter };
}

test('rejects a limit or window that is not a positive integer', () => {
  for (const bad of [0, -1, 2.5, NaN, '5', undefined]) {
    assert.throws(() => new RateLimiter({ limit: bad, windowMs: 1000 }), RangeError, `limit ${bad}`);
    assert.throws(() => new RateLimiter({ limit: 1, windowMs: bad }), RangeError, `windowMs ${bad}`);
  }
});

test('allows limit requests, then refuses with the time until the oldest leaves', () => {
  const { c, limiter } = limiterAt({ limit: 3, windowMs: 1_000 });
  assert.deepEqual(limiter.attempt('k'), { allowed: true, remaining: 2, retryAfterMs: 0 });
  c.now += 100;
  assert.deepEqual(limiter.attempt('k'), { allowed: true, remaining: 1, retryAfterMs: 0 });
  c.now += 100;
  assert.deepEqual(limiter.attempt('k'), { allowed: true, remaining: 0, retryAfterMs: 0 });
  c.now += 100;
  assert.deepEqual(limiter.attempt('k'), { allowed: false, remaining: 0, retryAfterMs: 700 });
});

test('a request exactly one window old no longer counts', () => {
  const { c, limiter } = limiterAt({ limit: 1, windowMs: 500 });
  assert.equal(limiter.attempt('k').allowed, true);
  c.now += 499;
  assert.deepEqual(limiter.attempt('k'), { allowed: false, remaining: 0, retryAfterMs: 1 });
  c.now += 1;
  assert.deepEqual(limiter.attempt('k'), { allowed: true, remaining: 0, retryAfterMs: 0 });
});

test('the window slides: capacity comes back one request at a time', () => {
  const { c, limiter } = limiterAt({ limit: 2, windowMs: 1_000 });
  limiter.attempt('k'); // t=0
  c.now += 600;
  limiter.attempt('k'); // t=600
  c.now += 100; // t=700
  assert.deepEqual(limiter.attempt('k'), { allowed: false, remaining: 0, retryAfterMs: 300 });
  c.now += 300; // t=1000: the first left, the second (t=600) still counts
  assert.deepEqual(limiter.attempt('k'), { allowed: true, remaining: 0, retryAfterMs: 0 });
  c.now += 1; // t=1001: next free slot when t=600 leaves, at 1600
  assert.deepEqual(limiter.attempt('k'), { allowed: false, remaining: 0, retryAfterMs: 599 });
});

test('refused requests do not count against later ones', () => {
  const { c, limiter } = limiterAt({ limit: 1, windowMs: 1_000 });
  assert.equal(limiter.attempt('k').allowed, true);
  for (let i = 0; i < 50; i += 1) {
    c.now += 10;
    assert.equal(limiter.attempt('k').allowed, false);
  }
  c.now = 10_000 + 1_000;
  assert.equal(limiter.attempt('k').allowed, true);
});

test('keys are independent', () => {
  const { limiter } = limiterAt({ limit: 1, windowMs: 1_000 });
  assert.equal(limiter.attempt('alice').allowed, true);
  assert.equal(limiter.attempt('alice').allowed, false);
  assert.deepEqual(limiter.attempt('bob'), { allowed: true, remaining: 0, retryAfterMs: 0 });
});

test('stays fast with a large limit', () => {
  const { c, limiter } = limiterAt({ limit: 5_000, windowMs: 60_000 });
  const started = process.hrtime.bigint();
  let allowed = 0;
  for (let i = 0; i < 20_000; i += 1) {
    c.now += 1;
    if (limiter.attempt('busy').allowed) allowed += 1;
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(allowed, 5_000);
  assert.ok(ms < 3_000, `20k attempts took ${ms.toFixed(0)} ms`);
});
