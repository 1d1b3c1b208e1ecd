/** The README stays true: its flags table is the one generated from the code, and it shows the set-up commands. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { flagsTable } from '../scripts/readme-flags.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('has the current flags table (regenerate with `npx tsx scripts/readme-flags.ts`)', () => {
    expect(readme).toContain(flagsTable());
  });

  it('shows the two set-up commands', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
  });
});
