package methodology

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// VectorResult is the outcome of one test vector.
type VectorResult struct {
	Name   string
	Pass   bool
	Got    Result
	Reason string // why it failed
}

// vectorEpoch is the occurred_at of a vector that does not give one.
var vectorEpoch = time.Date(2022, 8, 8, 12, 0, 0, 0, time.UTC)

// RunVectors evaluates every test vector of m in the time zone loc (nil:
// Asia/Shanghai) and compares the outcome with the expectation.
func (m *Methodology) RunVectors(loc *time.Location) []VectorResult {
	if loc == nil {
		loc = DefaultLocation
	}
	out := make([]VectorResult, 0, len(m.Doc.Vectors))
	for i, v := range m.Doc.Vectors {
		at := vectorEpoch
		if v.Event.OccurredAt != "" {
			at, _ = time.Parse(time.RFC3339, v.Event.OccurredAt)
		}
		ev := Event{ID: fmt.Sprintf("vector-%d", i), Partner: v.Event.Partner, Person: "vector",
			Behavior: m.ID(), OccurredAt: at, Params: v.Event.Params, Evidence: v.Event.Evidence}
		r := m.evaluate(ev, v.Used, loc)
		vr := VectorResult{Name: v.Name, Got: r, Pass: true}
		switch {
		case v.ExpectRefusal != "" && r.Refusal != v.ExpectRefusal:
			vr.Pass, vr.Reason = false, fmt.Sprintf("want refusal %s, got %s", v.ExpectRefusal, describe(r))
		case v.ExpectRefusal == "" && (r.Refusal != "" || r.MG != v.ExpectMG):
			vr.Pass, vr.Reason = false, fmt.Sprintf("want %d mg, got %s", v.ExpectMG, describe(r))
		}
		out = append(out, vr)
	}
	return out
}

// VectorsPass reports whether every vector passes, and the first failure.
func (m *Methodology) VectorsPass() (bool, string) {
	for _, r := range m.RunVectors(nil) {
		if !r.Pass {
			return false, r.Name + ": " + r.Reason
		}
	}
	return true, ""
}

func describe(r Result) string {
	if r.Refusal != "" {
		return r.Refusal + " (" + r.Detail + ")"
	}
	return fmt.Sprintf("%d mg", r.MG)
}

// FactorsFile is the name of the factor library inside a methodology
// directory.
const FactorsFile = "factors.yaml"

// LoadFS loads the factor library (factors.yaml) and every other *.yaml or
// *.json document at the top of fsys. Problems of every file are collected
// into one *DocError.
func LoadFS(fsys fs.FS) ([]*Methodology, *Factors, error) {
	src, err := fs.ReadFile(fsys, FactorsFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load methodologies: %w", err)
	}
	factors, err := ParseFactors(FactorsFile, src)
	if err != nil {
		return nil, nil, err
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, nil, fmt.Errorf("load methodologies: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && n != FactorsFile && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".json")) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var ms []*Methodology
	var probs Problems
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, nil, fmt.Errorf("load methodologies: %w", err)
		}
		m, err := Load(n, b, factors)
		if err != nil {
			if ps := ProblemsOf(err); ps != nil {
				probs = append(probs, ps...)
				continue
			}
			return nil, nil, err
		}
		ms = append(ms, m)
	}
	if len(probs) > 0 {
		return nil, nil, probs.err()
	}
	return ms, factors, nil
}

// LoadDir is LoadFS over a directory on disk.
func LoadDir(dir string) ([]*Methodology, *Factors, error) {
	return LoadFS(os.DirFS(filepath.Clean(dir)))
}
