import { constants } from 'node:fs'
import { EnvelopeError } from '../errors.js'
import { findWardToken, makeWardToken } from '../luks2/token.js'
import { dataSegment, segmentBytes, unlockWithKek } from '../luks2/unlock.js'
import { readVolume, writeHeaders } from '../luks2/volume.js'
import { asDiskError, checkKek, closeQuietly, openFile } from './common.js'
import type { DiskResult } from './encrypt.js'
import { refuseJournaled } from './decrypt.js'

export interface ShallowRekeyOptions {
  readonly kek: Uint8Array
  readonly newKek: Uint8Array
  /**
   * Id of the new KEK at its provider, recorded in the token. Required: a shallow rekey changes
   * the KEK, and the KEK id names the key (vSphere's shallow recrypt takes the new key's id too).
   */
  readonly kekId: string
  /** New key provider id; default: keep the current one. */
  readonly providerId?: string
}

/**
 * Shallow rekey: unwrap the DEK with the old KEK, wrap it with the new one and rewrite the Ward
 * token in both header copies (seqid + 1). Touches only the header, so it takes the same time for
 * any disk size. Running it again after it completed reports `alreadyDone`.
 */
export function rekeyShallow(path: string, o: ShallowRekeyOptions): DiskResult {
  checkKek(o.kek)
  checkKek(o.newKek)
  refuseJournaled(path)
  const fd = openFile(path, constants.O_RDWR)
  let dek: Uint8Array | undefined
  try {
    const vol = readVolume(fd, { repair: true })
    const s = dataSegment(vol)
    const token = findWardToken(vol.meta)
    if (!token)
      throw new EnvelopeError('ERR_DISK_NO_WARD_TOKEN', `${path} has no Ward token to rekey`)
    const providerId = o.providerId ?? token.providerId
    const kekId = o.kekId
    if (typeof kekId !== 'string' || kekId === '')
      throw new EnvelopeError('ERR_DISK_OPTIONS', 'a shallow rekey needs the id of the new KEK')
    try {
      dek = unlockWithKek(vol, o.kek)
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_DISK_WRONG_KEK') throw e
      // an earlier run may have finished: the new KEK opening it means there is nothing to do
      try {
        unlockWithKek(vol, o.newKek).fill(0)
      } catch {
        throw e
      }
      if (token.kekId !== kekId || token.providerId !== providerId) throw e
      return {
        path,
        dataBytes: segmentBytes(vol, s),
        dataOffset: s.offset,
        providerId,
        kekId,
        alreadyDone: true,
      }
    }
    const json = structuredClone(vol.meta.json)
    const tokens = json.tokens as Record<string, unknown>
    tokens[token.id] = makeWardToken(o.newKek, dek, providerId, kekId, segmentBytes(vol, s))
    writeHeaders(fd, vol, json, vol.seqid + 1n)
    return {
      path,
      dataBytes: segmentBytes(vol, s),
      dataOffset: s.offset,
      providerId,
      kekId,
      previousProviderId: token.providerId,
      previousKekId: token.kekId,
    }
  } catch (e) {
    throw asDiskError(e, `shallow rekey of ${path}`)
  } finally {
    dek?.fill(0)
    closeQuietly(fd)
  }
}
