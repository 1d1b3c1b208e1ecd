/**
 * Certificates made at test time with the `openssl` command, into a fresh temporary folder (never committed): a CA, a
 * server certificate for 127.0.0.1 and localhost, a client certificate signed by the CA, and a second, untrusted CA
 * with a client certificate of its own. EC P-256 keys: generated in milliseconds.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TestCerts {
  readonly dir: string;
  /** The CA that signs the server and trusted client certificates. */
  readonly ca: CertFiles;
  /** For 127.0.0.1 and localhost, signed by `ca`. */
  readonly server: CertFiles;
  /** Client certificate signed by `ca`. */
  readonly client: CertFiles;
  /** Another CA, which the server does not trust, and a client certificate it signed. */
  readonly otherCa: CertFiles;
  readonly untrustedClient: CertFiles;
  read(path: string): Promise<Buffer>;
  remove(): Promise<void>;
}

/** Enough of a config for `openssl req` (which insists on a distinguished_name section) and our extensions. */
const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

export async function generateTestCerts(): Promise<TestCerts> {
  const dir = await mkdtemp(join(tmpdir(), 'xception-certs-'));
  const config = join(dir, 'openssl.cnf');
  await writeFile(config, OPENSSL_CONFIG);
  const files = (name: string): CertFiles => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const newKey = (files: CertFiles) =>
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', files.key);

  const makeCa = async (name: string, subject: string): Promise<CertFiles> => {
    const ca = files(name);
    await newKey(ca);
    await openssl(
      'req',
      '-config',
      config,
      '-new',
      '-x509',
      '-key',
      ca.key,
      '-subj',
      `/CN=${subject}`,
      '-days',
      '2',
      '-extensions',
      'ca',
      '-out',
      ca.cert,
    );
    return ca;
  };
  const makeLeaf = async (
    name: string,
    subject: string,
    ca: CertFiles,
    extensions: 'server' | 'client',
  ): Promise<CertFiles> => {
    const leaf = files(name);
    const csr = join(dir, `${name}.csr`);
    await newKey(leaf);
    await openssl('req', '-config', config, '-new', '-key', leaf.key, '-subj', `/CN=${subject}`, '-out', csr);
    await openssl(
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-set_serial',
      String(Date.now()),
      '-days',
      '2',
      '-extfile',
      config,
      '-extensions',
      extensions,
      '-out',
      leaf.cert,
    );
    return leaf;
  };

  const ca = await makeCa('ca', 'xception test CA');
  const otherCa = await makeCa('other-ca', 'untrusted test CA');
  const server = await makeLeaf('server', 'localhost', ca, 'server');
  const client = await makeLeaf('client', 'trusted client', ca, 'client');
  const untrustedClient = await makeLeaf('untrusted-client', 'untrusted client', otherCa, 'client');
  return {
    dir,
    ca,
    server,
    client,
    otherCa,
    untrustedClient,
    read: (path) => readFile(path),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
