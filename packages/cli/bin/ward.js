#!/usr/bin/env node
import { main } from '../dist/src/bin.js'
process.exitCode = await main(process.argv.slice(2))
