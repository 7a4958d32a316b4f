// Hidden tests, Part 1. Run from the candidate's workspace (or set CHALLENGE_WORKSPACE):
//   node --test <challenge>/javascript/tests/*.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './workspace.mjs';

const { TtlCache } = await load('src/ttlCache.js');

function clock(start = 1_000) {
  const c = { now: start, fn: () => c.now };
  return c;
}

test('rejects a capacity or ttl that is not positive', () => {
  for (const bad of [0, -1, 1.5, NaN, '3', undefined]) {
    assert.throws(() => new TtlCache({ capacity: bad, ttlMs: 10 }), RangeError, `capacity ${bad}`);
  }
  for (const bad of [0, -5, Infinity, NaN, '10', undefined]) {
    assert.throws(() => new TtlCache({ capacity: 1, ttlMs: bad }), RangeError, `ttlMs ${bad}`);
  }
});

test('an entry is live until exactly its ttl has passed', () => {
  const c = clock();
  const cache = new TtlCache({ capacity: 3, ttlMs: 100, now: c.fn });
  assert.equal(cache.set('a', 1), cache);
  c.now += 99;
  assert.equal(cache.get('a'), 1);
  assert.equal(cache.has('a'), true);
  c.now += 1;
  assert.equal(cache.get('a'), undefined);
  assert.equal(cache.has('a'), false);
  assert.equal(cache.size, 0);
});

test('a per-entry ttl overrides the default and replacing resets the expiry', () => {
  const c = clock();
  const cache = new TtlCache({ capacity: 3, ttlMs: 100, now: c.fn });
  cache.set('short', 's', 10);
  cache.set('long', 'l', 1_000);
  cache.set('x', 1);
  c.now += 50;
  cache.set('x', 2);
  c.now += 60;
  assert.equal(cache.get('short'), undefined);
  assert.equal(cache.get('long'), 'l');
  assert.equal(cache.get('x'), 2);
});

test('evicts the least recently used entry, counting get but not has', () => {
  const c = clock();
  const cache = new TtlCache({ capacity: 3, ttlMs: 1_000, now: c.fn });
  cache.set('a', 1).set('b', 2).set('c', 3);
  cache.get('a');
  cache.has('b');
  cache.set('d', 4);
  assert.equal(cache.has('b'), false, 'b was least recently used');
  assert.deepEqual(['a', 'c', 'd'].map((k) => cache.get(k)), [1, 3, 4]);
  assert.equal(cache.size, 3);
});

test('replacing an entry makes it most recently used without growing the cache', () => {
  const cache = new TtlCache({ capacity: 2, ttlMs: 1_000, now: () => 0 });
  cache.set('a', 1).set('b', 2).set('a', 10).set('c', 3);
  assert.equal(cache.get('a'), 10);
  assert.equal(cache.get('b'), undefined);
  assert.equal(cache.size, 2);
});

test('expired entries are dropped before a live entry is evicted', () => {
  const c = clock();
  const cache = new TtlCache({ capacity: 3, ttlMs: 1_000, now: c.fn });
  cache.set('old', 1);
  cache.set('short', 2, 10);
  cache.set('mid', 3);
  c.now += 20;
  cache.get('old');
  cache.set('new', 4);
  cache.set('newer', 5);
  // `short` expired: dropping it made room for `new`; `newer` then evicts the LRU live entry,
  // which is `mid` (`old` was used after it).
  assert.deepEqual(['old', 'mid', 'new', 'newer'].map((k) => cache.has(k)), [true, false, true, true]);
});

test('delete reports whether a live entry was removed', () => {
  const c = clock();
  const cache = new TtlCache({ capacity: 2, ttlMs: 10, now: c.fn });
  cache.set('a', 1).set('b', 2);
  assert.equal(cache.delete('a'), true);
  assert.equal(cache.delete('a'), false);
  c.now += 10;
  assert.equal(cache.delete('b'), false);
  assert.equal(cache.size, 0);
});

test('keys are compared like Map keys and falsy values are stored', () => {
  const cache = new TtlCache({ capacity: 4, ttlMs: 10, now: () => 0 });
  const objectKey = {};
  cache.set(objectKey, 0).set(1, false).set('1', '').set(null, null);
  assert.equal(cache.get(objectKey), 0);
  assert.equal(cache.get(1), false);
  assert.equal(cache.get('1'), '');
  assert.equal(cache.get(null), null);
  assert.equal(cache.has(null), true);
  assert.equal(cache.get({}), undefined);
});

// A guard against quadratic work per call on a big cache (not a benchmark: generous on purpose).
test('handles many entries quickly', () => {
  let now = 0;
  const cache = new TtlCache({ capacity: 1_000, ttlMs: 1e9, now: () => now });
  const started = process.hrtime.bigint();
  for (let i = 0; i < 50_000; i += 1) {
    now += 1;
    cache.set(i, i);
    cache.get(i - 500);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(cache.size, 1_000);
  assert.ok(ms < 3_000, `100k operations took ${ms.toFixed(0)} ms`);
});
