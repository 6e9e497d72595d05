export * from './bearer'
export * from './hooks'
