/**
 * The soak run, short: scripts/soak.ts as its own process (it starts its own server process with --weights and
 * reloads them with SIGHUP half-way), its --json summary checked. `npm run soak -- --minutes 10` is the long version.
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandRun } from './support/subprocess.js';

const SOAK = fileURLToPath(new URL('../scripts/soak.ts', import.meta.url));

/** Every status a soak call may end with; UNAVAILABLE (loading, draining, a reload gone wrong) is not one. */
const CALL_OUTCOMES = ['OK', 'CANCELLED', 'DEADLINE_EXCEEDED', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED'];

type Tally = Record<string, Record<string, number>>;

const outcomes = (tally: Tally) => [...new Set(Object.values(tally).flatMap((row) => Object.keys(row)))];
const total = (row: Record<string, number> | undefined) => Object.values(row ?? {}).reduce((a, b) => a + b, 0);

describe('npm run soak (15 s)', () => {
  let run: CommandRun;
  let summary: any;

  beforeAll(async () => {
    run = await runCommand(process.execPath, ['--import', 'tsx', SOAK, '--minutes', '0.25', '--seed', '7', '--json']);
    try {
      summary = JSON.parse(run.stdout);
    } catch {
      throw new Error(`the soak printed no JSON summary (exit ${run.code}):\n${run.stderr}`);
    }
  }, 300_000);

  it('made every kind of call, each ending only as that kind may', () => {
    const { byKind, expected } = summary.calls;
    for (const kind of Object.keys(expected)) expect(total(byKind[kind]), kind).toBeGreaterThan(0);
    for (const [kind, row] of Object.entries<Record<string, number>>(byKind)) {
      expect(expected[kind], kind).toEqual(expect.arrayContaining(Object.keys(row)));
    }
    // The script cut the connection of the disconnect kinds itself; every other call ended with a gRPC status.
    expect([...CALL_OUTCOMES, 'DISCONNECTED']).toEqual(expect.arrayContaining(outcomes(byKind)));
    expect(CALL_OUTCOMES).toEqual(expect.arrayContaining(outcomes(summary.byMethod.server)));
    // Frames of a stream: answered, refused alone (the bad frame), dropped as stale by "latest", or still in flight
    // when the stream's deadline passed (answered DEADLINE_EXCEEDED before the stream ends).
    expect(['OK', 'INVALID_ARGUMENT', 'ABORTED', 'DEADLINE_EXCEEDED']).toEqual(
      expect.arrayContaining(Object.keys(summary.streamFrames)),
    );
  });

  it('left no call unsettled', () => {
    expect(summary.calls.unsettled).toBe(0);
    expect(summary.calls.settled).toBe(summary.calls.started);
  });

  it('saw the server count what it answered: no UNKNOWN or INTERNAL, no more calls than were made', () => {
    const { client, server } = summary.byMethod as { client: Tally; server: Tally };
    for (const [method, row] of Object.entries(server)) {
      expect(row.UNKNOWN ?? 0, method).toBe(0);
      expect(row.INTERNAL ?? 0, method).toBe(0);
      // A connection cut before the server read the call leaves it uncounted there.
      expect(total(row), method).toBeLessThanOrEqual(total(client[method]));
    }
    expect(total(server.Predict)).toBeGreaterThan(0);
    expect(total(server.PredictStream)).toBeGreaterThan(0);
  });

  it('reloaded the weights under load and closed the previous engine', () => {
    const { reload } = summary;
    expect(reload).toMatchObject({ requested: true, happened: true, previousEngineClosed: true });
    expect(reload.sha256After).toMatch(/^[0-9a-f]{64}$/);
    expect(reload.sha256After).not.toBe(reload.sha256Before);
  });

  it('found the server idle again after the load, with no more handles than before it', () => {
    const { idleStart, idleEnd } = summary.handles;
    expect(idleEnd).toMatchObject({ streams: 0, framesInFlight: 0, queue: 0, runs: 0, slabsInUse: 0 });
    expect(idleEnd.handles).toBeLessThanOrEqual(idleStart.handles);
    for (const [type, count] of Object.entries<number>(idleEnd.handlesByType)) {
      expect(count, type).toBeLessThanOrEqual(idleStart.handlesByType[type] ?? 0);
    }
  });

  it('stopped the server with SIGTERM: exit 0', () => {
    expect(summary.serverExit.code).toBe(0);
  });

  it('exits non-zero exactly when a promise is broken', () => {
    const broken = summary.verdicts.filter((verdict: { ok: boolean }) => !verdict.ok);
    expect(run.code, JSON.stringify(broken)).toBe(broken.length > 0 ? 1 : 0);
    expect(summary.ok).toBe(broken.length === 0);
  });
});
