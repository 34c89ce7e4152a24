import { HostError } from '../errors.js'
import type { HandlersFor } from '../agent/protocol.js'
import type { VmManager } from './manager.js'

/**
 * The VM area's rows of the admin protocol (`datastore.*`, `vm.*`), each a call into the host's
 * VmManager. `vms` is read at call time (the agent makes its manager after its handler map).
 */
export function vmHandlers(
  vms: () => VmManager,
  hooks: { readonly dumpMemory: HandlersFor<'vm'>['vm.dump.memory'] },
): HandlersFor<'datastore'> & HandlersFor<'vm'> {
  return {
    'datastore.add': (r) => vms().addDatastore(r.name, r.path),
    'datastore.list': () => vms().listDatastores(),
    'vm.create': (r) => vms().create(r),
    'vm.list': () => vms().list(),
    'vm.describe': (r) => vms().describe(r.name),
    'vm.register': (r) => vms().register(r.path),
    'vm.inspect': (r) => vms().inspect(r.path),
    'vm.clone': (r, ctx) =>
      vms().clone(r.name, { name: r.newName, datastore: r.datastore }, ctx.onProgress),
    'vm.unregister': (r) => vms().unregister(r.name),
    'vm.destroy': (r) => vms().destroy(r.name),
    'vm.disk.add': (r) => vms().addDisk(r.name, r.size, r.encrypt),
    'vm.autostart': (r) => vms().setAutostart(r.name, r.enabled),
    'vm.power.on': ({ name, ...boot }) => vms().powerOn(name, boot),
    'vm.power.off': (r) =>
      vms().powerOff(r.name, {
        ...(r.hard !== undefined ? { hard: r.hard } : {}),
        ...(r.timeoutSeconds !== undefined ? { timeoutMs: r.timeoutSeconds * 1000 } : {}),
      }),
    'vm.recrypt': (r, ctx) => {
      if (r.mode === 'deep')
        return vms().recryptDeep(
          r.name,
          { providerId: r.newProviderId, kekId: r.newKekId },
          ctx.onProgress,
        )
      if (r.newKekId === undefined)
        throw new HostError('ERR_HOST_BAD_ARGUMENT', 'vm.recrypt: a shallow recrypt needs newKekId')
      return vms().recryptShallow(r.name, { providerId: r.newProviderId, kekId: r.newKekId })
    },
    'vm.encrypt': (r, ctx) => vms().encrypt(r.name, r, ctx.onProgress),
    'vm.decrypt': (r, ctx) => vms().decrypt(r.name, ctx.onProgress),
    'vm.suspend': (r) => vms().suspend(r.name),
    'vm.resume': (r) => vms().resume(r.name),
    'vm.snapshot.create': (r) => vms().snapshotCreate(r.name, r.snapshot, { memory: r.memory }),
    'vm.snapshot.list': (r) => vms().snapshotList(r.name),
    'vm.snapshot.revert': (r) => vms().snapshotRevert(r.name, r.snapshot),
    'vm.snapshot.remove': (r) => vms().snapshotRemove(r.name, r.snapshot),
    // host-key work (crypto-state/): needs the host's crypto state and key, not only the VM
    'vm.dump.memory': hooks.dumpMemory,
  }
}
