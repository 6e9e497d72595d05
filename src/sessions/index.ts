export * from './client'
export * from './refresh-answers'
export * from './refresh-retries'
export * from './sealed-answer'
