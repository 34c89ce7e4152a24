// Every declared structure, for `structures.X` access and table tests.
export * from './basic.js'
export * from './public.js'
export * from './attest.js'
