/**
 * Part 3 — parse access-log lines and summarise them.
 * See README.md for the format and the rules.
 */

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/**
 * @param {string} line
 * @returns {{time: Date, method: string, route: string, status: number, durationMs: number, user: string | null} | null}
 */
export function parseLine(line) {
  const fields = line.trim().split(/\s+/);
  if (fields.length !== 6) return null;
  const [stamp, method, target, statusText, durationText, userField] = fields;
  if (!TIMESTAMP.test(stamp)) return null;
  const time = new Date(stamp);
  if (Number.isNaN(time.getTime())) return null;
  if (!METHODS.has(method)) return null;
  if (!target.startsWith('/')) return null;
  if (!/^[1-5]\d\d$/.test(statusText)) return null;
  const duration = /^(\d+)ms$/.exec(durationText);
  if (!duration) return null;
  if (!userField.startsWith('user=') || userField.length === 'user='.length) return null;
  const user = userField.slice('user='.length);
  return {
    time,
    method,
    route: normaliseRoute(target),
    status: Number(statusText),
    durationMs: Number(duration[1]),
    user: user === '-' ? null : user,
  };
}

function normaliseRoute(target) {
  const path = target.split(/[?#]/, 1)[0];
  const segments = path.split('/').filter((s) => s !== '');
  return '/' + segments.map((s) => (/^\d+$/.test(s) ? ':id' : s)).join('/');
}

/**
 * @param {Iterable<string>} lines
 */
export function summarize(lines) {
  let total = 0;
  let malformed = 0;
  let errors = 0;
  const durations = new Map();
  const users = new Map();
  for (const line of lines) {
    if (line.trim() === '') continue;
    total += 1;
    const entry = parseLine(line);
    if (entry === null) {
      malformed += 1;
      continue;
    }
    if (entry.status >= 500) errors += 1;
    const key = `${entry.method} ${entry.route}`;
    if (!durations.has(key)) durations.set(key, []);
    durations.get(key).push(entry.durationMs);
    if (entry.user !== null) users.set(entry.user, (users.get(entry.user) ?? 0) + 1);
  }
  const parsed = total - malformed;
  const byCountThenName = (a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  const routes = [...durations.entries()]
    .map(([route, ms]) => [route, ms.length, p95(ms)])
    .sort(byCountThenName)
    .map(([route, count, p95Ms]) => ({ route, count, p95Ms }));
  const topUsers = [...users.entries()]
    .sort(byCountThenName)
    .slice(0, 3)
    .map(([user, count]) => ({ user, count }));
  return {
    total,
    malformed,
    errorRate: parsed === 0 ? 0 : Math.round((errors / parsed) * 1000) / 1000,
    routes,
    topUsers,
  };
}

function p95(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(0.95 * sorted.length) - 1];
}
