export * from './loss-watch'
export * from './redis'
export * from './sql'
export * from './store'
