package web_test

import (
	"bytes"
	"net/http"
	"sync"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestEventReplay: POST /v1/events records the nonce with the events' group
// commit; a replayed request is still refused with nonce_reused, also
// when the copies arrive together, and a request refused before its nonce
// was recorded is refused the same way again.
func TestEventReplay(t *testing.T) {
	storetest.Each(t, evComps, func(t *testing.T, db *store.DB) {
		e := newEvEnv(t, db)
		send := func(h http.Header, body string) (int, map[string]any) {
			req, _ := http.NewRequest("POST", e.url+"/v1/events", bytes.NewReader([]byte(body)))
			req.Header = h.Clone()
			req.Header.Set("Content-Type", "application/json")
			return e.do(req)
		}
		sign := func(partnerID, body string) http.Header {
			req, _ := http.NewRequest("POST", e.url+"/v1/events", nil)
			partner.SignRequest(req, partnerID, e.secrets[partnerID], []byte(body))
			return req.Header
		}
		code := func(out map[string]any) string {
			m, _ := out["error"].(map[string]any)
			s, _ := m["code"].(string)
			return s
		}

		body := evJSON("r1", "alice", "R1")
		h := sign("eleme", body)
		if st, out := send(h, body); st != 200 || results(t, out)[0]["status"] != "credited" {
			t.Fatalf("first: %d %v", st, out)
		}
		if st, out := send(h, body); code(out) != oc.ENonceReused {
			t.Fatalf("replay: %d %v", st, out)
		}

		t.Run("ConcurrentCopies", func(t *testing.T) {
			body := evJSON("r2", "bob", "R2")
			h := sign("eleme", body)
			var mu sync.Mutex
			got := map[string]int{}
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, out := send(h, body)
					k := code(out)
					if st == 200 {
						k = results(t, out)[0]["status"].(string)
					}
					mu.Lock()
					got[k]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if got["credited"] != 1 || got[oc.ENonceReused] != 7 {
				t.Fatalf("8 copies: %v; want 1 credited, 7 %s", got, oc.ENonceReused)
			}
		})
		t.Run("RefusedBeforeTheNonce", func(t *testing.T) {
			bad := `{"event_id":`
			h := sign("eleme", bad)
			for range 2 {
				if st, out := send(h, bad); st != 400 || code(out) != oc.EInvalid {
					t.Fatalf("bad body: %d %v", st, out)
				}
			}
		})
	})
}
