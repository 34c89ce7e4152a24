import { Socket } from 'node:net'

/*
 * Reading an accepted socket into buffers of our choosing. A socket that net.Server accepts reads
 * into a fresh 64 KiB Buffer per read, which the connection then copies into the request's buffer
 * (and V8 collects); `onread` (read into a caller's buffer) exists only for sockets made with
 * `new net.Socket(...)`. So the accepted handle is moved into such a socket: `new net.Socket({
 * handle })` is how Node's own net.Server and child_process wrap a handle, and `socket._handle` is
 * the handle; both are Node internals, stable since 0.x but undocumented, so everything is checked
 * first and any mismatch keeps the accepted socket as it is (the copying path, same bytes on the
 * wire). The NBD server then receives a WRITE payload straight into its pooled request buffer,
 * as qemu-nbd does (bench/README.md, `vm`).
 */

/** Where the connection wants its input. */
export interface DirectReader {
  /** The buffer the next read fills (at most its length): never empty. */
  target(): Uint8Array
  /** `n` bytes were read into `buf`, the buffer `target()` last returned. */
  received(n: number, buf: Uint8Array): void
}

interface HandleShape {
  readonly reading?: boolean
  readStart(): number
  useUserBuffer(b: Uint8Array): void
}

/**
 * A socket on `accepted`'s connection that reads as `reader` says, or undefined (then `accepted`
 * is left as it was). `accepted` must not have read anything yet (net.Server's
 * `pauseOnConnect: true`); on success it is destroyed without closing the connection, which the
 * returned socket now owns (so its net.Server no longer counts it).
 */
export function adoptForDirectReads(accepted: Socket, reader: DirectReader): Socket | undefined {
  const holder = accepted as unknown as { _handle?: unknown }
  const handle = holder._handle as Partial<HandleShape> | null | undefined
  if (
    typeof handle !== 'object' ||
    handle === null ||
    typeof handle.readStart !== 'function' ||
    typeof handle.useUserBuffer !== 'function' ||
    handle.reading === true ||
    accepted.readableLength > 0 ||
    accepted.destroyed
  )
    return undefined
  let fresh: Socket
  try {
    fresh = new Socket({
      handle,
      allowHalfOpen: true,
      readable: true,
      writable: true,
      onread: {
        buffer: () => reader.target(),
        callback: (n: number, buf: Uint8Array) => {
          reader.received(n, buf)
          return true
        },
      },
    } as ConstructorParameters<typeof Socket>[0])
  } catch {
    return undefined
  }
  holder._handle = null
  accepted.destroy()
  return fresh
}
