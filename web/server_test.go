package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencarbon/opencarbon/web"
)

func TestOperations(t *testing.T) {
	s := &web.Server{}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for _, tc := range []struct {
		path, want string
		code       int
	}{
		{"/healthz", `"ok"`, 200},
		{"/readyz", `"ok"`, 200},
		{"/openapi.json", `"openapi"`, 200},
		{"/metrics", "opencarbon_http_requests_total", 200},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			res, err := http.Get(ts.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
				t.Fatalf("GET %s = %d %q; want %d containing %q", tc.path, res.StatusCode, b, tc.code, tc.want)
			}
		})
	}
}

func TestOpenAPIIsValidJSON(t *testing.T) {
	s := &web.Server{}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	res, err := http.Get(ts.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if doc.OpenAPI == "" {
		t.Fatal("openapi.json has no openapi version")
	}
}
