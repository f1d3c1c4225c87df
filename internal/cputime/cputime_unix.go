//go:build unix

// Package cputime reports process CPU time per benchmark op: on a shared
// machine it is steadier than the wall time, which counts waiting for a
// core.
package cputime

import (
	"syscall"
	"testing"
)

// Report runs f (a benchmark's loop) and reports the process CPU time per
// op (user + system, every thread) as cpu-ns/op.
func Report(b *testing.B, f func()) {
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	f()
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	ns := (r1.Utime.Nano() + r1.Stime.Nano()) - (r0.Utime.Nano() + r0.Stime.Nano())
	b.ReportMetric(float64(ns)/float64(b.N), "cpu-ns/op")
}
