//go:build !unix

package methodology

import "testing"

func reportCPU(b *testing.B, f func()) { f() }
