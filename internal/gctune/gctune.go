// Package gctune sets the garbage collector's pace for the server.
//
// The intake's single writer allocates a little for every event, and with
// Go's default GOGC=100 the collector runs so often on a small heap that
// its marking and assists take a noticeable share of the writer's core:
// with 1000-event batches on SQLite, GOGC=400 measured 9 to 28 % more
// events a second in the same minutes (docs/benchmarks.md). The heap then
// grows to about five times the live data instead of twice; the server's
// live heap is small (tens of MiB), so this costs little memory. An
// operator's GOGC (or GOMEMLIMIT) wins.
package gctune

import (
	"os"
	"runtime/debug"
)

// Percent is the GOGC the server runs with unless GOGC is set.
const Percent = 400

// Apply sets the collector to Percent unless the environment sets GOGC,
// and returns the percent in effect.
func Apply() int {
	if v, ok := os.LookupEnv("GOGC"); ok && v != "" {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(Percent)
	return Percent
}
