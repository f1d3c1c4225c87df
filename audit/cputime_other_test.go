//go:build !unix

package audit_test

import "testing"

func reportCPU(b *testing.B, f func()) { f() }
