import { KmsError } from '../errors.js'
import { toAttrs } from '../model/attributes.js'
import { loadObject, saveObjects, setAttr, targetId } from '../model/object.js'
import { ObjectType, Operation, ReKeyRequest, ReKeyResponse, State, date, Tag } from '@ward/kmip'
import { buildSymmetric } from './create.js'
import { LinkType, link } from './create-key-pair.js'
import { defineOperation } from './types.js'

/**
 * KMIP 1.4 §4.4 Re-key: a new symmetric key with the same algorithm, length and usage; the Name
 * moves to the replacement, and Replacement/Replaced Object links join the two.
 */
export const reKey = defineOperation({
  code: Operation.ReKey,
  privilege: 'rekey',
  mutates: true,
  request: ReKeyRequest,
  response: ReKeyResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const old = await loadObject(ctx, id, 'rekey')
    if (old.objectType !== ObjectType.SymmetricKey)
      throw new KmsError('ERR_KMS_INVALID_FIELD', 'Re-key applies to symmetric keys')
    if (old.state === State.Destroyed || old.state === State.DestroyedCompromised)
      throw new KmsError('ERR_KMS_DESTROYED', `object ${id} was destroyed`)
    const extra = toAttrs(request.attributes)
    const carried = old.attrs.filter(
      (a) =>
        [
          'Cryptographic Algorithm',
          'Cryptographic Length',
          'Cryptographic Usage Mask',
          'Name',
          'Object Group',
          'Application Specific Information',
          'Contact Information',
          // KMIP 1.4 §4.4: the replacement keeps the key's protections (a Sensitive or
          // non-Extractable key does not become an exportable one by Re-key), and the Usage
          // Limits Total with a fresh Count (applyInitialAttributes)
          'Sensitive',
          'Extractable',
          'Usage Limits',
        ].includes(a.name) || /^[^-]+-/.test(a.name),
    )
    // a Set: the extra × carried scan was quadratic in the request and the object (issue 10)
    const carriedNames = new Set(carried.map((c) => c.name))
    const n = buildSymmetric(ctx, [
      ...carried,
      ...extra.filter((e) => e.name === 'Name' || !carriedNames.has(e.name)),
    ])
    // KMIP 1.4 §3.41: a replacement key keeps the Original Creation Date of the key it replaces
    const original = old.attrs.find((a) => a.name === 'Original Creation Date')
    if (original !== undefined) setAttr(n, 'Original Creation Date', original.value)
    const offset = request.offset
    if (offset !== undefined) {
      setAttr(n, 'Activation Date', date(Tag.ActivationDate, ctx.now() + BigInt(offset)))
    }
    old.attrs = old.attrs.filter((a) => a.name !== 'Name')
    old.attrs.push({ name: 'Link', value: link(LinkType.Replacement, n.id) })
    n.attrs.push({ name: 'Link', value: link(LinkType.Replaced, old.id) })
    await saveObjects(ctx, [old, n])
    return { objectId: n.id, payload: { uniqueIdentifier: n.id } }
  },
})
