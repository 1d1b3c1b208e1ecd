/**
 * Whether this CPU has int8 dot-product instructions, which ONNX Runtime's integer convolutions need to beat float:
 * AVX-512 VNNI, AVX-VNNI or AMX on x86-64, the dot-product extension on Arm. Without them int8 can be slower than fp32.
 */
import { readFile } from 'node:fs/promises';

/** /proc/cpuinfo feature flags that give int8 dot products. */
const INT8_DOT_FLAGS = ['avx512_vnni', 'avx_vnni', 'amx_int8', 'asimddp', 'i8mm'] as const;

export interface Int8Support {
  /** The flags found; empty when none. */
  readonly flags: readonly string[];
  /** False when the CPU's flags could not be read (not Linux). */
  readonly known: boolean;
}

/** The int8 dot-product flags of the first CPU in `cpuinfo` (the text of /proc/cpuinfo). */
export function int8DotFlags(cpuinfo: string): string[] {
  const line = /^(?:flags|Features)\s*:(.*)$/m.exec(cpuinfo);
  const flags = new Set((line?.[1] ?? '').trim().split(/\s+/));
  return INT8_DOT_FLAGS.filter((flag) => flags.has(flag));
}

export async function int8Support(cpuinfoPath = '/proc/cpuinfo'): Promise<Int8Support> {
  try {
    return { flags: int8DotFlags(await readFile(cpuinfoPath, 'utf8')), known: true };
  } catch {
    return { flags: [], known: false };
  }
}
