/**
 * `ward center`: the management plane (issue 13). Inventory, key providers, VM encryption tasks
 * run on the hosts, cryptographic privileges, the REST API, HA on PostgreSQL.
 */
export {}
