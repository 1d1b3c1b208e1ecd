/**
 * An engine of several instances (engine-instances.ts, `--engine-instances`), with the dying engine: the production
 * onnx engine whose worker dies on demand, and whose runs asked to die can be held in flight. A held run occupies its
 * worker, so a run that finishes meanwhile ran on another one: runs go at once, to the idle worker. Health is the
 * engine's as a whole. And a server started with --engine-instances 2 runs two requests at once, end to end.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PixelFormat,
  type Metadata,
  type ModelServiceClient,
  type PredictResponse,
} from '../../../src/gen/modelhub/v1/model_service.js';
import type { Engine, EngineHealthEvents } from '../../../src/server/engine/engine.js';
import { deathFrame, dyingEngine, withDyingEngine, type DyingEngine } from '../../support/dying-engine.js';
import { settled, unary } from '../../support/grpc.js';
import { rgbPixels } from '../../support/images.js';
import { expectCorrect, expectFault, healthLog, kill, run, tinyModel } from '../../support/engine-fixture.js';
import { waitFor } from '../../support/poll.js';
import { modelClient, startTestServer, type TestServer } from '../../support/server.js';

/** A promise and whether it has settled yet. */
function tracked<T>(promise: Promise<T>): { readonly promise: Promise<T>; settled(): boolean } {
  let done = false;
  const settledPromise = promise.finally(() => {
    done = true;
  });
  settledPromise.catch(() => {});
  return { promise: settledPromise, settled: () => done };
}

const withInstances = (dying: DyingEngine, health: EngineHealthEvents, test: (engine: Engine) => Promise<void>) =>
  withDyingEngine(dying, tinyModel, { instances: 2, health }, test);

describe('an engine of two instances', () => {
  it('starts a worker per instance and runs a second image while the first is still in flight', async () => {
    const dying = dyingEngine();
    const log = healthLog();
    await withInstances(dying, log.health, async (engine) => {
      expect(engine.info).toMatchObject({ engine: 'onnx', threads: 1, instances: 2 });
      expect(dying.started()).toBe(2);
      expect(dying.liveWorkers()).toBe(2);

      dying.holdDeaths(true);
      const held = tracked(kill(engine, 'exit'));
      // The held run keeps its worker; these go to the other one, one after another, and finish.
      for (let i = 0; i < 3; i++) expectCorrect(await run(engine));
      expect(held.settled()).toBe(false);

      dying.holdDeaths(false);
      await expectFault(held.promise, /died during this run/);
      expect(log.events).toEqual(['fault']);
      await waitFor(() => log.events.length === 2, 10_000, 'the failed instance to be replaced');
      expect(log.events).toEqual(['fault', 'restarted']);
      expect(dying.started()).toBe(3);
      expectCorrect(await run(engine));
    });
  });

  it('sends runs to the instance that is up while the other is being replaced', async () => {
    const dying = dyingEngine();
    const log = healthLog();
    await withInstances(dying, log.health, async (engine) => {
      dying.holdStarts(true);
      await expectFault(kill(engine, 'exit'), /died during this run/);
      await waitFor(() => dying.started() === 3, 10_000, 'the fresh worker to start');
      // Its replacement is held before it is ready: the runs go to the instance that is up, and nothing waits.
      for (let i = 0; i < 3; i++) expectCorrect(await run(engine));
      expect(log.events).toEqual(['fault']);
      dying.holdStarts(false);
      await waitFor(() => log.events.length === 2, 10_000, 'the replacement to be ready');
      expect(log.events).toEqual(['fault', 'restarted']);
    });
  });

  it('is up again only once every instance is: one "restarted" after both were replaced', async () => {
    const dying = dyingEngine();
    const log = healthLog();
    await withInstances(dying, log.health, async (engine) => {
      dying.holdStarts(true);
      await expectFault(kill(engine, 'exit'), /died during this run/);
      // The first instance is down: this one goes to the second, which dies too.
      await expectFault(kill(engine, 'exit'), /died during this run/);
      expect(log.events).toEqual(['fault', 'fault']);
      await waitFor(() => dying.started() === 4, 10_000, 'both fresh workers to start');
      dying.holdStarts(false);
      await waitFor(() => log.events.length === 3, 10_000, 'the engine to be up again');
      expect(log.events).toEqual(['fault', 'fault', 'restarted']);
      // Up means both: a held run on one and a run that finishes on the other.
      dying.holdDeaths(true);
      const held = tracked(kill(engine, 'exit'));
      expectCorrect(await run(engine));
      expect(held.settled()).toBe(false);
      dying.holdDeaths(false);
      await expectFault(held.promise, /died during this run/);
    });
  });

  it('refuses every run once one instance is given up on, though the other is still up', async () => {
    const dying = dyingEngine({ maxFaults: 1 });
    const log = healthLog();
    await withInstances(dying, log.health, async (engine) => {
      await expectFault(kill(engine, 'exit'), /died during this run/);
      expect(log.events).toEqual(['gaveUp']);
      await expectFault(run(engine), /was given up on/);
      await expectFault(run(engine), /was given up on/);
    });
  });

  it('fails to start as a whole, leaving no worker running, when one instance fails to start', async () => {
    const dying = dyingEngine();
    dying.failStarts(true);
    await expect(dying.create('onnx', tinyModel.arch, tinyModel.weights, { threads: 1, instances: 2 })).rejects.toThrow(
      /failed to start/,
    );
    await waitFor(() => dying.liveWorkers() === 0, 10_000, 'every worker thread to end');
  });
});

describe('a server with --engine-instances 2', () => {
  const dying = dyingEngine();
  let server: TestServer;
  let client: ModelServiceClient;

  beforeAll(async () => {
    server = await startTestServer(['--engine-instances', '2', '--threads', '1'], { createEngine: dying.create });
    client = modelClient(server.address);
  });

  afterAll(async () => {
    client?.close();
    dying.holdDeaths(false);
    await server?.shutdown(500);
  });

  const predict = (frame: Buffer, id: string) =>
    settled(client.predict.bind(client), {
      id,
      topK: 5,
      input: { $case: 'raw', value: { width: 299, height: 299, format: PixelFormat.PIXEL_FORMAT_RGB8, data: frame } },
    });

  it('runs two requests at once: one answers while the other is still in the engine', async () => {
    const { runtime } = await unary<object, Metadata>(client.getMetadata.bind(client), {});
    expect(runtime).toMatchObject({ threads: 1, maxConcurrency: 2 });
    expect(dying.started()).toBe(2);

    dying.holdDeaths(true);
    const held = tracked(predict(deathFrame('exit'), 'held'));
    for (let i = 0; i < 2; i++) {
      const answer = await predict(rgbPixels(299, 299, 20 + i), `beside-${i}`);
      expect(answer).not.toBeInstanceOf(Error);
      expect((answer as PredictResponse).outputs[0]!.prediction).toHaveLength(5);
    }
    expect(held.settled()).toBe(false);

    dying.holdDeaths(false);
    const death = (await held.promise) as ServiceError;
    expect(death).toBeInstanceOf(Error);
    expect(death.code).toBe(status.UNAVAILABLE);
  });
});
