package webhook_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

var comps = []store.Component{partner.Migrations, webhook.Migrations}

// hit is one request a receiver got.
type hit struct {
	delivery string
	body     string
	env      webhook.Envelope
	sigOK    bool
}

// receiver is a real local HTTP server that fails its first failN requests
// (forever when failN < 0) and checks every request's signature.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	failN  int
	hits   []hit
}

func newReceiver(t *testing.T, failN int) *receiver {
	rc := &receiver{t: t, failN: failN}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(partner.HeaderTimestamp), 10, 64)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		want := partner.Sign(rc.secret, r.Method, r.URL.RequestURI(), ts, r.Header.Get(partner.HeaderNonce), body)
		h := hit{delivery: r.Header.Get(webhook.HeaderDelivery), body: string(body),
			sigOK: hmac.Equal([]byte(want), []byte(r.Header.Get(partner.HeaderSignature))) && r.Method == "POST" &&
				r.Header.Get(partner.HeaderPartner) != "" && len(r.Header.Get(partner.HeaderNonce)) >= 16 &&
				time.Since(time.Unix(ts, 0)).Abs() < time.Minute}
		json.Unmarshal(body, &h.env)
		rc.hits = append(rc.hits, h)
		if rc.failN < 0 || len(rc.hits) <= rc.failN {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// setup registers partner id with a webhook URL at rc (none if rc is nil)
// and returns the registry.
func register(t *testing.T, ps *partner.Service, id string, rc *receiver) {
	t.Helper()
	reg := partner.Registration{ID: id, Name: id, Scopes: partner.AllScopes}
	if rc != nil {
		reg.WebhookURL = rc.srv.URL + "/hooks/opencarbon?v=1"
	}
	secret, err := ps.Register(context.Background(), reg)
	if err != nil {
		t.Fatal(err)
	}
	if rc != nil {
		rc.secret = secret
	}
}

func enqueue(t *testing.T, db *store.DB, topic, partnerID string, body any) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		return webhook.EnqueueTx(context.Background(), tx, topic, partnerID, 7, body)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func newDeliverer(t *testing.T, db *store.DB) (*webhook.Deliverer, *partner.Service) {
	ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	d := webhook.NewDeliverer(db, ps)
	d.BaseDelay, d.MaxDelay, d.MaxAttempts, d.Poll = time.Millisecond, 4*time.Millisecond, 5, 5*time.Millisecond
	return d, ps
}

// pump feeds the outbox into deliveries and sends due ones until cond
// holds or a few seconds pass.
func pump(t *testing.T, d *webhook.Deliverer, cond func() bool) {
	t.Helper()
	ctx := t.Context()
	feed := webhook.NewFeed(d.DB, webhook.FeedName)
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in time")
		}
		msgs, err := feed.Next(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > 0 {
			if err := d.Enqueue(ctx, msgs); err != nil {
				t.Fatal(err)
			}
			if err := feed.Ack(ctx, msgs[len(msgs)-1]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.SendDue(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestDeliver(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		d, ps := newDeliverer(t, db)
		ok, flaky, down := newReceiver(t, 0), newReceiver(t, 3), newReceiver(t, -1)
		register(t, ps, "eleme", ok)
		register(t, ps, "cainiao", flaky)
		register(t, ps, "xianyu", down)
		register(t, ps, "tmall", nil) // no URL: nothing is delivered

		enqueue(t, db, webhook.TopicCreditCreated, "eleme", map[string]any{"ref": "evt:eleme:1", "points": 12})
		enqueue(t, db, webhook.TopicMedalAwarded, "eleme", map[string]any{"internal": true}) // not a partner topic
		enqueue(t, db, webhook.TopicVoucherIssued, "", map[string]any{"no": "partner"})
		enqueue(t, db, webhook.TopicVoucherIssued, "cainiao", map[string]any{"code": "ABC"})
		enqueue(t, db, webhook.TopicCreditReversed, "xianyu", map[string]any{"ref": "evt:xianyu:9"})
		enqueue(t, db, webhook.TopicCreditCreated, "tmall", map[string]any{"ref": "evt:tmall:1"})

		all := func() []webhook.Delivery {
			x, err := d.Deliveries(ctx, "", 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		pump(t, d, func() bool {
			n := 0
			for _, x := range all() {
				if x.Status != webhook.StatusPending {
					n++
				}
			}
			return n == 3
		})
		if got := all(); len(got) != 3 {
			t.Fatalf("deliveries = %+v; want one each for eleme, cainiao, xianyu", got)
		}

		t.Run("OK", func(t *testing.T) {
			hits := ok.got()
			if len(hits) != 1 || !hits[0].sigOK {
				t.Fatalf("receiver got %+v; want one correctly signed POST", hits)
			}
			h := hits[0]
			if h.env.Topic != webhook.TopicCreditCreated || h.env.ID != h.delivery || h.delivery == "" || h.env.CreatedAt.IsZero() {
				t.Fatalf("envelope = %+v, delivery header %q", h.env, h.delivery)
			}
			var data map[string]any
			if json.Unmarshal(h.env.Data, &data); data["ref"] != "evt:eleme:1" || data["points"] != float64(12) {
				t.Fatalf("data = %s", h.env.Data)
			}
		})

		t.Run("FailsThenRecovers", func(t *testing.T) {
			hits := flaky.got()
			if len(hits) != 4 {
				t.Fatalf("flaky receiver got %d requests; want 3 failures and 1 success", len(hits))
			}
			for _, h := range hits {
				if !h.sigOK || h.delivery != hits[0].delivery || h.body != hits[0].body {
					t.Fatalf("retries differ or are not signed: %+v", hits)
				}
			}
			var x webhook.Delivery
			for _, y := range all() {
				if y.Partner == "cainiao" {
					x = y
				}
			}
			if x.Status != webhook.StatusDelivered || x.Attempts != 4 || x.DeliveredAt == nil || x.EventID != hits[0].delivery {
				t.Fatalf("delivery = %+v", x)
			}
		})

		t.Run("DeadLetter", func(t *testing.T) {
			dead, err := d.DeadLetters(ctx, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(dead) != 1 || dead[0].Partner != "xianyu" || dead[0].Attempts != 5 || dead[0].LastStatus != 503 || dead[0].LastError == "" {
				t.Fatalf("dead letters = %+v", dead)
			}
			if n := len(down.got()); n != 5 {
				t.Fatalf("dead receiver got %d attempts; want MaxAttempts = 5", n)
			}
			// Nothing more is sent to a dead delivery.
			if n, err := d.SendDue(ctx); err != nil || n != 0 {
				t.Fatalf("SendDue after dead = %d, %v", n, err)
			}

			// The receiver is repaired; the admin retries.
			down.mu.Lock()
			down.failN = 0
			down.mu.Unlock()
			x, err := d.Retry(ctx, dead[0].ID)
			if err != nil || x.Status != webhook.StatusPending || x.Attempts != 0 {
				t.Fatalf("Retry = %+v, %v", x, err)
			}
			pump(t, d, func() bool { x, _ := d.Delivery(ctx, dead[0].ID); return x.Status == webhook.StatusDelivered })
			if dead, _ := d.DeadLetters(ctx, 0, 10); len(dead) != 0 {
				t.Fatalf("dead letters after retry = %+v", dead)
			}
			if hits := down.got(); hits[len(hits)-1].delivery != dead[0].EventID {
				t.Fatal("retried delivery has a new event id")
			}
		})

		t.Run("ErrRetryDelivered", func(t *testing.T) {
			for _, x := range all() {
				if _, err := d.Retry(ctx, x.ID); oc.ErrorCode(err) != oc.EConflict {
					t.Fatalf("Retry delivered = %v; want conflict", err)
				}
			}
		})
		t.Run("ErrRetryUnknown", func(t *testing.T) {
			if _, err := d.Retry(ctx, 99999); oc.ErrorCode(err) != oc.ENotFound {
				t.Fatalf("Retry unknown = %v; want not_found", err)
			}
		})

		t.Run("EnqueueTwiceDeliversOnce", func(t *testing.T) {
			msgs, err := webhook.NewFeed(db, "replay").Next(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			before := len(all())
			if err := d.Enqueue(ctx, msgs); err != nil {
				t.Fatal(err)
			}
			if after := len(all()); after != before {
				t.Fatalf("replaying the feed made %d deliveries; want %d", after, before)
			}
		})
	})
}

// TestRun drives the whole worker as app.start does, against a receiver
// that fails twice, and checks at-least-once delivery of every message.
func TestRun(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		d, ps := newDeliverer(t, db)
		rc := newReceiver(t, 2)
		register(t, ps, "eleme", rc)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		for i := range 20 {
			enqueue(t, db, webhook.TopicCreditCreated, "eleme", map[string]int{"n": i})
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			seen := map[string]bool{}
			for _, h := range rc.got() {
				if !h.sigOK {
					t.Fatalf("unsigned request %+v", h)
				}
				seen[h.delivery] = true
			}
			if len(seen) == 20 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("receiver saw %d distinct deliveries; want 20", len(seen))
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != context.Canceled {
			t.Fatalf("Run = %v", err)
		}
	})
}

func TestBackoffBounded(t *testing.T) {
	// With the defaults, eight attempts end within about two hours.
	db := storetest.Open(t, store.SQLite, comps...)
	ps, _ := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	d := webhook.NewDeliverer(db, ps)
	if d.MaxAttempts != 0 {
		t.Fatal("defaults applied early")
	}
	var total time.Duration
	for n := 1; n < 8; n++ {
		w := webhook.Backoff(d, n)
		lo, hi := 15*time.Second<<(n-1), 30*time.Second<<(n-1)
		hi = min(hi, time.Hour)
		lo = min(lo, 30*time.Minute)
		if w < lo || w > hi {
			t.Fatalf("backoff(%d) = %v; want in [%v, %v]", n, w, lo, hi)
		}
		total += w
	}
	if total > 3*time.Hour || total < 30*time.Minute {
		t.Fatalf("total backoff = %v", total)
	}
}

func TestPruneDelivered(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		d, ps := newDeliverer(t, db)
		d.MaxAttempts = 1
		ok, down := newReceiver(t, 0), newReceiver(t, -1)
		register(t, ps, "eleme", ok)
		register(t, ps, "cainiao", down)
		now := time.Now()
		msgs := []webhook.Message{
			{ID: 1, Topic: webhook.TopicCreditCreated, Partner: "eleme", Body: []byte(`{}`), CreatedAt: now},
			{ID: 2, Topic: webhook.TopicCreditCreated, Partner: "eleme", Body: []byte(`{}`), CreatedAt: now},
			{ID: 3, Topic: webhook.TopicCreditCreated, Partner: "cainiao", Body: []byte(`{}`), CreatedAt: now},
		}
		if err := d.Enqueue(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		if n, err := d.SendDue(ctx); n != 3 || err != nil {
			t.Fatalf("SendDue = %d, %v", n, err)
		}
		if n, err := d.PruneDelivered(ctx, now.Add(-time.Hour)); n != 0 || err != nil {
			t.Fatalf("prune before delivery time = %d, %v; want 0", n, err)
		}
		if n, err := d.PruneDelivered(ctx, time.Now().Add(time.Hour)); n != 2 || err != nil {
			t.Fatalf("prune = %d, %v; want the 2 delivered", n, err)
		}
		left, _ := d.Deliveries(ctx, "", 0, 10)
		if len(left) != 1 || left[0].Status != webhook.StatusDead {
			t.Fatalf("left = %+v; want the dead letter only", left)
		}
	})
}

// TestDeliverCreditBatch: credits written as one outbox row per partner
// (EnqueueCreditsTx) are delivered one POST per credit, each with its own
// delivery id and its own CreditBody, as credits written one row each are.
func TestDeliverCreditBatch(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		d, ps := newDeliverer(t, db)
		ok := newReceiver(t, 0)
		register(t, ps, "eleme", ok)
		register(t, ps, "tmall", nil) // no URL: its credits are not delivered
		bodies := creditBodies(6, time.Now().UTC())
		if err := db.InTx(ctx, func(tx *store.Tx) error { return webhook.EnqueueCreditsTx(ctx, tx, bodies) }); err != nil {
			t.Fatal(err)
		}
		pump(t, d, func() bool { return len(ok.got()) >= 3 })
		hits := ok.got()
		if len(hits) != 3 {
			t.Fatalf("receiver got %d POSTs; want one per eleme credit (3)", len(hits))
		}
		seen := map[string]bool{}
		for _, h := range hits {
			var b webhook.CreditBody
			if err := json.Unmarshal(h.env.Data, &b); err != nil || !h.sigOK || h.env.Topic != webhook.TopicCreditCreated {
				t.Fatalf("POST %+v: %v", h, err)
			}
			if b.Partner != "eleme" || seen[b.EventID] || seen[h.env.ID] {
				t.Fatalf("credit %+v in envelope %s: wrong partner or repeated", b, h.env.ID)
			}
			seen[b.EventID], seen[h.env.ID] = true, true
		}
	})
}
