export { ArrivalModel, LearnedLimits, type LearnedLimitsOptions, type ModelState, type SeedBucket } from './model.ts';
export {
  autoDurationSchema,
  learnConfigSchema,
  learnedLimitsFieldsSchema,
  learnedLimitsShape,
  refineLearnedLimits,
  type LearnedLimitsFields,
  parseLearnConfig,
  parseRate,
  rateDropConfigSchema,
  type LearnConfig,
  type LearnConfigInput,
} from './config.ts';
export { evaluateRateDrop, lowerTail, type RateDropOptions, type RateDropResult } from './rate-drop.ts';
export { SqliteLearnStore, type LearnStore } from './store-sqlite.ts';
export { TimeOfWeek } from './time-of-week.ts';
export { specLimits, type SpecLimits } from './spec.ts';
