// Package faults is isolategpt's fault-injection suite: it builds the
// binary once and drives it as a user would (batch, ask, audit on a data
// folder), injecting the faults a real machine brings — kill -9 at random
// points of write-heavy batches, a filesystem that fills up, store files
// truncated, overwritten or deleted, app data files corrupted, SIGTERM and
// SIGINT — and checks afterwards that nothing reported stored was lost, that
// the audit log kept every record, that no command panicked, and that no
// exit status or line status said "done" for work that was not.
//
// The suite runs only with the build tag `faults` (scripts/test.sh runs it
// with a time budget):
//
//	go test -tags faults -count=1 -v -run TestFaults ./engine/faults/
//
// Environment: FAULTS_BUDGET (a duration, default 60s), FAULTS_SEED (the
// random seed; printed on every run), FAULTS_KINDS (a comma-separated subset
// of kill9, diskfull, storefiles, appdata, signal), FAULTS_VERBOSE=1 (log
// every trial), FAULTS_BIN (test this binary instead of building one). The checks themselves (this file's package, untagged) have
// unit tests that run with every `go test ./...`, and the suite starts with
// a self-test that deletes a record it knows was stored and fails unless the
// checks see it missing.
package faults
