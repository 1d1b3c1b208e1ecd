/**
 * The web page at `/`: static HTML, CSS and JavaScript from page/, no build step. The files live in src/ (tsc copies
 * nothing), found from here by the same relative path whether this module runs from src/ or dist/.
 */
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PAGE_DIR = fileURLToPath(new URL('../../../../src/server/transport/http/page/', import.meta.url));

/** Same-origin only: the page loads nothing from elsewhere and no inline script can run. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** The page's paths: public even when the API needs a token. */
export const PAGE_PATHS: ReadonlySet<string> = new Set(Object.keys(FILES));

export function pageRoutes(app: FastifyInstance): void {
  for (const [path, { file, type }] of Object.entries(FILES)) {
    // Read once at start-up: a missing file fails the server's start, not a visitor's request.
    const body = readFileSync(`${PAGE_DIR}${file}`);
    app.get(path, async (_request, reply) =>
      reply
        .type(type)
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('cache-control', 'no-cache')
        .send(body),
    );
  }
}
