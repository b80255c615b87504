//go:build race

package store

// raceOn: the race detector slows Badger's writes tenfold.
const raceOn = true
