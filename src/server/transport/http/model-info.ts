/**
 * What ModelHub says about the model: GET /api/get_config (config.json as on disk), /api/get_model_io,
 * /api/get_legal; and GET /api/metadata, this server's own summary for the web page (engine, backend, weights).
 */
import type { FastifyInstance } from 'fastify';
import { requireService, type TransportContext } from '../../core/transport-context.js';

/** ModelHub's framework license, as get_legal's `modelhub_license` reports it. */
export const MODELHUB_LICENSE = `This server implements the REST API of the ModelHub engine (modelhub-ai/modelhub-engine on GitHub): its routes,
its JSON shapes and its contributor folder layout (contrib_src). It is an independent TypeScript implementation and
contains no ModelHub code.

The ModelHub framework is released under the MIT License, Copyright (c) 2018 ModelHub.

This server's own code, and the license of the model it serves, are separate: see model_license.
`;

export const MODELHUB_ACKNOWLEDGEMENTS = `Thanks to the ModelHub project (modelhub.ai), whose engine defined the API this server
speaks and whose contribution format (config.json, labels, licenses, sample data) describes the model here.
The model itself, Xception, is by François Chollet; see model_license for its terms.
`;

export interface PageMetadata {
  id: string;
  name: string;
  task: string;
  taskExtended: string;
  description: string;
  inputFormats: string[];
  /** How many labels the model's own UI shows (config.json modelhub.top). */
  top: number;
  classes: number;
  samples: string[];
  engine: string;
  backend: string;
  threads: number;
  pretrained: boolean;
  weights: { source: string; format: string; sha256: string; seed: number };
  instance: string;
  version: string;
  maxMessageBytes: number;
}

export function modelInfoRoutes(app: FastifyInstance, context: TransportContext): void {
  app.get('/api/get_config', async (_request, reply) => {
    const { contrib } = requireService(context).runtime;
    return reply.type('application/json; charset=utf-8').send(contrib.configJson);
  });

  app.get('/api/get_model_io', async () => {
    const { contrib } = requireService(context).runtime;
    return contrib.config.model.io;
  });

  app.get('/api/get_legal', async () => {
    const { contrib } = requireService(context).runtime;
    return {
      modelhub_license: MODELHUB_LICENSE,
      modelhub_acknowledgements: MODELHUB_ACKNOWLEDGEMENTS,
      model_license: contrib.modelLicense,
      sample_data_license: contrib.sampleDataLicense,
    };
  });

  app.get('/api/metadata', async (): Promise<PageMetadata> => {
    const service = requireService(context);
    const metadata = service.metadata();
    const runtime = metadata.runtime!;
    const description = service.runtime.contrib.config.model.description;
    return {
      id: metadata.id,
      name: metadata.name,
      task: metadata.task,
      taskExtended: metadata.taskExtended,
      description: typeof description === 'string' ? description : '',
      inputFormats: metadata.inputFormats,
      top: metadata.top,
      classes: metadata.labels.length,
      samples: metadata.sampleFiles,
      engine: runtime.engine,
      backend: runtime.backend,
      threads: runtime.threads,
      pretrained: runtime.pretrained,
      weights: {
        source: runtime.weightsSource,
        format: runtime.weightsFormat,
        sha256: runtime.weightsSha256,
        seed: runtime.seed,
      },
      instance: runtime.instance,
      version: runtime.version,
      maxMessageBytes: runtime.maxMessageBytes,
    };
  });
}
