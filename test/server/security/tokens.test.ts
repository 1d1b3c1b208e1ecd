/** Bearer tokens: the file format, the header parsing, constant-time matching of several tokens, config errors. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code } from '../../../src/server/errors.js';
import { SecurityConfigError } from '../../../src/server/security/config-error.js';
import {
  createTokenVerifier,
  createVerifier,
  parseTokenFile,
  tokenRefusal,
  INVALID_TOKEN_MESSAGE,
  MISSING_TOKEN_MESSAGE,
} from '../../../src/server/security/tokens.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xception-tokens-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tokenFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('parseTokenFile', () => {
  it('takes one token a line, skipping blank lines and # comments, trimming spaces and CRLF', () => {
    expect(parseTokenFile('# deploy tokens\n\nalpha-123\r\n   beta/456=  \n# old: gamma\n\t\n')).toEqual([
      'alpha-123',
      'beta/456=',
    ]);
  });

  it('refuses a line with spaces inside, naming the line number and not its content', () => {
    const parse = () => parseTokenFile('ok\nsecret part two\n', 'tokens.txt');
    expect(parse).toThrow(SecurityConfigError);
    expect(parse).toThrow(/tokens\.txt line 2/);
    expect(parse).not.toThrow(/secret/);
  });
});

describe('TokenVerifier', () => {
  const verifier = createVerifier(['first-token', 'second-token-which-is-longer', 's']);

  it('accepts every configured token, with the Bearer scheme in any case', () => {
    expect(verifier.size).toBe(3);
    expect(verifier.check('Bearer first-token')).toBe('ok');
    expect(verifier.check('bearer second-token-which-is-longer')).toBe('ok');
    expect(verifier.check('BEARER s')).toBe('ok');
    expect(verifier.verify('  Bearer   first-token  ')).toBe(true);
  });

  it('calls an absent header, another scheme or an empty token "missing"', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer   ',
      'Basic Zmlyc3QtdG9rZW4=',
      'first-token',
      'Bearerfirst-token',
    ]) {
      expect(verifier.check(header), String(header)).toBe('missing');
    }
  });

  it('calls any other token "invalid": prefixes, extensions, case changes, other lengths', () => {
    for (const header of [
      'Bearer first',
      'Bearer first-token2',
      'Bearer FIRST-TOKEN',
      'Bearer first-token s',
      'Bearer x'.repeat(500),
    ]) {
      expect(verifier.check(header), header.slice(0, 40)).toBe('invalid');
      expect(verifier.verify(header)).toBe(false);
    }
  });

  it('maps refusals to UNAUTHENTICATED with fixed messages', () => {
    expect(tokenRefusal('ok')).toBeUndefined();
    expect(tokenRefusal('missing')).toMatchObject({ code: Code.UNAUTHENTICATED, message: MISSING_TOKEN_MESSAGE });
    expect(tokenRefusal('invalid')).toMatchObject({ code: Code.UNAUTHENTICATED, message: INVALID_TOKEN_MESSAGE });
  });
});

describe('createTokenVerifier', () => {
  it('is off (undefined) with neither a file nor a list', () => {
    expect(createTokenVerifier({ authTokens: [] })).toBeUndefined();
  });

  it('accepts the tokens of the file and of the list together', async () => {
    const path = await tokenFile('both.txt', '# team a\nfrom-file\n');
    const verifier = createTokenVerifier({ authTokenFile: path, authTokens: ['from-list'] })!;
    expect(verifier.size).toBe(2);
    expect(verifier.verify('Bearer from-file')).toBe(true);
    expect(verifier.verify('Bearer from-list')).toBe(true);
    expect(verifier.verify('Bearer # team a')).toBe(false);
  });

  it('refuses to start with a missing file, a file without tokens, or a list token with spaces', async () => {
    expect(() => createTokenVerifier({ authTokenFile: join(dir, 'absent.txt'), authTokens: [] })).toThrow(
      /cannot read --auth-token-file .*absent\.txt/,
    );
    const empty = await tokenFile('empty.txt', '# nothing yet\n\n');
    expect(() => createTokenVerifier({ authTokenFile: empty, authTokens: [] })).toThrow(/holds no token/);
    expect(() => createTokenVerifier({ authTokens: ['has space'] })).toThrow(SecurityConfigError);
  });
});
