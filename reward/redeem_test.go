package reward_test

import (
	"encoding/json"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

func TestRedeem(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newEnv(t, db)
		e.open("p1")
		e.fund("p1", "eleme", 50)
		e.fund("p1", "cainiao", 50)
		e.merchant("refill", "eleme")
		coffee := e.offer(reward.OfferInput{Kind: reward.KindDiscount, Merchant: "refill", Title: "Coffee", Points: 60, Stock: stock(5), PerPerson: 2})

		v, err := e.rewards.Redeem(ctx, "p1", coffee.ID, "k1")
		if err != nil {
			t.Fatal(err)
		}

		t.Run("OK", func(t *testing.T) {
			if len(v.Code) != 24 || v.Status != reward.StatusIssued || v.Points != 60 || v.OfferID != coffee.ID || v.Partner != "eleme" || v.Replayed {
				t.Fatalf("voucher = %+v", v)
			}
			if got := e.points("p1", ""); got != 40 {
				t.Fatalf("points after = %d; want 100 - 60", got)
			}
			o, _ := e.rewards.Offer(ctx, coffee.ID)
			if *o.Stock != 4 || o.Issued != 1 {
				t.Fatalf("offer after = %+v", o)
			}
			// Read the outbox table itself: a feed may lag behind
			// transactions of other tests on the shared PostgreSQL.
			var topic, to, raw string
			err := db.Read().QueryRow(`SELECT topic, partner, body FROM outbox WHERE topic <> 'points.expiring' ORDER BY id`).Scan(&topic, &to, &raw)
			if err != nil || topic != webhook.TopicVoucherIssued || to != "eleme" {
				t.Fatalf("outbox = %s %s %s, %v", topic, to, raw, err)
			}
			var body reward.VoucherBody
			if json.Unmarshal([]byte(raw), &body); body.Code != v.Code || body.Points != 60 {
				t.Fatalf("voucher.issued body = %s", raw)
			}
		})
		t.Run("SameKeyReturnsSameVoucher", func(t *testing.T) {
			again, err := e.rewards.Redeem(ctx, "p1", coffee.ID, "k1")
			if err != nil || again.Code != v.Code || !again.Replayed {
				t.Fatalf("replay = %+v, %v", again, err)
			}
			if got := e.points("p1", ""); got != 40 {
				t.Fatalf("replay spent again: %d", got)
			}
		})
		t.Run("ErrKeyUsedForAnotherOffer", func(t *testing.T) {
			other := e.offer(reward.OfferInput{Kind: reward.KindDiscount, Merchant: "refill", Title: "Tea", Points: 1})
			_, err := e.rewards.Redeem(ctx, "p1", other.ID, "k1")
			wantCode(t, err, oc.EConflict)
		})

		before := e.points("p1", "")
		tests := []struct {
			name   string
			person string
			offer  func() int64
			key    string
			code   string
		}{
			{"ErrInsufficientPoints", "p1", func() int64 { return coffee.ID }, "k2", oc.EInsufficientPoints},
			{"ErrNotFound", "p1", func() int64 { return 987654 }, "k3", oc.ENotFound},
			{"ErrNoConsent", "nobody", func() int64 { return coffee.ID }, "k4", oc.ENoConsent},
			{"ErrBadKey", "p1", func() int64 { return coffee.ID }, "bad key!", oc.EInvalid},
			{"ErrOutOfStock", "p1", func() int64 {
				return e.offer(reward.OfferInput{Kind: reward.KindDiscount, Merchant: "refill", Title: "Gone", Points: 1, Stock: stock(0)}).ID
			}, "k5", oc.EOutOfStock},
			{"ErrOfferExpired", "p1", func() int64 {
				return e.offer(reward.OfferInput{Kind: reward.KindDiscount, Merchant: "refill", Title: "Old", Points: 1, ValidFrom: past, ValidUntil: past.Add(time.Hour)}).ID
			}, "k6", oc.EOfferExpired},
			{"ErrOfferNotYetOpen", "p1", func() int64 {
				return e.offer(reward.OfferInput{Kind: reward.KindDiscount, Merchant: "refill", Title: "Soon", Points: 1, ValidFrom: time.Now().Add(time.Hour)}).ID
			}, "k7", oc.EOfferExpired},
			{"ErrDonationIsNotRedeemed", "p1", func() int64 {
				return e.offer(reward.OfferInput{Kind: reward.KindDonation, Title: "Trees", Project: "Trees", Points: 1, AmountFen: 10, BudgetFen: 100}).ID
			}, "k8", oc.EInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.rewards.Redeem(ctx, tc.person, tc.offer(), tc.key)
				wantCode(t, err, tc.code)
				if got := e.points("p1", ""); got != before {
					t.Fatalf("refused redemption changed points: %d, before %d", got, before)
				}
			})
		}
		t.Run("ErrLimitReached", func(t *testing.T) {
			e.fund("p1", "eleme", 1000)
			if _, err := e.rewards.Redeem(ctx, "p1", coffee.ID, "k9"); err != nil {
				t.Fatal(err)
			}
			pts := e.points("p1", "")
			_, err := e.rewards.Redeem(ctx, "p1", coffee.ID, "k10")
			wantCode(t, err, oc.ELimitReached)
			if e.points("p1", "") != pts {
				t.Fatal("limit_reached took points")
			}
		})
		e.check()
	})
}

func TestMallSpendsOnlyItsSubAccount(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newEnv(t, db)
		e.open("p1")
		e.fund("p1", "eleme", 100)
		e.fund("p1", "cainiao", 30)
		elemeItem := e.offer(reward.OfferInput{Kind: reward.KindMall, Partner: "eleme", Title: "Eleme coupon", Points: 80})
		cainiaoItem := e.offer(reward.OfferInput{Kind: reward.KindMall, Partner: "cainiao", Title: "Box gift", Points: 40})
		if elemeItem.Spends != "sub:eleme" {
			t.Fatalf("spends = %q", elemeItem.Spends)
		}

		// 130 points in total, but only 30 in cainiao's sub-account.
		_, err := e.rewards.Redeem(ctx, "p1", cainiaoItem.ID, "c1")
		wantCode(t, err, oc.EInsufficientPoints)
		if _, err := e.rewards.Redeem(ctx, "p1", elemeItem.ID, "e1"); err != nil {
			t.Fatal(err)
		}
		if el, ca := e.points("p1", "eleme"), e.points("p1", "cainiao"); el != 20 || ca != 30 {
			t.Fatalf("after eleme mall: eleme %d cainiao %d; want 20 and 30", el, ca)
		}
		// A platform offer spends the parent total, across sub-accounts.
		e.merchant("books", "")
		books := e.offer(reward.OfferInput{Kind: reward.KindDiscount, Merchant: "books", Title: "Books", Points: 45})
		if _, err := e.rewards.Redeem(ctx, "p1", books.ID, "b1"); err != nil {
			t.Fatal(err)
		}
		if got := e.points("p1", ""); got != 5 {
			t.Fatalf("parent after platform offer = %d; want 5", got)
		}
		// Unlinking the partner closes its mall to the person.
		if _, err := e.accounts.Revoke(ctx, "p1", "eleme"); err != nil {
			t.Fatal(err)
		}
		_, err = e.rewards.Redeem(ctx, "p1", elemeItem.ID, "e2")
		wantCode(t, err, oc.EPartnerNotLinked)
		e.check()
	})
}

func TestDonation(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newEnv(t, db)
		e.open("p1")
		e.fund("p1", "eleme", 1000)
		trees := e.offer(reward.OfferInput{Kind: reward.KindDonation, Title: "Trees", Project: "Saxaul planting", Points: 100, AmountFen: 88, BudgetFen: 200})

		for i, key := range []string{"d1", "d2"} {
			v, err := e.rewards.Donate(ctx, "p1", trees.ID, key)
			if err != nil || v.AmountFen != 88 || v.Project != "Saxaul planting" || v.Status != reward.StatusPaid {
				t.Fatalf("donation %d = %+v, %v", i, v, err)
			}
		}
		t.Run("ErrBudgetExhausted", func(t *testing.T) {
			_, err := e.rewards.Donate(ctx, "p1", trees.ID, "d3")
			wantCode(t, err, oc.EBudgetExhausted)
			if got := e.points("p1", ""); got != 800 {
				t.Fatalf("exhausted donation took points: %d", got)
			}
			list, _ := e.rewards.Offers(ctx, reward.OfferFilter{Available: true})
			if len(list) != 1 || !list[0].BudgetExhausted || list[0].BudgetFen != 24 {
				t.Fatalf("available list = %+v; want the program marked exhausted", list)
			}
		})
		t.Run("TopUpReopens", func(t *testing.T) {
			o, err := e.rewards.TopUp(ctx, trees.ID, 1000)
			if err != nil || o.BudgetFen != 1024 || o.BudgetExhausted {
				t.Fatalf("TopUp = %+v, %v", o, err)
			}
			if _, err := e.rewards.Donate(ctx, "p1", trees.ID, "d3"); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ErrDonationIsFinal", func(t *testing.T) {
			vs, _ := e.rewards.Vouchers(ctx, "p1", "", 10)
			_, err := e.rewards.Cancel(ctx, "p1", vs[0].Code)
			wantCode(t, err, oc.EConflict)
		})
		t.Run("ErrTopUpNotDonation", func(t *testing.T) {
			mall := e.offer(reward.OfferInput{Kind: reward.KindMall, Partner: "eleme", Title: "X", Points: 1})
			_, err := e.rewards.TopUp(ctx, mall.ID, 10)
			wantCode(t, err, oc.EInvalid)
			_, err = e.rewards.TopUp(ctx, 99999, 10)
			wantCode(t, err, oc.ENotFound)
			_, err = e.rewards.TopUp(ctx, trees.ID, 0)
			wantCode(t, err, oc.EInvalid)
		})
		t.Run("ErrRedeemIsNotDonate", func(t *testing.T) {
			mall := e.offer(reward.OfferInput{Kind: reward.KindMall, Partner: "eleme", Title: "Y", Points: 1})
			_, err := e.rewards.Donate(ctx, "p1", mall.ID, "d9")
			wantCode(t, err, oc.EInvalid)
		})
		e.check()
	})
}

func TestCancelAndUse(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newEnv(t, db)
		e.open("p1")
		e.open("p2")
		e.fund("p1", "eleme", 100)
		e.merchant("refill", "eleme")
		coffee := e.offer(reward.OfferInput{Kind: reward.KindDiscount, Merchant: "refill", Title: "Coffee", Points: 40, Stock: stock(3), PerPerson: 1})
		v, err := e.rewards.Redeem(ctx, "p1", coffee.ID, "a")
		if err != nil {
			t.Fatal(err)
		}

		t.Run("ErrOtherPersonCannotCancel", func(t *testing.T) {
			_, err := e.rewards.Cancel(ctx, "p2", v.Code)
			wantCode(t, err, oc.ENotFound)
		})
		t.Run("CancelRefunds", func(t *testing.T) {
			c, err := e.rewards.Cancel(ctx, "p1", v.Code)
			if err != nil || c.Status != reward.StatusCancelled || c.CancelAt == nil {
				t.Fatalf("Cancel = %+v, %v", c, err)
			}
			if got := e.points("p1", ""); got != 100 {
				t.Fatalf("points after cancel = %d; want 100", got)
			}
			if o, _ := e.rewards.Offer(ctx, coffee.ID); *o.Stock != 3 || o.Issued != 0 {
				t.Fatalf("offer after cancel = %+v", o)
			}
			if _, err := e.rewards.Cancel(ctx, "p1", v.Code); err != nil {
				t.Fatalf("second cancel = %v", err)
			}
			if got := e.points("p1", ""); got != 100 {
				t.Fatalf("second cancel refunded again: %d", got)
			}
			// A cancelled voucher does not count toward the limit.
			if _, err := e.rewards.Redeem(ctx, "p1", coffee.ID, "b"); err != nil {
				t.Fatal(err)
			}
		})
		vs, _ := e.rewards.Vouchers(ctx, "p1", "", 10)
		live := vs[0]
		t.Run("PartnerChecks", func(t *testing.T) {
			got, err := e.rewards.CheckVoucher(ctx, "eleme", live.Code)
			if err != nil || got.Status != reward.StatusIssued || got.OfferID != coffee.ID {
				t.Fatalf("CheckVoucher = %+v, %v", got, err)
			}
			_, err = e.rewards.CheckVoucher(ctx, "cainiao", live.Code)
			wantCode(t, err, oc.ENotFound)
			_, err = e.rewards.UseVoucher(ctx, "cainiao", live.Code)
			wantCode(t, err, oc.ENotFound)
			_, err = e.rewards.CheckVoucher(ctx, "eleme", "AAAAAAAAAAAAAAAAAAAAAAAA")
			wantCode(t, err, oc.ENotFound)
		})
		t.Run("UseOnce", func(t *testing.T) {
			u, err := e.rewards.UseVoucher(ctx, "eleme", live.Code)
			if err != nil || u.Status != reward.StatusUsed || u.UsedAt == nil {
				t.Fatalf("UseVoucher = %+v, %v", u, err)
			}
			_, err = e.rewards.UseVoucher(ctx, "eleme", live.Code)
			wantCode(t, err, oc.EVoucherUsed)
			if n := e.count(`SELECT COUNT(*) FROM outbox WHERE topic = $1`, webhook.TopicVoucherRedeemed); n != 1 {
				t.Fatalf("voucher.redeemed messages = %d; want 1", n)
			}
		})
		t.Run("ErrCancelUsed", func(t *testing.T) {
			_, err := e.rewards.Cancel(ctx, "p1", live.Code)
			wantCode(t, err, oc.EVoucherUsed)
		})
		t.Run("ErrUseCancelled", func(t *testing.T) {
			_, err := e.rewards.UseVoucher(ctx, "eleme", v.Code)
			wantCode(t, err, oc.EConflict)
		})
		t.Run("ExportAndErase", func(t *testing.T) {
			x, err := e.accounts.Export(ctx, "p1")
			if err != nil {
				t.Fatal(err)
			}
			if vs, _ := x.Sections["vouchers"].([]*reward.Voucher); len(vs) != 2 {
				t.Fatalf("export vouchers = %#v", x.Sections["vouchers"])
			}
			if err := e.accounts.Erase(ctx, "p1"); err != nil {
				t.Fatal(err)
			}
			if n := e.count(`SELECT COUNT(*) FROM reward_vouchers WHERE idem_key NOT LIKE 'erased:%'`); n != 0 {
				t.Fatalf("%d idempotency keys survive erasure", n)
			}
		})
		e.check()
	})
}
