// The swtpm launcher is a test helper: reachable as `@ward/tpm2/testing`, never from the main entry.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as main from '@ward/tpm2'
import * as testing from '@ward/tpm2/testing'

test('the swtpm launcher is exported from @ward/tpm2/testing, not from the main entry', () => {
  for (const name of ['startSwtpm', 'manufactureSwtpm', 'prepareSwtpmCa']) {
    assert.equal(typeof (testing as Record<string, unknown>)[name], 'function', name)
    assert.equal(name in main, false, `${name} must not be on the main entry`)
  }
})
