package partner_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestSignRequestOverHTTP signs requests with SignRequest and sends them
// over a real connection, so escaping of the path and query on the way
// matches what the server verifies (r.URL.RequestURI()).
func TestSignRequestOverHTTP(t *testing.T) {
	db := storetest.Open(t, store.SQLite, partner.Migrations)
	s := mustService(t, db)
	secret := mustRegister(t, s, "eleme", partner.ScopeEventsWrite)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := s.Verify(r.Context(), r.Method, r.URL.RequestURI(), r.Header, body, partner.ScopeEventsWrite)
		w.Write([]byte(oc.ErrorCode(err)))
	}))
	defer ts.Close()
	for _, path := range []string{"/v1/events", "/v1/events?batch=1&x=%E4%BD%A0", "/v1/events/ev%2F1/reversal", "/v1/a%20b?q=a+b"} {
		body := []byte(`{"event_id":"e1","person":"p"}`)
		req, _ := http.NewRequest("POST", ts.URL+path, bytes.NewReader(body))
		partner.SignRequest(req, "eleme", secret, body)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if len(got) != 0 {
			t.Errorf("%s: refused with %s", path, got)
		}
		// The same request again is a replay.
		req2, _ := http.NewRequest("POST", ts.URL+path, bytes.NewReader(body))
		req2.Header = req.Header.Clone()
		res, err = http.DefaultClient.Do(req2)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if string(got) != oc.ENonceReused {
			t.Errorf("%s replayed: %q, want %s", path, got, oc.ENonceReused)
		}
	}
}
