import { formatMs, examples, type AssertionResult } from '../result.ts';
import { joinCounts, type StitchedPipeline } from '../../harness/traces/stitch.ts';

/**
 * Stitching as an assertion: whether every upload's pipeline could be followed across the
 * queues. The joins themselves (`stitchPipelines`, `fetchPipelineTraces`) are harness code
 * (harness/traces/stitch.ts), shared with the replay; re-exported here for the families.
 */
export * from '../../harness/traces/stitch.ts';

function stopsAt(p: StitchedPipeline): string {
  if (!p.upload) return p.detection ? 'no upload span (only detection_processing)' : 'no span of this upload at all';
  if (!p.detection) return 'stops after the upload span (no detection_processing with this file_path)';
  if (!p.analysis) return `stops after detection_processing (no analysis_processing${p.batchId ? ` with batch_id ${p.batchId}` : ', and no batch_id to follow'})`;
  return `stops after analysis_processing (no event_creation${p.batchId ? ` for batch ${p.batchId}` : ''})`;
}

/**
 * Whether every pipeline could be followed from upload to `until` (linked or stitched). Family
 * `propagation`: it is what is left of the trace story when hops are broken.
 *
 * Up to the event, a pipeline whose batch was opened by an unsampled upload is skipped (and
 * counted): the batch's analysis trace follows the opener's sampling decision, so there is no
 * trace to follow. The nothing-lost family still reads that upload's event from the database.
 * `skipUnsampledBatches: false` counts them as failures.
 */
export function checkStitching(pipelines: readonly StitchedPipeline[], options: { until?: 'detection' | 'event'; skipUnsampledBatches?: boolean } = {}): AssertionResult {
  const target = options.until === 'detection' ? 'detection' : 'event';
  const name = `stitching: upload → ${target}`;
  const skipped = target === 'event' && options.skipUnsampledBatches !== false ? pipelines.filter((p) => !p.complete && p.analysisUntraced !== undefined && p.detection !== undefined) : [];
  const followed = pipelines.filter((p) => !skipped.includes(p));
  const incomplete = followed.filter((p) => !p.complete);
  const stitched = followed.filter((p) => p.stitched).length;
  const e2e = followed.map((p) => p.endToEndMs).filter((v): v is number => v !== undefined);
  const details = { pipelines: pipelines.length, followed: followed.length, complete: followed.length - incomplete.length, skippedUnsampledBatch: skipped.length, stitched, joins: joinCounts(pipelines), endToEndSamples: e2e.length };
  const bound = { op: '==' as const, value: 0, unit: 'uploads', text: `every upload followed to its ${target}` };
  const skipText = skipped.length > 0 ? `; ${skipped.length} skipped: their batch was opened by an unsampled upload, whose sampling decision the batch's analysis trace follows` : '';
  const measured = { value: incomplete.length, unit: 'uploads', text: `${followed.length - incomplete.length}/${followed.length} followed to the ${target} (${stitched} by correlation attributes)${skipText}` };
  const traceIds = (list: readonly StitchedPipeline[]) => list.flatMap((p) => p.traceIds);
  if (followed.length === 0) {
    return { family: 'propagation', name, passed: false, measured: { value: null, unit: 'uploads', text: `no pipelines${skipText}` }, bound, message: `stitching: no uploads to follow${skipText}`, exampleTraceIds: [], details };
  }
  if (incomplete.length === 0) {
    const median = e2e.length > 0 ? ` (max end-to-end ${formatMs(Math.max(...e2e))})` : '';
    return { family: 'propagation', name, passed: true, measured, bound, message: `all ${followed.length} uploads followed to the ${target}, ${stitched} stitched by correlation attributes${target === 'event' ? median : ''}${skipText}`, exampleTraceIds: examples(traceIds(followed), 3), details };
  }
  const first = incomplete[0]!;
  return {
    family: 'propagation',
    name,
    passed: false,
    measured,
    bound,
    message: `${incomplete.length}/${followed.length} uploads not followed to the ${target}: ${first.uploadId ? `upload ${first.uploadId} ` : ''}${first.filePath} ${stopsAt(first)}${skipText}`,
    exampleTraceIds: examples(traceIds(incomplete)),
    details,
  };
}
