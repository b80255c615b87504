// Package store keeps the persistent state of isolategpt — hub memory, per-app
// spoke memory, permanent permission grants, installed manifests and the audit
// log — in an embedded Badger database inside the data folder.
//
// Every record kind has its own key prefix, and every identifier that goes
// into a key is validated first, so no user or app id can reach into another
// owner's records:
//
//	seq/audit                       Badger sequence lease for audit numbers
//	seq/mem                         Badger sequence lease for turns and spoke entries
//	turn/<user>/<seq:8 BE>          hub Turn, JSON
//	spoke/<user>/<app>/<seq:8 BE>   spoke Entry, JSON
//	grant/<user>/<key>              Grant, JSON (key last, so it may hold any printable byte)
//	manifest/<app>                  ManifestRecord, JSON
//	audit/<user>/<seq:8 BE>         AuditRecord, JSON
//
// Sequence numbers are fixed-width big-endian, so key order is append order,
// and they come from Badger sequences whose leases are persisted before use,
// so a reopened store never hands out a number again. User and app ids cannot
// contain the separator '/', which makes every prefix above unambiguous.
//
// A spoke never receives the Store: it gets a SpokeMemory bound to one
// (user, app) pair, with no method that takes an identifier.
package store
