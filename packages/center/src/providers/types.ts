/** A key provider as the task runner uses it (vSphere: KmsCluster / NKP / trusted). */
export interface KeyProviderRuntime {
  readonly id: string
  readonly type: 'standard' | 'native' | 'trusted'
  /** A new KEK for a VM (standard: KMIP Create AES-256 on the cluster; native: a new key id). */
  newKek(purpose: { readonly vmId?: string; readonly label?: string }): Promise<{ kekId: string }>
  /** Deliver the KEK to a host's key cache (standard: fetch from the KMS and pushKey; native: make sure
   *  the host holds the provider's key-derivation key, the host derives the KEK itself). */
  deliverKek(kekId: string, host: { readonly hostId: string }): Promise<void>
  /** Whether the provider can give this key now (key status). */
  keyState(kekId: string): Promise<KeyState>
}
/** The seed's key status reasons, exact names (vSphere CryptoManagerKmipCryptoKeyStatus). */
export type KeyState =
  | 'KeyStateAvailable'
  | 'KeyStateMissingInCache'
  | 'KeyStateClusterInvalid'
  | 'KeyStateClusterUnreachable'
  | 'KeyStateMissingInKMS'
  | 'KeyStateNotActiveOrEnabled'
  | 'KeyStateManagedByNKP'
  | 'KeyStateManagedByTrustAuthority'
/** Looks up a provider by id, or the default one (of a cluster, else global). */
export interface KeyProviders {
  get(id: string): Promise<KeyProviderRuntime>
  defaultFor(clusterId?: string): Promise<KeyProviderRuntime>
}
