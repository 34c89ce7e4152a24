/** TPM 2.0 Library Part 3: Commands (rev 01.59). One declaration per command Ward sends. */
import { TPM_CC } from '../constants.js'
import { u16, u32, u8 } from '../marshal/dsl.js'
import {
  TPM2B_AUTH,
  TPM2B_DATA,
  TPM2B_DIGEST,
  TPM2B_ENCRYPTED_SECRET,
  TPM2B_EVENT,
  TPM2B_ID_OBJECT,
  TPM2B_MAX_NV_BUFFER,
  TPM2B_NAME,
  TPM2B_NONCE,
  TPM2B_OPERAND,
  TPM2B_PRIVATE,
  TPM2B_SENSITIVE_DATA,
  TPML_DIGEST,
  TPML_DIGEST_VALUES,
  TPML_PCR_SELECTION,
} from '../structures/basic.js'
import {
  TPM2B_CREATION_DATA,
  TPM2B_NV_PUBLIC,
  TPM2B_PUBLIC,
  TPM2B_SENSITIVE_CREATE,
  TPMT_SIG_SCHEME,
  TPMT_SYM_DEF,
  TPMT_TK_AUTH,
  TPMT_TK_CREATION,
} from '../structures/public.js'
import { TPM2B_ATTEST, TPMS_CAPABILITY_DATA, TPMT_SIGNATURE } from '../structures/attest.js'
import { command } from './command.js'

/** TPM2_Startup, Part 3 §9.3. */
export const Startup = command('TPM2_Startup', TPM_CC.Startup, { params: { startupType: u16 } })
/** TPM2_Shutdown, Part 3 §9.4. */
export const Shutdown = command('TPM2_Shutdown', TPM_CC.Shutdown, { params: { shutdownType: u16 } })
/** TPM2_GetRandom, Part 3 §16.1. */
export const GetRandom = command('TPM2_GetRandom', TPM_CC.GetRandom, {
  params: { bytesRequested: u16 },
  response: { randomBytes: TPM2B_DIGEST },
})
/** TPM2_GetCapability, Part 3 §30.2. */
export const GetCapability = command('TPM2_GetCapability', TPM_CC.GetCapability, {
  params: { capability: u32, property: u32, propertyCount: u32 },
  response: { moreData: u8, capabilityData: TPMS_CAPABILITY_DATA },
})
/** TPM2_PCR_Read, Part 3 §22.4. */
export const PCR_Read = command('TPM2_PCR_Read', TPM_CC.PCR_Read, {
  params: { pcrSelectionIn: TPML_PCR_SELECTION },
  response: { pcrUpdateCounter: u32, pcrSelectionOut: TPML_PCR_SELECTION, pcrValues: TPML_DIGEST },
})
/** TPM2_PCR_Extend, Part 3 §22.2. */
export const PCR_Extend = command('TPM2_PCR_Extend', TPM_CC.PCR_Extend, {
  handles: { pcrHandle: 'auth' },
  params: { digests: TPML_DIGEST_VALUES },
})
/** TPM2_PCR_Event, Part 3 §22.3. */
export const PCR_Event = command('TPM2_PCR_Event', TPM_CC.PCR_Event, {
  handles: { pcrHandle: 'auth' },
  params: { eventData: TPM2B_EVENT },
  response: { digests: TPML_DIGEST_VALUES },
})
/** TPM2_CreatePrimary, Part 3 §24.1. */
export const CreatePrimary = command('TPM2_CreatePrimary', TPM_CC.CreatePrimary, {
  handles: { primaryHandle: 'auth' },
  params: {
    inSensitive: TPM2B_SENSITIVE_CREATE,
    inPublic: TPM2B_PUBLIC,
    outsideInfo: TPM2B_DATA,
    creationPCR: TPML_PCR_SELECTION,
  },
  responseHandles: ['objectHandle'],
  response: {
    outPublic: TPM2B_PUBLIC,
    creationData: TPM2B_CREATION_DATA,
    creationHash: TPM2B_DIGEST,
    creationTicket: TPMT_TK_CREATION,
    name: TPM2B_NAME,
  },
})
/** TPM2_Create, Part 3 §12.1. */
export const Create = command('TPM2_Create', TPM_CC.Create, {
  handles: { parentHandle: 'auth' },
  params: {
    inSensitive: TPM2B_SENSITIVE_CREATE,
    inPublic: TPM2B_PUBLIC,
    outsideInfo: TPM2B_DATA,
    creationPCR: TPML_PCR_SELECTION,
  },
  response: {
    outPrivate: TPM2B_PRIVATE,
    outPublic: TPM2B_PUBLIC,
    creationData: TPM2B_CREATION_DATA,
    creationHash: TPM2B_DIGEST,
    creationTicket: TPMT_TK_CREATION,
  },
})
/** TPM2_Load, Part 3 §12.2. */
export const Load = command('TPM2_Load', TPM_CC.Load, {
  handles: { parentHandle: 'auth' },
  params: { inPrivate: TPM2B_PRIVATE, inPublic: TPM2B_PUBLIC },
  responseHandles: ['objectHandle'],
  response: { name: TPM2B_NAME },
})
/** TPM2_ReadPublic, Part 3 §12.4. */
export const ReadPublic = command('TPM2_ReadPublic', TPM_CC.ReadPublic, {
  handles: { objectHandle: 'none' },
  response: { outPublic: TPM2B_PUBLIC, name: TPM2B_NAME, qualifiedName: TPM2B_NAME },
})
/** TPM2_Unseal, Part 3 §12.7. */
export const Unseal = command('TPM2_Unseal', TPM_CC.Unseal, {
  handles: { itemHandle: 'auth' },
  response: { outData: TPM2B_SENSITIVE_DATA },
})
/** TPM2_ActivateCredential, Part 3 §12.5. */
export const ActivateCredential = command('TPM2_ActivateCredential', TPM_CC.ActivateCredential, {
  handles: { activateHandle: 'auth', keyHandle: 'auth' },
  params: { credentialBlob: TPM2B_ID_OBJECT, secret: TPM2B_ENCRYPTED_SECRET },
  response: { certInfo: TPM2B_DIGEST },
})
/** TPM2_MakeCredential, Part 3 §12.6. */
export const MakeCredential = command('TPM2_MakeCredential', TPM_CC.MakeCredential, {
  handles: { handle: 'none' },
  params: { credential: TPM2B_DIGEST, objectName: TPM2B_NAME },
  response: { credentialBlob: TPM2B_ID_OBJECT, secret: TPM2B_ENCRYPTED_SECRET },
})
/** TPM2_Quote, Part 3 §18.4. */
export const Quote = command('TPM2_Quote', TPM_CC.Quote, {
  handles: { signHandle: 'auth' },
  params: { qualifyingData: TPM2B_DATA, inScheme: TPMT_SIG_SCHEME, PCRselect: TPML_PCR_SELECTION },
  response: { quoted: TPM2B_ATTEST, signature: TPMT_SIGNATURE },
})
/** TPM2_StartAuthSession, Part 3 §11.1. */
export const StartAuthSession = command('TPM2_StartAuthSession', TPM_CC.StartAuthSession, {
  handles: { tpmKey: 'none', bind: 'none' },
  params: {
    nonceCaller: TPM2B_NONCE,
    encryptedSalt: TPM2B_ENCRYPTED_SECRET,
    sessionType: u8,
    symmetric: TPMT_SYM_DEF,
    authHash: u16,
  },
  responseHandles: ['sessionHandle'],
  response: { nonceTPM: TPM2B_NONCE },
})
/** TPM2_PolicyPCR, Part 3 §23.7. */
export const PolicyPCR = command('TPM2_PolicyPCR', TPM_CC.PolicyPCR, {
  handles: { policySession: 'none' },
  params: { pcrDigest: TPM2B_DIGEST, pcrs: TPML_PCR_SELECTION },
})
/** TPM2_PolicySecret, Part 3 §23.4. */
export const PolicySecret = command('TPM2_PolicySecret', TPM_CC.PolicySecret, {
  handles: { authHandle: 'auth', policySession: 'none' },
  params: { nonceTPM: TPM2B_NONCE, cpHashA: TPM2B_DIGEST, policyRef: TPM2B_NONCE, expiration: u32 },
  response: { timeout: TPM2B_DIGEST, policyTicket: TPMT_TK_AUTH },
})
/** TPM2_PolicyNV, Part 3 §23.9: the policy holds while the NV index's data compares true. */
export const PolicyNV = command('TPM2_PolicyNV', TPM_CC.PolicyNV, {
  handles: { authHandle: 'auth', nvIndex: 'none', policySession: 'none' },
  params: { operandB: TPM2B_OPERAND, offset: u16, operation: u16 },
})
/** TPM2_PolicyGetDigest, Part 3 §23.19. */
export const PolicyGetDigest = command('TPM2_PolicyGetDigest', TPM_CC.PolicyGetDigest, {
  handles: { policySession: 'none' },
  response: { policyDigest: TPM2B_DIGEST },
})
/** TPM2_FlushContext, Part 3 §28.4 (the handle is a parameter, not a handle). */
export const FlushContext = command('TPM2_FlushContext', TPM_CC.FlushContext, {
  params: { flushHandle: u32 },
})
/** TPM2_EvictControl, Part 3 §28.5. */
export const EvictControl = command('TPM2_EvictControl', TPM_CC.EvictControl, {
  handles: { auth: 'auth', objectHandle: 'none' },
  params: { persistentHandle: u32 },
})
/** TPM2_NV_DefineSpace, Part 3 §31.3. */
export const NV_DefineSpace = command('TPM2_NV_DefineSpace', TPM_CC.NV_DefineSpace, {
  handles: { authHandle: 'auth' },
  params: { auth: TPM2B_AUTH, publicInfo: TPM2B_NV_PUBLIC },
})
/** TPM2_NV_UndefineSpace, Part 3 §31.4. */
export const NV_UndefineSpace = command('TPM2_NV_UndefineSpace', TPM_CC.NV_UndefineSpace, {
  handles: { authHandle: 'auth', nvIndex: 'none' },
})
/** TPM2_NV_ReadPublic, Part 3 §31.6. */
export const NV_ReadPublic = command('TPM2_NV_ReadPublic', TPM_CC.NV_ReadPublic, {
  handles: { nvIndex: 'none' },
  response: { nvPublic: TPM2B_NV_PUBLIC, nvName: TPM2B_NAME },
})
/** TPM2_NV_Write, Part 3 §31.7. */
export const NV_Write = command('TPM2_NV_Write', TPM_CC.NV_Write, {
  handles: { authHandle: 'auth', nvIndex: 'none' },
  params: { data: TPM2B_MAX_NV_BUFFER, offset: u16 },
})
/** TPM2_NV_Increment, Part 3 §31.8 (TPM_NT_COUNTER indices). */
export const NV_Increment = command('TPM2_NV_Increment', TPM_CC.NV_Increment, {
  handles: { authHandle: 'auth', nvIndex: 'none' },
})
/** TPM2_NV_Read, Part 3 §31.13. */
export const NV_Read = command('TPM2_NV_Read', TPM_CC.NV_Read, {
  handles: { authHandle: 'auth', nvIndex: 'none' },
  params: { size: u16, offset: u16 },
  response: { data: TPM2B_MAX_NV_BUFFER },
})
