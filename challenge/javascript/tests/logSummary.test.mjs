// Hidden tests, Part 3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { load, WORKSPACE } from './workspace.mjs';

const { parseLine, summarize } = await load('src/logSummary.js');

test('parses every field of a line', () => {
  const entry = parseLine('2024-03-01T12:00:00.123Z GET /api/orders/42?expand=items 200 35ms user=alice');
  assert.ok(entry.time instanceof Date);
  assert.equal(entry.time.toISOString(), '2024-03-01T12:00:00.123Z');
  assert.deepEqual(
    { ...entry, time: undefined },
    { time: undefined, method: 'GET', route: '/api/orders/:id', status: 200, durationMs: 35, user: 'alice' },
  );
});

test('normalises routes: query, numeric segments, trailing slash', () => {
  const route = (target) => parseLine(`2024-03-01T12:00:00Z GET ${target} 200 1ms user=-`)?.route;
  assert.equal(route('/api/orders/42/?x=1'), '/api/orders/:id');
  assert.equal(route('/api/carts/7/items/3'), '/api/carts/:id/items/:id');
  assert.equal(route('/api/v2/orders'), '/api/v2/orders');
  assert.equal(route('/api/orders/42abc'), '/api/orders/42abc');
  assert.equal(route('/'), '/');
  assert.equal(route('/?page=2'), '/');
});

test('anonymous users are null and extra whitespace is fine', () => {
  const entry = parseLine('  2024-03-01T12:00:00Z   DELETE  /api/carts/9   204  7ms  user=-  ');
  assert.equal(entry.user, null);
  assert.equal(entry.method, 'DELETE');
  assert.equal(entry.status, 204);
  assert.equal(entry.durationMs, 7);
});

test('malformed lines are null, not exceptions', () => {
  for (const line of [
    '',
    'garbage line from a crashed writer',
    '2024-03-01T12:10:00Z GET /api/orders',
    '2024-03-01T12:20:00.000Z FETCH /api/orders 200 12ms user=bob',
    '2024-03-01T12:30:00.000Z GET /api/orders 200 12 user=bob',
    '2024-03-01T12:30:00.000Z GET /api/orders 200 12.5ms user=bob',
    '2024-03-01T12:30:00.000Z GET /api/orders 99 12ms user=bob',
    '2024-03-01T12:30:00.000Z GET /api/orders 600 12ms user=bob',
    '2024-03-01T12:30:00.000Z GET api/orders 200 12ms user=bob',
    '2024-03-01T12:30:00.000Z GET /api/orders 200 12ms bob',
    '2024-03-01T12:30:00.000Z GET /api/orders 200 12ms user=bob extra',
    '2024-13-01T12:30:00.000Z GET /api/orders 200 12ms user=bob',
    'yesterday GET /api/orders 200 12ms user=bob',
  ]) {
    assert.equal(parseLine(line), null, line);
  }
});

const SAMPLE = [
  '2024-03-01T12:00:00Z GET /api/orders/1 200 10ms user=bob',
  '2024-03-01T12:00:01Z GET /api/orders/2 500 30ms user=amy',
  '',
  '2024-03-01T12:00:02Z POST /api/orders 201 50ms user=bob',
  'not a log line',
  '2024-03-01T12:00:03Z GET /api/orders/3?x=1 200 20ms user=-',
  '2024-03-01T12:00:04Z GET /health 503 1ms user=cat',
  '2024-03-01T12:00:05Z POST /api/orders 200 40ms user=amy',
  '2024-03-01T12:00:06Z GET /health 200 2ms user=dan',
];

test('summarises counts, error rate, routes and users', () => {
  assert.deepEqual(summarize(SAMPLE), {
    total: 8,
    malformed: 1,
    errorRate: 0.286,
    routes: [
      { route: 'GET /api/orders/:id', count: 3, p95Ms: 30 },
      { route: 'GET /health', count: 2, p95Ms: 2 },
      { route: 'POST /api/orders', count: 2, p95Ms: 50 },
    ],
    topUsers: [
      { user: 'amy', count: 2 },
      { user: 'bob', count: 2 },
      { user: 'cat', count: 1 },
    ],
  });
});

test('p95 uses the nearest rank', () => {
  const lines = Array.from({ length: 40 }, (_, i) => `2024-03-01T12:00:00Z GET /x ${200} ${40 - i}ms user=-`);
  // n = 40: rank ceil(38) = 38 → the 38th smallest of 1..40.
  assert.equal(summarize(lines).routes[0].p95Ms, 38);
  const one = summarize(['2024-03-01T12:00:00Z GET /x 200 7ms user=-']);
  assert.equal(one.routes[0].p95Ms, 7);
  const twentyOne = Array.from({ length: 21 }, (_, i) => `2024-03-01T12:00:00Z GET /x 200 ${i + 1}ms user=-`);
  // n = 21: rank ceil(19.95) = 20.
  assert.equal(summarize(twentyOne).routes[0].p95Ms, 20);
});

test('an empty or all-malformed log has a zero error rate', () => {
  assert.deepEqual(summarize([]), { total: 0, malformed: 0, errorRate: 0, routes: [], topUsers: [] });
  assert.deepEqual(summarize(['', 'junk']), { total: 1, malformed: 1, errorRate: 0, routes: [], topUsers: [] });
});

test('accepts any iterable, such as a generator', () => {
  function* lines() {
    yield '2024-03-01T12:00:00Z GET /a 200 1ms user=x';
    yield '2024-03-01T12:00:00Z GET /a 200 3ms user=x';
  }
  assert.deepEqual(summarize(lines()).routes, [{ route: 'GET /a', count: 2, p95Ms: 3 }]);
});

test('summarises the sample log', () => {
  const lines = readFileSync(resolve(WORKSPACE, 'data/access.log'), 'utf8').split('\n');
  const summary = summarize(lines);
  assert.equal(summary.total, 225);
  assert.equal(summary.malformed, 5);
  assert.equal(summary.routes.reduce((n, r) => n + r.count, 0), 220);
  assert.equal(summary.routes[0].route, 'GET /api/orders/:id');
  assert.equal(summary.topUsers.length, 3);
});
