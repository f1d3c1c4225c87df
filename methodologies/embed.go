// Package methodologies holds the shipped methodology documents and the
// emission factor library as data, embedded in the binary so that
// `opencarbon --demo` and `opencarbon methodology lint` work anywhere.
//
// It must never contain logic: loading and checking is package methodology.
package methodologies

import "embed"

// FS holds factors.yaml and every shipped methodology document.
//
//go:embed *.yaml
var FS embed.FS
