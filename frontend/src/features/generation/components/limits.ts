/** The engine's retry budget (packages/visual_pipeline/engine.py MAX_ATTEMPTS). */
export const MAX_ATTEMPTS = 3
/** GenerationCreate bounds (packages/visual_pipeline/schemas.py). */
export const COUNT_MAX = 16
export const SIDE_MIN = 256
export const SIDE_MAX = 4096
export const DURATION_MAX = 20
export const SEED_MAX = 2 ** 32 - 1
