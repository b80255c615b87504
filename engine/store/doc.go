// Package store keeps the persistent state of isolategpt — hub memory, per-app
// spoke memory, permanent permission grants, installed manifests and the audit
// log — in an embedded Badger database inside the data folder.
//
// Every record kind has its own key prefix, and every identifier that goes
// into a key is validated first, so no user or app id can reach into another
// owner's records:
//
//	seq/audit                       Badger sequence lease of stores before the chain (unused now)
//	seq/mem                         Badger sequence lease for turns and spoke entries
//	turn/<user>/<seq:8 BE>          hub Turn, JSON
//	spoke/<user>/<app>/<seq:8 BE>   spoke Entry, JSON
//	grant/<user>/<key>              Grant, JSON (key last, so it may hold any printable byte)
//	manifest/<app>                  ManifestRecord, JSON
//	audit/<user>/<seq:8 BE>         AuditRecord, JSON (user "-": the store's own chain records)
//	chain/audit                     ChainHead: seq and hash of the last audit record
//	intent/<seq:8 BE>               started write step without an outcome yet (the started record)
//	gen/store                       the store's generation, 8 bytes BE, bumped by every commit (anchor.go)
//
// Sequence numbers are fixed-width big-endian, so key order is append order,
// and they come from Badger sequences whose leases are persisted before use,
// so a reopened store never hands out a number again. User and app ids cannot
// contain the separator '/', which makes every prefix above unambiguous.
//
// The audit log is a hash chain (auditchain.go): each record holds the
// SHA-256 of the one before it, and the record and the new chain head are
// committed in one transaction, so numbers have no gaps and no crash can
// separate a record from its head. A write step is announced (AuditIntent,
// synced) before it runs and closed by its outcome; an intent still open
// at the next open is recorded as interrupted, once. VerifyAudit checks
// the chain; a store from before the chain gets a chain-start record that
// counts the older records and lists their gaps, which stay unverified.
//
// Outside Badger's files, store/ANCHOR records the generation and audit
// head committed and synced; every open checks the store still holds
// them, so a missing or short log is damage, not a smaller store.
//
// A spoke never receives the Store: it gets a SpokeMemory bound to one
// (user, app) pair, with no method that takes an identifier.
package store
