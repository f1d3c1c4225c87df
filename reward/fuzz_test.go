package reward

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzValidCode: a code is accepted only if it is exactly what newCode can
// produce (24 characters of A–Z2–7 that decode to 15 bytes), and every
// generated code is accepted.
func FuzzValidCode(f *testing.F) {
	f.Add(newCode())
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("aaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAA1")
	f.Add("' OR 1=1 --")
	f.Add("")
	f.Fuzz(func(t *testing.T, c string) {
		if !validCode(c) {
			return
		}
		b, err := codeEncoding.DecodeString(c)
		if len(c) != 24 || err != nil || len(b) != 15 {
			t.Fatalf("validCode(%q) but it is not a code: %v", c, err)
		}
		if !validCode(newCode()) {
			t.Fatal("newCode gave an invalid code")
		}
	})
}

// FuzzCheckText: accepted text is trimmed, valid UTF-8, within bounds and
// has no control characters.
func FuzzCheckText(f *testing.F) {
	f.Add("Refill coffee 自带杯", 1, 100)
	f.Add("  x  ", 1, 1)
	f.Add("a\x00b", 0, 10)
	f.Add("\xff\xfe", 0, 10)
	f.Add("line\nbreak", 0, 100)
	f.Fuzz(func(t *testing.T, s string, min, max int) {
		v := s
		if checkText("f", &v, min, max) != nil {
			return
		}
		n := utf8.RuneCountInString(v)
		if !utf8.ValidString(v) || n < min || n > max || v != strings.TrimSpace(v) ||
			strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("checkText accepted %q (from %q) for %d..%d", v, s, min, max)
		}
	})
}

// FuzzIdempotencyKey: accepted keys are short, printable ASCII without
// spaces, so they are safe inside the ledger reference.
func FuzzIdempotencyKey(f *testing.F) {
	f.Add("k1")
	f.Add("order-2026-11-25:42")
	f.Add("bad key")
	f.Add(strings.Repeat("a", 129))
	f.Fuzz(func(t *testing.T, k string) {
		if !keyPattern.MatchString(k) {
			return
		}
		if len(k) < 1 || len(k) > 128 || strings.ContainsAny(k, " \n\t/\\\"'") {
			t.Fatalf("key %q accepted", k)
		}
	})
}
