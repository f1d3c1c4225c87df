package web

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOpenAPICoversRoutes reads every route pattern registered in this
// package's source and checks that each /v1 route is documented in
// openapi.json with its method, so the document stays true.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	files, _ := filepath.Glob("*.go")
	pat := regexp.MustCompile(`"(GET|POST|PUT|DELETE|PATCH) (/v1/[^"\s]*)"`)
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range pat.FindAllStringSubmatch(string(src), -1) {
			seen++
			method, path := strings.ToLower(m[1]), m[2]
			ops, ok := doc.Paths[path]
			if !ok {
				t.Errorf("%s: route %s %s is not in openapi.json", f, m[1], path)
				continue
			}
			if _, ok := ops[method]; !ok {
				t.Errorf("%s: route %s %s: openapi.json has the path but not the method", f, m[1], path)
			}
		}
	}
	t.Logf("%d /v1 routes checked", seen)
}
