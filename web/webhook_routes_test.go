package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

func TestWebhookAdminRoutes(t *testing.T) {
	storetest.Each(t, rwComps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newRwEnv(t, db)
		var up atomic.Bool
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !up.Load() {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		defer rc.Close()
		ps, _ := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
		if err := ps.SetWebhookURL(ctx, "eleme", rc.URL+"/hook"); err != nil {
			t.Fatal(err)
		}
		e.hooks.MaxAttempts, e.hooks.BaseDelay = 2, time.Millisecond
		// A message as the outbox feed hands it over.
		msgs := []webhook.Message{{ID: 1, Topic: webhook.TopicCreditCreated, Partner: "eleme", Account: 1, Body: []byte(`{"points":3}`), CreatedAt: time.Now()}}
		if err := e.hooks.Enqueue(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		for range 50 {
			if dead, _ := e.hooks.DeadLetters(ctx, 0, 10); len(dead) == 1 {
				break
			}
			e.hooks.SendDue(ctx)
			time.Sleep(5 * time.Millisecond)
		}

		st, b := e.do("GET", "/v1/admin/webhooks/dead-letters", rwAsAdmin(), "")
		list, _ := b["deliveries"].([]any)
		if st != 200 || len(list) != 1 {
			t.Fatalf("dead letters = %d %v", st, b)
		}
		d, _ := list[0].(map[string]any)
		if d["partner"] != "eleme" || num(d["attempts"]) != 2 || num(d["last_status"]) != 500 || d["status"] != "dead" {
			t.Fatalf("dead letter = %v", d)
		}
		id := num(d["id"])
		up.Store(true)
		path := "/v1/admin/webhooks/deliveries/" + itoa(id) + "/retry"
		if st, b := e.do("POST", path, rwAsAdmin(), ""); st != 200 || b["status"] != "pending" || num(b["attempts"]) != 0 {
			t.Fatalf("retry = %d %v", st, b)
		}
		if n, err := e.hooks.SendDue(ctx); n != 1 || err != nil {
			t.Fatalf("SendDue after retry = %d, %v", n, err)
		}
		if st, b := e.do("POST", path, rwAsAdmin(), ""); st != 409 || rwCode(b) != "conflict" {
			t.Fatalf("retry delivered = %d %v", st, b)
		}
		tests := []struct {
			name, method, path string
			auth               rwAuth
			status             int
			code               string
		}{
			{"ErrNoToken", "GET", "/v1/admin/webhooks/dead-letters", rwAuth{}, 401, "missing_auth"},
			{"ErrPersonToken", "POST", path, rwAs("p1"), 401, "unauthorized"},
			{"ErrUnknownDelivery", "POST", "/v1/admin/webhooks/deliveries/999/retry", rwAsAdmin(), 404, "not_found"},
			{"ErrBadID", "POST", "/v1/admin/webhooks/deliveries/x/retry", rwAsAdmin(), 404, "not_found"},
			{"ErrBadLimit", "GET", "/v1/admin/webhooks/dead-letters?limit=5000", rwAsAdmin(), 400, "invalid"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if st, b := e.do(tc.method, tc.path, tc.auth, ""); st != tc.status || rwCode(b) != tc.code {
					t.Fatalf("= %d %v; want %d %s", st, b, tc.status, tc.code)
				}
			})
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
