import { Transform } from 'node:stream'
import { VmFileOpener } from './opener.js'
import type { VmFileOpenOptions } from './reader.js'
import { VmFileSealer, type VmFileSealOptions } from './sealer.js'

/**
 * A Transform stream that encrypts plaintext into the VM file format (header first).
 * @example pipeline(createReadStream('nvram.raw'), createVmFileEncryptStream(opts, kek), createWriteStream('nvram'))
 */
export function createVmFileEncryptStream(options: VmFileSealOptions, kek: Uint8Array): Transform {
  const sealer = new VmFileSealer(options, kek)
  let started = false
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        if (!started) {
          started = true
          this.push(sealer.header)
        }
        for (const piece of sealer.update(chunk)) this.push(piece)
        cb()
      } catch (e) {
        sealer.dispose()
        cb(e as Error)
      }
    },
    flush(cb) {
      try {
        if (!started) this.push(sealer.header)
        this.push(sealer.final())
        cb()
      } catch (e) {
        cb(e as Error)
      }
    },
    destroy(err, cb) {
      sealer.dispose()
      cb(err)
    },
  })
}

/**
 * A Transform stream that decrypts a VM file. Every chunk is authenticated before it is pushed;
 * truncation is reported as an error at the end, so consumers must not trust the output until the
 * stream finishes without error.
 */
export function createVmFileDecryptStream(kek: Uint8Array, options: VmFileOpenOptions): Transform {
  const opener = new VmFileOpener(kek, options)
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        for (const piece of opener.update(chunk)) this.push(piece)
        cb()
      } catch (e) {
        cb(e as Error)
      }
    },
    flush(cb) {
      try {
        for (const piece of opener.final()) this.push(piece)
        cb()
      } catch (e) {
        cb(e as Error)
      }
    },
    destroy(err, cb) {
      opener.dispose()
      cb(err)
    },
  })
}
