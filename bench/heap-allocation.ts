import { GCProfiler } from 'node:v8';

/**
 * Bytes allocated on the V8 heap over a window (a bench pass): the growth of the used heap
 * between garbage collections, added up (v8.GCProfiler reports the used heap before and after
 * each collection). Unlike CPU time it does not move with the machine's load, and it is what the
 * young-generation collections a path causes scale with. Approximate: heap growth that is not
 * an allocation (a promotion during a collection is counted as the collection's "after") does not
 * occur between collections, and a sweep finishing late can hide a little garbage.
 */
export class HeapAllocationMeter {
  private profiler: GCProfiler | undefined;
  private startUsed = 0;

  start(): void {
    this.startUsed = process.memoryUsage().heapUsed;
    this.profiler = new GCProfiler();
    this.profiler.start();
  }

  /** Bytes allocated since `start`. */
  stop(): number {
    const result = this.profiler?.stop();
    const endUsed = process.memoryUsage().heapUsed;
    this.profiler = undefined;
    let bytes = 0;
    let last = this.startUsed;
    for (const gc of result?.statistics ?? []) {
      bytes += Math.max(0, usedHeap(gc.beforeGC.heapStatistics) - last);
      last = usedHeap(gc.afterGC.heapStatistics);
    }
    return bytes + Math.max(0, endUsed - last);
  }
}

/** The used heap of a GCProfiler record: Node writes `usedHeapSize` (its type declarations say `used_heap_size`). */
function usedHeap(stats: object): number {
  const record = stats as { usedHeapSize?: unknown; used_heap_size?: unknown };
  const used = record.usedHeapSize ?? record.used_heap_size;
  return typeof used === 'number' ? used : 0;
}
