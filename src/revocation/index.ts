export * from './redis'
export * from './sql'
export * from './store'
