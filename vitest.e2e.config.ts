import { defineConfig } from 'vitest/config';

/** Browser tests: `npm run test:e2e`. They need Debian's chromium at /usr/bin/chromium, so `npm test` leaves them out. */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
