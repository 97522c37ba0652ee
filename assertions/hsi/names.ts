/**
 * The HSI preset's names come from the contract module, which the harness, the reference stack's
 * tests and the capacity model share; re-exported here for the assertion presets.
 */
export * from '../../harness/contract/hsi-names.ts';
