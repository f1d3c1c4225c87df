package partner_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// signed returns the headers of a request signed now (by db's clock).
func signed(db *store.DB, id, secret, method, path string, body []byte) http.Header {
	return signedAt(db.Now().Unix(), id, secret, method, path, partner.NewNonce(), body)
}

func signedAt(ts int64, id, secret, method, path, nonce string, body []byte) http.Header {
	h := http.Header{}
	h.Set(partner.HeaderPartner, id)
	h.Set(partner.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(partner.HeaderNonce, nonce)
	h.Set(partner.HeaderSignature, partner.Sign(secret, method, path, ts, nonce, body))
	return h
}

func TestVerify(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		frozen := db.Now()
		db.Now = func() time.Time { return frozen }
		s := mustService(t, db)
		secret := mustRegister(t, s, "eleme", partner.ScopeEventsWrite)
		body := []byte(`{"event_id":"e1"}`)
		const path = "/v1/events?dry=1"
		now := db.Now().Unix()

		tests := []struct {
			name   string
			method string // request as received
			path   string
			body   []byte
			scope  string
			edit   func(h http.Header)
			code   string
		}{
			{name: "OK", code: ""},
			{name: "OKEdgeOfWindowPast", edit: resign(now-300, secret, "POST", path, body), code: ""},
			{name: "OKEdgeOfWindowFuture", edit: resign(now+300, secret, "POST", path, body), code: ""},
			{name: "OKNoScopeRequired", scope: "-", code: ""},
			{name: "ErrMissingPartner", edit: del(partner.HeaderPartner), code: oc.EMissingAuth},
			{name: "ErrMissingTimestamp", edit: del(partner.HeaderTimestamp), code: oc.EMissingAuth},
			{name: "ErrMissingNonce", edit: del(partner.HeaderNonce), code: oc.EMissingAuth},
			{name: "ErrMissingSignature", edit: del(partner.HeaderSignature), code: oc.EMissingAuth},
			{name: "ErrMalformedPartner", edit: set(partner.HeaderPartner, "ELEME!"), code: oc.EMissingAuth},
			{name: "ErrMalformedTimestamp", edit: set(partner.HeaderTimestamp, "12e9"), code: oc.EMissingAuth},
			{name: "ErrNegativeTimestamp", edit: set(partner.HeaderTimestamp, "-1"), code: oc.EMissingAuth},
			{name: "ErrHugeTimestamp", edit: set(partner.HeaderTimestamp, "99999999999999999999"), code: oc.EMissingAuth},
			{name: "ErrShortNonce", edit: set(partner.HeaderNonce, "abc"), code: oc.EMissingAuth},
			{name: "ErrLongNonce", edit: set(partner.HeaderNonce, strings.Repeat("a", 129)), code: oc.EMissingAuth},
			{name: "ErrNonceSpace", edit: set(partner.HeaderNonce, "abcdefgh ijklmnop"), code: oc.EMissingAuth},
			{name: "ErrUppercaseSignature", edit: upper(partner.HeaderSignature), code: oc.EMissingAuth},
			{name: "ErrShortSignature", edit: set(partner.HeaderSignature, "abcd"), code: oc.EMissingAuth},
			{name: "ErrRepeatedHeader", edit: func(h http.Header) { h.Add(partner.HeaderNonce, partner.NewNonce()) }, code: oc.EMissingAuth},
			{name: "ErrStalePast", edit: resign(now-301, secret, "POST", path, body), code: oc.EStaleTimestamp},
			{name: "ErrStaleFuture", edit: resign(now+301, secret, "POST", path, body), code: oc.EStaleTimestamp},
			{name: "ErrUnknownPartner", edit: set(partner.HeaderPartner, "nobody"), code: oc.EUnknownPartner},
			{name: "ErrWrongSecret", edit: resign(now, strings.Repeat("0", 64), "POST", path, body), code: oc.EInvalidSignature},
			{name: "ErrBodyChanged", body: []byte(`{"event_id":"e2"}`), code: oc.EInvalidSignature},
			{name: "ErrEmptyBody", body: []byte{}, code: oc.EInvalidSignature},
			{name: "ErrPathChanged", path: "/v1/events", code: oc.EInvalidSignature},
			{name: "ErrQueryChanged", path: "/v1/events?dry=0", code: oc.EInvalidSignature},
			{name: "ErrMethodChanged", method: "PUT", code: oc.EInvalidSignature},
			{name: "ErrTimestampChanged", edit: set(partner.HeaderTimestamp, strconv.FormatInt(now-1, 10)), code: oc.EInvalidSignature},
			{name: "ErrLeadingZeroTimestamp", edit: set(partner.HeaderTimestamp, "0"+strconv.FormatInt(now, 10)), code: oc.EInvalidSignature},
			{name: "ErrMissingScope", scope: partner.ScopeEventsReverse, code: oc.EMissingScope},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h := signed(db, "eleme", secret, "POST", path, body)
				if tc.edit != nil {
					tc.edit(h)
				}
				method, p, b, scope := "POST", path, body, partner.ScopeEventsWrite
				if tc.method != "" {
					method = tc.method
				}
				if tc.path != "" {
					p = tc.path
				}
				if tc.body != nil {
					b = tc.body
				}
				if tc.scope == "-" {
					scope = ""
				} else if tc.scope != "" {
					scope = tc.scope
				}
				id, err := s.Verify(ctx, method, p, h, b, scope)
				if got := oc.ErrorCode(err); got != tc.code {
					t.Fatalf("code %q (%v), want %q", got, err, tc.code)
				}
				if tc.code == "" && id != "eleme" {
					t.Fatalf("partner %q, want eleme", id)
				}
				if tc.code != "" && id != "" {
					t.Fatalf("refused call returned partner %q", id)
				}
			})
		}
	})
}

func resign(ts int64, secret, method, path string, body []byte) func(http.Header) {
	return func(h http.Header) {
		nonce := partner.NewNonce()
		h.Set(partner.HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(partner.HeaderNonce, nonce)
		h.Set(partner.HeaderSignature, partner.Sign(secret, method, path, ts, nonce, body))
	}
}

func del(name string) func(http.Header) { return func(h http.Header) { h.Del(name) } }

func set(name, v string) func(http.Header) { return func(h http.Header) { h.Set(name, v) } }

func upper(name string) func(http.Header) {
	return func(h http.Header) { h.Set(name, strings.ToUpper(h.Get(name))) }
}

func TestVerifyNonce(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		secret := mustRegister(t, s, "eleme", partner.ScopeEventsWrite)
		body := []byte(`{}`)
		ts := db.Now().Unix()
		nonce := partner.NewNonce()

		t.Run("BadSignatureDoesNotBurnNonce", func(t *testing.T) {
			bad := signedAt(ts, "eleme", strings.Repeat("1", 64), "POST", "/v1/events", nonce, body)
			if _, err := s.Verify(ctx, "POST", "/v1/events", bad, body, ""); oc.ErrorCode(err) != oc.EInvalidSignature {
				t.Fatalf("bad signature: %v", err)
			}
		})
		good := signedAt(ts, "eleme", secret, "POST", "/v1/events", nonce, body)
		t.Run("OK", func(t *testing.T) {
			if _, err := s.Verify(ctx, "POST", "/v1/events", good, body, ""); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ErrNonceReused", func(t *testing.T) {
			if _, err := s.Verify(ctx, "POST", "/v1/events", good, body, ""); oc.ErrorCode(err) != oc.ENonceReused {
				t.Fatalf("replay: %v", err)
			}
		})
		t.Run("ErrNonceReusedOtherRequest", func(t *testing.T) {
			other := signedAt(ts, "eleme", secret, "GET", "/v1/other", nonce, nil)
			if _, err := s.Verify(ctx, "GET", "/v1/other", other, nil, ""); oc.ErrorCode(err) != oc.ENonceReused {
				t.Fatalf("same nonce, other request: %v", err)
			}
		})
		t.Run("PruneKeepsNoncesInsideWindow", func(t *testing.T) {
			if _, err := s.PruneNonces(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Verify(ctx, "POST", "/v1/events", good, body, ""); oc.ErrorCode(err) != oc.ENonceReused {
				t.Fatalf("replay after prune: %v", err)
			}
		})
		t.Run("PruneDropsNoncesPastWindow", func(t *testing.T) {
			real := db.Now
			defer func() { db.Now = real }()
			db.Now = func() time.Time { return real().Add(11 * time.Minute) }
			n, err := s.PruneNonces(ctx)
			if err != nil || n < 1 {
				t.Fatalf("prune = %d, %v", n, err)
			}
			// The replayed timestamp is now stale: the window still refuses it.
			if _, err := s.Verify(ctx, "POST", "/v1/events", good, body, ""); oc.ErrorCode(err) != oc.EStaleTimestamp {
				t.Fatalf("old replay: %v", err)
			}
		})
	})
}

// TestNonceAcrossProcesses sends one signed request many times at once to
// two services on two connections to the same database, as two server
// processes would: exactly one is accepted.
func TestNonceAcrossProcesses(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db2, err := store.Open(ctx, db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer db2.Close()
		a, b := mustService(t, db), mustService(t, db2)
		secret := mustRegister(t, a, "eleme", partner.ScopeEventsWrite)
		for round := 0; round < 5; round++ {
			h := signed(db, "eleme", secret, "POST", "/v1/events", nil)
			var ok, reused atomic.Int32
			var wg sync.WaitGroup
			for i := 0; i < 16; i++ {
				svc := a
				if i%2 == 1 {
					svc = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := svc.Verify(ctx, "POST", "/v1/events", h.Clone(), nil, partner.ScopeEventsWrite)
					switch oc.ErrorCode(err) {
					case "":
						ok.Add(1)
					case oc.ENonceReused:
						reused.Add(1)
					default:
						t.Errorf("verify: %v", err)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 1 || reused.Load() != 15 {
				t.Fatalf("round %d: %d accepted, %d refused as reused; want 1 and 15", round, ok.Load(), reused.Load())
			}
		}
	})
}

func TestRotate(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		old := mustRegister(t, s, "cainiao", partner.ScopeEventsWrite)
		verify := func(svc *partner.Service, secret string) string {
			h := signed(db, "cainiao", secret, "POST", "/v1/events", nil)
			_, err := svc.Verify(ctx, "POST", "/v1/events", h, nil, "")
			return oc.ErrorCode(err)
		}
		// Another process that caches nothing sees rotations at once.
		other := mustService(t, db)
		other.CacheTTL = 0
		if verify(other, old) != "" {
			t.Fatal("first secret refused")
		}

		fresh, until, err := s.Rotate(ctx, "cainiao", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if fresh == old {
			t.Fatal("rotation returned the same secret")
		}
		if d := until.Sub(db.Now()); d < 59*time.Minute || d > time.Hour {
			t.Fatalf("previous valid until %v, want about an hour from now", until)
		}
		t.Run("OverlapBothWork", func(t *testing.T) {
			for _, svc := range []*partner.Service{s, other} {
				if c := verify(svc, old); c != "" {
					t.Fatalf("old secret inside overlap: %s", c)
				}
				if c := verify(svc, fresh); c != "" {
					t.Fatalf("new secret: %s", c)
				}
			}
		})
		t.Run("ErrOldAfterOverlap", func(t *testing.T) {
			real := db.Now
			defer func() { db.Now = real }()
			db.Now = func() time.Time { return real().Add(61 * time.Minute) }
			for _, svc := range []*partner.Service{s, other} {
				if c := verify(svc, old); c != oc.EInvalidSignature {
					t.Fatalf("old secret after overlap: %q", c)
				}
				if c := verify(svc, fresh); c != "" {
					t.Fatalf("new secret after overlap: %s", c)
				}
			}
		})
		t.Run("ZeroOverlapEndsAtOnce", func(t *testing.T) {
			third, _, err := s.Rotate(ctx, "cainiao", 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, svc := range []*partner.Service{s, other} {
				if c := verify(svc, fresh); c != oc.EInvalidSignature {
					t.Fatalf("rotated-out secret: %q", c)
				}
				if c := verify(svc, third); c != "" {
					t.Fatalf("newest secret: %s", c)
				}
			}
		})
		t.Run("ConcurrentRotations", func(t *testing.T) {
			secrets := make([]string, 4)
			var wg sync.WaitGroup
			for i := range secrets {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sec, _, err := s.Rotate(ctx, "cainiao", time.Hour)
					if err != nil {
						t.Error(err)
					}
					secrets[i] = sec
				}()
			}
			wg.Wait()
			_, current, _ := s.Endpoint(ctx, "cainiao")
			found := false
			for _, sec := range secrets {
				if c := verify(other, sec); c != "" {
					t.Fatalf("secret of a concurrent rotation refused: %s", c)
				}
				found = found || sec == current
			}
			if !found {
				t.Fatal("the current secret is none of the rotations")
			}
		})
		t.Run("ErrUnknownPartner", func(t *testing.T) {
			if _, _, err := s.Rotate(ctx, "nobody", time.Hour); oc.ErrorCode(err) != oc.ENotFound {
				t.Fatalf("rotate unknown: %v", err)
			}
		})
		t.Run("ErrOverlapOutOfRange", func(t *testing.T) {
			if _, _, err := s.Rotate(ctx, "cainiao", -time.Second); oc.ErrorCode(err) != oc.EInvalid {
				t.Fatalf("negative overlap: %v", err)
			}
		})
	})
}

func TestSignRequest(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		s := mustService(t, db)
		secret := mustRegister(t, s, "tmall", partner.ScopeMallManage)
		body := []byte(`{"item":"cup"}`)
		r, _ := http.NewRequest("POST", "http://localhost:8080/v1/mall/items?x=1&y=%20", strings.NewReader(string(body)))
		partner.SignRequest(r, "tmall", secret, body)
		id, err := s.Verify(context.Background(), r.Method, r.URL.RequestURI(), r.Header, body, partner.ScopeMallManage)
		if err != nil || id != "tmall" {
			t.Fatalf("verify signed request: %q %v", id, err)
		}
	})
}

// TestVerifyNonceLastSecondOfWindow replays a request in the last second
// its timestamp is still accepted (server clock ts+300.9 s, which the
// whole-second skew check lets through): the nonce record must still be
// alive then, or the replay is taken as a fresh request.
func TestVerifyNonceLastSecondOfWindow(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		secret := mustRegister(t, s, "eleme", partner.ScopeEventsWrite)
		body := []byte(`{}`)
		start := time.Unix(db.Now().Unix(), 0).UTC()
		ts := start.Unix()
		h := signedAt(ts, "eleme", secret, "POST", "/v1/events", partner.NewNonce(), body)
		real := db.Now
		defer func() { db.Now = real }()
		db.Now = func() time.Time { return start }
		if _, err := s.Verify(ctx, "POST", "/v1/events", h, body, ""); err != nil {
			t.Fatal(err)
		}
		db.Now = func() time.Time { return start.Add(partner.MaxSkew + 900*time.Millisecond) }
		if _, err := s.Verify(ctx, "POST", "/v1/events", h, body, ""); oc.ErrorCode(err) != oc.ENonceReused {
			t.Fatalf("replay in the last second of the window: %v, want %s", err, oc.ENonceReused)
		}
		if _, err := s.PruneNonces(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, "POST", "/v1/events", h, body, ""); oc.ErrorCode(err) != oc.ENonceReused {
			t.Fatalf("replay after a prune in the last second of the window: %v, want %s", err, oc.ENonceReused)
		}
	})
}
