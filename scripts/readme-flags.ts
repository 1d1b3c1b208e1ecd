/**
 * Rewrites the flags table in README.md from src/server/config.ts, so the README cannot drift from the code
 * (test/readme.test.ts checks it is current). Run with `npx tsx scripts/readme-flags.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { SERVER_OPTIONS } from '../src/server/config.js';

const path = new URL('../README.md', import.meta.url);
export function flagsTable(): string {
  const rows = SERVER_OPTIONS.map((spec) => {
    const fallback = spec.defaultDescription ?? (spec.defaultValue === undefined ? '' : String(spec.defaultValue));
    const choices = spec.choices ? ` (${spec.choices.join(', ')})` : '';
    return `| \`${spec.flags}\` | \`${spec.env}\` | ${fallback.replaceAll('|', '\\|')} | ${spec.description}${choices} |`;
  });
  return ['| flag | environment | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const readme = readFileSync(path, 'utf8');
  const updated = readme.replace(
    /<!-- flags:start -->[\s\S]*<!-- flags:end -->/,
    `<!-- flags:start -->\n${flagsTable()}\n<!-- flags:end -->`,
  );
  writeFileSync(path, updated);
  console.log('README flags table updated');
}
