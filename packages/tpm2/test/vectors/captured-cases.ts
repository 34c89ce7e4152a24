// Commands whose exchanges with swtpm are recorded in data/captured/swtpm-0.7.json (by
// capture.ts) and replayed by captured.test.ts. Only deterministic commands (no session nonces).
import {
  AK_RSA_TEMPLATE,
  SRK_ECC_TEMPLATE,
  TPM_ALG,
  TPM_CAP,
  TPM_PT,
  TPM_RH,
  commands,
  type CommandDef,
} from '../../src/index.js'

export interface Case {
  readonly name: string
  /** Part 3 section of the command */
  readonly source: string
  readonly command: CommandDef
  readonly args: unknown
  readonly sessions: number
}

const nonce = Buffer.from('7761726420766563746f72206e6f6e6365', 'hex') // "ward vector nonce"

export const cases: readonly Case[] = [
  {
    name: 'GetCapability handles-persistent',
    source: 'Part 3 §30.2',
    command: commands.GetCapability,
    args: { capability: TPM_CAP.HANDLES, property: 0x81000000, propertyCount: 64 },
    sessions: 0,
  },
  {
    name: 'GetCapability fixed properties',
    source: 'Part 3 §30.2',
    command: commands.GetCapability,
    args: {
      capability: TPM_CAP.TPM_PROPERTIES,
      property: TPM_PT.FAMILY_INDICATOR,
      propertyCount: 64,
    },
    sessions: 0,
  },
  {
    name: 'GetCapability PCR banks',
    source: 'Part 3 §30.2',
    command: commands.GetCapability,
    args: { capability: TPM_CAP.PCRS, property: 0, propertyCount: 1 },
    sessions: 0,
  },
  {
    name: 'PCR_Read sha256 0-7',
    source: 'Part 3 §22.4',
    command: commands.PCR_Read,
    args: { pcrSelectionIn: [{ hash: TPM_ALG.SHA256, pcrSelect: Uint8Array.of(0xff, 0, 0) }] },
    sessions: 0,
  },
  {
    name: 'ReadPublic RSA EK 0x81010001',
    source: 'Part 3 §12.4',
    command: commands.ReadPublic,
    args: { objectHandle: 0x81010001 },
    sessions: 0,
  },
  {
    name: 'ReadPublic ECC P-384 EK 0x81010016',
    source: 'Part 3 §12.4',
    command: commands.ReadPublic,
    args: { objectHandle: 0x81010016 },
    sessions: 0,
  },
  {
    name: 'NV_ReadPublic RSA EK certificate 0x01C00002',
    source: 'Part 3 §31.6',
    command: commands.NV_ReadPublic,
    args: { nvIndex: 0x01c00002 },
    sessions: 0,
  },
  {
    name: 'NV_Read first 64 bytes of the EK certificate (owner, password session)',
    source: 'Part 3 §31.13',
    command: commands.NV_Read,
    args: { authHandle: TPM_RH.OWNER, nvIndex: 0x01c00002, size: 64, offset: 0 },
    sessions: 1,
  },
  {
    name: 'CreatePrimary SRK (ECC P-256, owner)',
    source: 'Part 3 §24.1',
    command: commands.CreatePrimary,
    args: {
      primaryHandle: TPM_RH.OWNER,
      inSensitive: { value: { userAuth: new Uint8Array(0), data: new Uint8Array(0) } },
      inPublic: { value: SRK_ECC_TEMPLATE },
      outsideInfo: new Uint8Array(0),
      creationPCR: [],
    },
    sessions: 1,
  },
  {
    name: 'CreatePrimary AK (RSA 2048 restricted signing, owner)',
    source: 'Part 3 §24.1',
    command: commands.CreatePrimary,
    args: {
      primaryHandle: TPM_RH.OWNER,
      inSensitive: { value: { userAuth: new Uint8Array(0), data: new Uint8Array(0) } },
      inPublic: { value: AK_RSA_TEMPLATE },
      outsideInfo: new Uint8Array(0),
      creationPCR: [],
    },
    sessions: 1,
  },
  {
    name: 'Quote sha256:0,7 with the AK (handle 0x80000001)',
    source: 'Part 3 §18.4',
    command: commands.Quote,
    args: {
      signHandle: 0x80000001,
      qualifyingData: nonce,
      inScheme: { scheme: TPM_ALG.NULL, details: {} },
      PCRselect: [{ hash: TPM_ALG.SHA256, pcrSelect: Uint8Array.of(0x81, 0, 0) }],
    },
    sessions: 1,
  },
  {
    name: 'FlushContext 0x80000000',
    source: 'Part 3 §28.4',
    command: commands.FlushContext,
    args: { flushHandle: 0x80000000 },
    sessions: 0,
  },
  {
    name: 'FlushContext 0x80000001',
    source: 'Part 3 §28.4',
    command: commands.FlushContext,
    args: { flushHandle: 0x80000001 },
    sessions: 0,
  },
  {
    name: 'ReadPublic of a flushed handle → TPM_RC_HANDLE',
    source: 'Part 3 §12.4, Part 2 §6.6',
    command: commands.ReadPublic,
    args: { objectHandle: 0x80000000 },
    sessions: 0,
  },
]
