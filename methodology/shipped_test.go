package methodology_test

import (
	"testing"

	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
)

// TestShippedVectors runs every test vector of every shipped methodology.
func TestShippedVectors(t *testing.T) {
	ms, _, err := methodology.LoadFS(methodologies.FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 10 {
		t.Fatalf("shipped %d methodologies, want at least 10", len(ms))
	}
	scenarios := map[string]bool{}
	for _, m := range ms {
		scenarios[m.Scenario()] = true
		t.Run(m.ID(), func(t *testing.T) {
			for _, r := range m.RunVectors(nil) {
				if !r.Pass {
					t.Errorf("%s: %s", r.Name, r.Reason)
				}
			}
		})
	}
	for _, s := range []string{"eat", "wear", "use", "travel"} {
		if !scenarios[s] {
			t.Errorf("no shipped methodology for scenario %s", s)
		}
	}
}
