//go:build !unix

// Package cputime reports process CPU time per benchmark op where the
// platform tells it (unix); elsewhere it only runs the loop.
package cputime

import "testing"

// Report runs f; CPU time is not measured on this platform.
func Report(b *testing.B, f func()) { f() }
