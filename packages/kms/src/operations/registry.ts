/** Every operation the server implements, by KMIP Operation code. */
import { addAttribute } from './add-attribute.js'
import { deleteAttribute } from './delete-attribute.js'
import { getAttributeList } from './get-attribute-list.js'
import { getAttributes } from './get-attributes.js'
import { modifyAttribute } from './modify-attribute.js'
import { setAttribute } from './set-attribute.js'
import { create } from './create.js'
import { createKeyPair } from './create-key-pair.js'
import { decrypt } from './decrypt.js'
import { encrypt } from './encrypt.js'
import { mac } from './mac.js'
import { macVerify } from './mac-verify.js'
import { hash } from './hash.js'
import { rngRetrieve } from './rng-retrieve.js'
import { sign } from './sign.js'
import { signatureVerify } from './signature-verify.js'
import { discoverVersions } from './discover-versions.js'
import { get } from './get.js'
import { activate } from './activate.js'
import { destroy } from './destroy.js'
import { revoke } from './revoke.js'
import { locate } from './locate.js'
import { query } from './query.js'
import { register } from './register.js'
import { reKey } from './rekey.js'
import { interop } from './interop.js'
import { log } from './log.js'
import { check } from './check.js'
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
    hash,
    rngRetrieve,
    setAttribute,
    interop,
    log,
    check,
  ].map((d) => [d.code, d]),
)

/** Grantable privilege names (`ward kms grant --operations`). */
export const privilegeNames: readonly string[] = [
  ...new Set([...operations.values()].map((d) => d.privilege)),
  'all',
]
