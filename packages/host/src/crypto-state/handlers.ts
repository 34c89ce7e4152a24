import { HostError } from '../errors.js'
import type { HandlersFor } from '../agent/protocol.js'
import type { HostCrypto } from './host-crypto.js'

/** Longest export password accepted over the admin socket (base64). */
const MAX_PASSWORD_B64 = 1400

/**
 * The host encryption mode rows of the admin protocol (`crypto.*`), each a call into the host's
 * HostCrypto. `crypto` is read at call time (the agent makes it after its handler map).
 */
export function cryptoHandlers(crypto: () => HostCrypto): HandlersFor<'crypto'> {
  return {
    'crypto.status': () => crypto().status(),
    'crypto.prepare': () => crypto().prepare(),
    'crypto.enable': (r) => crypto().enable({ providerId: r.providerId, kekId: r.keyId }),
    'crypto.key.change': (r) => crypto().changeKey({ providerId: r.providerId, kekId: r.keyId }),
    'crypto.disable': () => crypto().disable(),
    'crypto.key.export': async (r) => {
      if (r.password.length === 0 || r.password.length > MAX_PASSWORD_B64)
        throw new HostError(
          'ERR_HOST_BAD_ARGUMENT',
          'crypto.key.export: the password must be 1 to 1024 bytes, base64',
        )
      const password = Buffer.from(r.password, 'base64')
      try {
        const x = await crypto().exportKey(password)
        return { providerId: x.providerId, keyId: x.kekId, export: x.exported.toString('base64') }
      } finally {
        password.fill(0)
      }
    },
  }
}

/**
 * On a host whose encryption mode is being disabled (pendingIncapable): no new encrypted VM work
 * (`vm create --encrypt`, `vm encrypt`). Other states keep the VM commands as they are.
 */
export function guardEncryptedWork<H extends HandlersFor<'vm'>>(h: H, crypto: () => HostCrypto): H {
  return {
    ...h,
    'vm.create': (r, ctx) => {
      if (r.encrypt) crypto().refusePending(`vm create ${r.name} --encrypt`)
      return h['vm.create'](r, ctx)
    },
    'vm.encrypt': (r, ctx) => {
      crypto().refusePending(`vm encrypt ${r.name}`)
      return h['vm.encrypt'](r, ctx)
    },
  }
}
