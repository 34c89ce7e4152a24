/** Every operation the server implements, by KMIP Operation code. */
import {
  addAttribute,
  deleteAttribute,
  getAttributeList,
  getAttributes,
  modifyAttribute,
  setAttribute,
} from './attributes.js'
import { create } from './create.js'
import { createKeyPair } from './create-key-pair.js'
import { decrypt, encrypt, mac, macVerify, rngRetrieve, sign, signatureVerify } from './crypto.js'
import { discoverVersions } from './discover-versions.js'
import { get } from './get.js'
import { activate, destroy, revoke } from './lifecycle.js'
import { locate } from './locate.js'
import { advertised, query } from './query.js'
import { register } from './register.js'
import { reKey } from './rekey.js'
import type { OperationDef } from './types.js'

export const operations: ReadonlyMap<number, OperationDef> = new Map(
  [
    create,
    createKeyPair,
    register,
    reKey,
    locate,
    get,
    getAttributes,
    getAttributeList,
    addAttribute,
    modifyAttribute,
    deleteAttribute,
    activate,
    revoke,
    destroy,
    query,
    discoverVersions,
    encrypt,
    decrypt,
    sign,
    signatureVerify,
    mac,
    macVerify,
    rngRetrieve,
    setAttribute,
  ].map((d) => [d.code, d]),
)

advertised.ops = [...operations.keys()]

/** Grantable privilege names (`ward kms grant --operations`). */
export const privilegeNames: readonly string[] = [
  ...new Set([...operations.values()].map((d) => d.privilege)),
  'all',
]
