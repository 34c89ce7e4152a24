import { readSync } from 'node:fs'
import { EnvelopeError } from '../errors.js'
import { LUKS2_HDR_SIZES, LUKS2_MAGIC_1ST, LUKS2_MAGIC_2ND } from '../luks2/header.js'
import { WARD_SECTOR_SIZE } from '../luks2/format.js'

/*
 * Disk image containers Ward must not take for raw images (their magics, as qemu's block drivers
 * probe them: block/qcow2.c, qed.c, vmdk.c, vhdx.c, vpc.c, vdi.c, parallels.c). Encrypting one
 * "as raw" gives a disk whose guest sees the container's bytes, not its virtual disk.
 */

/** A magic at a fixed offset (negative: from the end of the file). */
interface Signature {
  /** qemu-img's name for the format (`qemu-img convert -f NAME`). */
  readonly format: string
  /** What users call it. */
  readonly label: string
  readonly offset: number
  readonly bytes: Uint8Array
}

const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'))

/** Checked in order; the first that matches names the format. */
export const IMAGE_SIGNATURES: readonly Signature[] = [
  { format: 'qcow2', label: 'qcow2', offset: 0, bytes: ascii('QFI\xfb') }, // qcow2 and qcow v1
  { format: 'qed', label: 'QED', offset: 0, bytes: ascii('QED\0') },
  { format: 'vmdk', label: 'VMDK', offset: 0, bytes: ascii('KDMV') }, // hosted sparse extent, streamOptimized
  { format: 'vmdk', label: 'VMDK', offset: 0, bytes: ascii('COWD') }, // ESX sparse extent
  { format: 'vmdk', label: 'VMDK', offset: 0, bytes: ascii('# Disk DescriptorFile') },
  { format: 'vhdx', label: 'VHDX', offset: 0, bytes: ascii('vhdxfile') },
  { format: 'vpc', label: 'VHD', offset: 0, bytes: ascii('conectix') }, // VHD dynamic/differencing: footer copy
  { format: 'vpc', label: 'VHD', offset: -512, bytes: ascii('conectix') }, // VHD fixed: footer at the end
  { format: 'vdi', label: 'VDI', offset: 64, bytes: Uint8Array.of(0x7f, 0x10, 0xda, 0xbe) }, // 0xbeda107f LE
  { format: 'parallels', label: 'Parallels', offset: 0, bytes: ascii('WithoutFreeSpace') },
  { format: 'parallels', label: 'Parallels', offset: 0, bytes: ascii('WithouFreSpacExt') },
]

const matchAt = (fd: number, offset: number, bytes: Uint8Array): boolean => {
  if (offset < 0) return false
  const buf = new Uint8Array(bytes.length)
  return readSync(fd, buf, 0, buf.length, offset) === buf.length && Buffer.compare(buf, bytes) === 0
}

/** The image container format `fd` holds, or undefined for anything else (a raw image). */
export function detectImageFormat(
  fd: number,
  size: number,
): { readonly format: string; readonly label: string } | undefined {
  return IMAGE_SIGNATURES.find((s) =>
    matchAt(fd, s.offset < 0 ? size + s.offset : s.offset, s.bytes),
  )
}

/** Does the file carry a LUKS2 magic (primary at 0, or a secondary at one of the header sizes)? */
export function hasLuks2MagicFd(fd: number): boolean {
  return (
    matchAt(fd, 0, LUKS2_MAGIC_1ST) ||
    LUKS2_HDR_SIZES.some((off) => matchAt(fd, off, LUKS2_MAGIC_2ND))
  )
}

/**
 * Check that `fd` holds a raw image Ward can encrypt: not a qcow2, VMDK, VHD(X), VDI, QED or
 * Parallels container (unless `assumeRaw`), and a whole, non-zero number of 4096-byte sectors
 * (`allowEmpty`: zero bytes too).
 */
export function checkRawImage(
  fd: number,
  path: string,
  size: number,
  o: { readonly assumeRaw?: boolean; readonly allowEmpty?: boolean },
): void {
  const found = o.assumeRaw === true ? undefined : detectImageFormat(fd, size)
  if (found !== undefined)
    throw new EnvelopeError(
      'ERR_DISK_IMAGE_FORMAT',
      `${path} is a ${found.label} image, not a raw disk image; convert it first (qemu-img convert -f ${found.format} -O raw ${path} ${path}.raw) and encrypt the raw file (if it really is a raw image whose first bytes only look like ${found.label}, pass --force-raw)`,
    )
  if (size % WARD_SECTOR_SIZE !== 0 || (size === 0 && o.allowEmpty !== true)) {
    const padded = Math.max(WARD_SECTOR_SIZE, Math.ceil(size / WARD_SECTOR_SIZE) * WARD_SECTOR_SIZE)
    throw new EnvelopeError(
      'ERR_DISK_UNALIGNED',
      `${path} is ${size} bytes, not a ${o.allowEmpty === true ? '' : 'non-empty '}whole number of 4096-byte sectors; pad it to ${padded} bytes first (truncate -s ${padded} ${path})`,
    )
  }
}
