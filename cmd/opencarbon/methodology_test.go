package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMethodologyCmd(t *testing.T) {
	dir := t.TempDir()
	good, _ := filepath.Glob("../../methodologies/*.yaml")
	if len(good) < 10 {
		t.Fatalf("shipped files: %v", good)
	}
	var out, errOut bytes.Buffer
	if err := runMethodology(&out, &errOut, append([]string{"test"}, good...)); err != nil {
		t.Fatalf("test shipped: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "PASS eleme.no_cutlery one order without cutlery: 11130 mg") {
		t.Fatalf("output:\n%s", out.String())
	}
	src, _ := os.ReadFile("../../methodologies/eleme.no_cutlery.yaml")
	bad := strings.Replace(string(src), "unit: gCO2e/order", "unit: kgCO2e/order", 1)
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte(bad), 0o644)
	out.Reset()
	if err := runMethodology(&out, &errOut, []string{"lint", path}); err == nil {
		t.Fatal("lint accepted a bad file")
	}
	if !strings.Contains(out.String(), path+":32:") || !strings.Contains(out.String(), "unit mismatch") {
		t.Fatalf("lint output:\n%s", out.String())
	}
	wrong := strings.Replace(string(src), "expect_mg: 11130", "expect_mg: 11131", 1)
	os.WriteFile(path, []byte(wrong), 0o644)
	out.Reset()
	if err := runMethodology(&out, &errOut, []string{"test", path}); err == nil || !strings.Contains(out.String(), "FAIL eleme.no_cutlery one order without cutlery: want 11131 mg, got 11130 mg") {
		t.Fatalf("test output: %v\n%s", err, out.String())
	}
}
