// Package faults is isolategpt's fault-injection suite: it builds the
// binary once and drives it as a user would (batch, ask, audit, store on a
// data folder, the hub as root and as an ordinary user), injecting the
// faults a real machine brings — kill -9 at random points of write-heavy
// batches (and again while the folder recovers), a filesystem that fills
// up, store files truncated, overwritten or deleted, app data files
// corrupted, SIGTERM and SIGINT — and checks afterwards that nothing
// reported stored was lost, that the audit log kept every record (and its
// hash chain, where the build has `audit verify`), that no command
// panicked, and that no exit status or line status said "done" for work
// that was not.
//
// The suite runs only with the build tag `faults` (scripts/test.sh runs it
// last, with a time budget):
//
//	go test -tags faults -count=1 -v -timeout 0 -run TestFaults ./engine/faults/
//
// Environment: FAULTS_BUDGET (a duration, default 60s), FAULTS_SEED (the
// random seed, printed on every run; scripts/test.sh fixes it for CI; the
// seed fixes every choice, the interleaving stays random, so the checks
// accept every timing), FAULTS_KINDS (a comma-separated subset of appdata,
// storefiles, kill9, diskfull, signal), FAULTS_VERBOSE=1 (log every
// trial), FAULTS_BIN (test this binary instead of building one),
// FAULTS_KEEP=1 (keep the data folders of a failed run to look into).
//
// It never hangs: a command is killed after a minute (its trial fails,
// naming it), a trial running past four minutes or a run five minutes past
// its budget stops the suite with the trial's reproduction line. A kind
// that cannot run (diskfull needs root and tmpfs) is named and the run
// ends as skipped, never as a pass.
//
// The checks (check.go, untagged) have unit tests that run with every
// `go test ./...`, and the suite starts with a self-test that deletes
// records it knows were stored and fails unless the checks see each one
// missing: a suite that cannot fail is worth nothing.
package faults
