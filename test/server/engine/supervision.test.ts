/**
 * The engine's worker supervision (supervised-worker.ts), with the dying engine: the production onnx engine whose
 * worker dies on demand. A fault fails the run in flight with an EngineFaultError (UNAVAILABLE), a fresh worker is
 * started from the compiled model in memory and takes the runs that waited for it; too many faults within the window
 * and the engine gives up; close() during a restart leaves no worker running.
 */
import { describe, expect, it } from 'vitest';
import type { Engine, EngineHealthEvents } from '../../../src/server/engine/engine.js';
import { dyingEngine, withDyingEngine, type DyingEngine } from '../../support/dying-engine.js';
import {
  expectCorrect,
  expectFault,
  healthLog,
  kill,
  rejection,
  run,
  tinyModel,
} from '../../support/engine-fixture.js';
import { waitFor } from '../../support/poll.js';

const withEngine = (dying: DyingEngine, health: EngineHealthEvents, test: (engine: Engine) => Promise<void>) =>
  withDyingEngine(dying, tinyModel, { health }, test);

describe('a worker that fails', () => {
  it.each([
    ['exits', 'exit', /^the onnx engine worker died during this run \(exited with code 7\); retry$/],
    [
      'throws where nothing catches',
      'uncaught',
      /^the onnx engine worker died during this run \(uncaught error: the dying engine threw where nothing catches\); retry$/,
    ],
    [
      'has its runtime throw mid-run',
      'runtime',
      /^the onnx engine worker failed this run and was stopped \(its runtime threw: the dying engine runtime failed mid-run\); retry$/,
    ],
  ] as const)(
    '%s: the run fails with the fault, and the runs that waited run on a fresh worker',
    async (_, kind, message) => {
      const dying = dyingEngine();
      const log = healthLog();
      await withEngine(dying, log.health, async (engine) => {
        expectCorrect(await run(engine));
        // The fresh worker is held before it is ready, so runs submitted after the fault must wait for it.
        dying.holdStarts(true);
        const fault = await expectFault(kill(engine, kind), message);
        expect(log.events).toEqual(['fault']);
        expect(log.errors[0]).toBe(fault);

        await waitFor(() => dying.started() === 2, 10_000, 'the fresh worker to start');
        let answered = 0;
        const waiting = [1, 2, 3].map(() => run(engine).finally(() => answered++));
        await waitFor(() => dying.liveWorkers() === 1, 10_000, "the failed worker's thread to end");
        expect(answered).toBe(0);
        expect(log.events).toEqual(['fault']);

        dying.holdStarts(false);
        // The same slabs as before the fault: the fresh worker is sent their memory again.
        for (const output of await Promise.all(waiting)) expectCorrect(output);
        expect(log.events).toEqual(['fault', 'restarted']);
        expectCorrect(await run(engine));
        expect(dying.started()).toBe(2);
      });
    },
  );
});

describe('a worker that keeps failing', () => {
  it('gives up on the third fault within the window: once; later runs fail UNAVAILABLE', async () => {
    const dying = dyingEngine();
    const log = healthLog();
    await withEngine(dying, log.health, async (engine) => {
      for (const kind of ['exit', 'runtime'] as const) {
        await expectFault(kill(engine, kind), /; retry$/);
        expectCorrect(await run(engine));
      }
      expect(log.events).toEqual(['fault', 'restarted', 'fault', 'restarted']);

      const last = await expectFault(kill(engine, 'uncaught'), /uncaught error/);
      expect(log.events).toEqual(['fault', 'restarted', 'fault', 'restarted', 'gaveUp']);
      const gaveUp = log.errors[2]!;
      expect(gaveUp.message).toBe(
        'the onnx engine was given up on: its worker failed 3 times within 60 s (last: uncaught error: the dying ' +
          'engine threw where nothing catches); this server answers no more predictions: retry on another replica',
      );
      expect(gaveUp.cause).toBe(last);
      for (let i = 0; i < 3; i++) expect(await expectFault(run(engine), /given up on/)).toBe(gaveUp);
      expect(log.events).toHaveLength(5);
      expect(dying.started()).toBe(3);
      await waitFor(() => dying.liveWorkers() === 0, 10_000, 'the last worker thread to end');
    });
  });

  it('counts a fresh worker that fails to start as a fault, and fails the runs that waited when it gives up', async () => {
    const dying = dyingEngine();
    const log = healthLog();
    await withEngine(dying, log.health, async (engine) => {
      dying.holdStarts(true);
      dying.failStarts(true);
      await expectFault(kill(engine, 'exit'), /exited with code 7/);
      await waitFor(() => dying.started() === 2, 10_000, 'the fresh worker to start');
      const waiting = run(engine);
      dying.holdStarts(false);

      const gaveUp = await expectFault(
        waiting,
        /^the onnx engine was given up on: its worker failed 3 times within 60 s \(last: a fresh worker failed to start: the dying engine was told to fail to start\)/,
      );
      expect(log.events).toEqual(['fault', 'fault', 'gaveUp']);
      expect(log.errors[1]!.message).toBe(
        'the onnx engine: a fresh worker failed to start: the dying engine was told to fail to start; retry',
      );
      expect(log.errors[2]).toBe(gaveUp);
      dying.failStarts(false);
      expect(await expectFault(run(engine), /given up on/)).toBe(gaveUp);
      expect(dying.started()).toBe(3);
    });
  });

  it('keeps restarting when the faults are further apart than the window', async () => {
    // A 1 ms window: between two faults lies a whole worker start, so no two ever fall within it.
    const dying = dyingEngine({ maxFaults: 2, faultWindowMs: 1 });
    const log = healthLog();
    await withEngine(dying, log.health, async (engine) => {
      for (let i = 0; i < 4; i++) {
        await expectFault(kill(engine, 'exit'), /exited with code 7/);
        expectCorrect(await run(engine));
      }
      expect(log.events).toEqual(Array.from({ length: 4 }, () => ['fault', 'restarted']).flat());
      expect(dying.started()).toBe(5);
    });
  });
});

describe('close()', () => {
  it('during a restart ends the worker being started and fails the runs that waited for it', async () => {
    const dying = dyingEngine();
    const log = healthLog();
    const engine = await dying.create('onnx', tinyModel.arch, tinyModel.weights, { threads: 1, health: log.health });
    dying.holdStarts(true);
    await expectFault(kill(engine, 'exit'), /exited with code 7/);
    await waitFor(() => dying.started() === 2 && dying.liveWorkers() === 1, 10_000, 'the fresh worker to start');

    const waiting = rejection(run(engine));
    await engine.close();
    expect((await waiting).message).toMatch(/closed while the run waited for a fresh worker/);
    await waitFor(() => dying.liveWorkers() === 0, 10_000, 'the worker being started to end');
    expect((await rejection(run(engine))).message).toMatch(/closed/);
    await engine.close();
    expect(log.events).toEqual(['fault']);
    expect(dying.started()).toBe(2);
  });
});
