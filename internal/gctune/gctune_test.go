package gctune

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		name, env string
		want      int
	}{
		{"Default", "", Percent},
		{"OperatorWins", "150", 150},
		{"Off", "off", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.env)
			if tc.env != "" {
				// The runtime reads GOGC at start; a test sets what it would have.
				if tc.env == "off" {
					debug.SetGCPercent(-1)
				} else {
					debug.SetGCPercent(150)
				}
			}
			if got := Apply(); got != tc.want {
				t.Fatalf("Apply() = %d; want %d", got, tc.want)
			}
			if got := debug.SetGCPercent(tc.want); got != tc.want {
				t.Fatalf("GC percent in effect = %d; want %d", got, tc.want)
			}
		})
	}
}
