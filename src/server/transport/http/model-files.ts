/**
 * GET /api/get_model_files: the contributor's model/ folder (config, labels, thumbnail and the weights file when it
 * is there) as one ZIP, like ModelHub's `<name>_model.zip` with entries under model/. Only regular files are
 * included: a symbolic link in the folder could point anywhere on the machine.
 */
import type { FastifyInstance } from 'fastify';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { requireService, type TransportContext } from '../../core/transport-context.js';
import { zipFiles, type ZipSource } from './zip.js';

async function regularFiles(dir: string, prefix: string): Promise<ZipSource[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: ZipSource[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, entry.name);
    if (entry.isFile()) files.push({ name: `${prefix}${entry.name}`, path });
    else if (entry.isDirectory()) files.push(...(await regularFiles(path, `${prefix}${entry.name}/`)));
  }
  return files;
}

export function modelFilesRoutes(app: FastifyInstance, context: TransportContext): void {
  app.get('/api/get_model_files', async (_request, reply) => {
    const { contrib } = requireService(context).runtime;
    const { stream, size } = await zipFiles(await regularFiles(join(contrib.dir, 'model'), 'model/'));
    const fileName = `${contrib.config.meta.name.toLowerCase().replace(/[^a-z0-9._-]+/g, '_')}_model.zip`;
    return reply
      .type('application/zip')
      .header('content-length', String(size))
      .header('content-disposition', `attachment; filename="${fileName}"`)
      .send(stream);
  });
}
