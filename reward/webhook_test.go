package reward_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// TestVoucherWebhooks follows a voucher from redemption to the merchant's
// webhook receiver: voucher.issued and then voucher.redeemed arrive signed
// with the partner's secret, and the person is never named.
func TestVoucherWebhooks(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newEnv(t, db)
		ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		secret, err := ps.Register(ctx, partner.Registration{ID: "tmall", Name: "tmall", Scopes: partner.AllScopes})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []webhook.Envelope
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			ts, _ := strconv.ParseInt(r.Header.Get(partner.HeaderTimestamp), 10, 64)
			if partner.Sign(secret, "POST", r.URL.RequestURI(), ts, r.Header.Get(partner.HeaderNonce), body) != r.Header.Get(partner.HeaderSignature) {
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
			var env webhook.Envelope
			json.Unmarshal(body, &env)
			mu.Lock()
			got = append(got, env)
			mu.Unlock()
		}))
		defer rc.Close()
		if err := ps.SetWebhookURL(ctx, "tmall", rc.URL+"/oc"); err != nil {
			t.Fatal(err)
		}
		e.merchant("minimal", "tmall")
		o := e.offer(reward.OfferInput{Kind: reward.KindDiscount, Merchant: "minimal", Title: "Minimal packaging", Points: 5})
		e.open("p1")
		e.fund("p1", "eleme", 10)
		v, err := e.rewards.Redeem(ctx, "p1", o.ID, "w1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.rewards.UseVoucher(ctx, "tmall", v.Code); err != nil {
			t.Fatal(err)
		}

		d := webhook.NewDeliverer(db, ps)
		d.Poll, d.BaseDelay = 5*time.Millisecond, time.Millisecond
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go d.Run(runCtx)
		deadline := time.Now().Add(15 * time.Second)
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("receiver got %d webhooks; want voucher.issued and voucher.redeemed", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		// Deliveries are sent concurrently, in no promised order.
		topics := map[string]bool{got[0].Topic: true, got[1].Topic: true}
		if len(got) != 2 || !topics[webhook.TopicVoucherIssued] || !topics[webhook.TopicVoucherRedeemed] {
			t.Fatalf("topics = %v", topics)
		}
		for _, env := range got {
			var b map[string]any
			json.Unmarshal(env.Data, &b)
			if b["code"] != v.Code || b["person"] != nil || b["merchant"] != "minimal" {
				t.Fatalf("%s data = %s", env.Topic, env.Data)
			}
		}
	})
}
