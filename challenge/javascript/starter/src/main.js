// Provided: prints the summary of a log file. Usage: node src/main.js [data/access.log]
import { readFileSync } from 'node:fs';
import { summarize } from './logSummary.js';

const path = process.argv[2] ?? new URL('../data/access.log', import.meta.url);
const lines = readFileSync(path, 'utf8').split('\n');
console.log(JSON.stringify(summarize(lines), null, 2));
