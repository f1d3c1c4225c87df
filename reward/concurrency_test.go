package reward_test

import (
	"fmt"
	"sync"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestConcurrentRedemptions fires 1200 redemptions at once against an
// offer with less stock than demand, people with less balance than they
// ask for and a per-person limit, with some requests repeating an
// idempotency key. It checks that nothing is oversold or overspent, no key
// gives two vouchers, no code repeats and every refusal has a clear code.
func TestConcurrentRedemptions(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		const (
			people   = 60
			requests = 1200
			price    = 10
			stockN   = 200
			limit    = 6
		)
		e := newEnv(t, db)
		funded := map[string]int64{}
		for i := range people {
			p := fmt.Sprintf("p%02d", i)
			e.open(p)
			// From 0 to 9 redemptions' worth, split across two sub-accounts.
			pts := int64(i%10) * price
			if pts > 0 {
				e.fund(p, "eleme", pts/2+1)
				e.fund(p, "cainiao", pts-pts/2-1)
			}
			funded[p] = pts
		}
		e.merchant("hot", "eleme")
		hot := e.offer(reward.OfferInput{Kind: reward.KindDiscount, Merchant: "hot", Title: "Hot", Points: price, Stock: stock(stockN), PerPerson: limit})

		type result struct {
			person, key string
			v           *reward.Voucher
			err         error
		}
		results := make([]result, requests)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range requests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				p := fmt.Sprintf("p%02d", i%people)
				key := fmt.Sprintf("k%d", i/people)
				if i%7 == 0 {
					key = "k0" // retries of the first key
				}
				v, err := e.rewards.Redeem(t.Context(), p, hot.ID, key)
				results[i] = result{p, key, v, err}
			}()
		}
		close(start)
		wg.Wait()

		codes := map[string]string{} // code → person:key
		byKey := map[string]string{} // person:key → code
		issued := map[string]int64{}
		refusals := map[string]int{}
		for _, r := range results {
			if r.err != nil {
				switch c := oc.ErrorCode(r.err); c {
				case oc.EInsufficientPoints, oc.EOutOfStock, oc.ELimitReached:
					refusals[c]++
				default:
					t.Fatalf("%s %s: unclear failure %v", r.person, r.key, r.err)
				}
				continue
			}
			pk := r.person + ":" + r.key
			if old, ok := byKey[pk]; ok && old != r.v.Code {
				t.Fatalf("key %s gave two vouchers %s and %s", pk, old, r.v.Code)
			}
			if owner, ok := codes[r.v.Code]; ok && owner != pk {
				t.Fatalf("code %s given to %s and %s", r.v.Code, owner, pk)
			}
			if _, ok := byKey[pk]; !ok {
				issued[r.person]++
			}
			byKey[pk], codes[r.v.Code] = r.v.Code, pk
		}
		total := int64(len(codes))
		o, err := e.rewards.Offer(t.Context(), hot.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored := e.count(`SELECT COUNT(*) FROM reward_vouchers WHERE offer_id = $1`, hot.ID)
		if total > stockN || stored != total || o.Issued != total || *o.Stock != stockN-total {
			t.Fatalf("oversold: %d vouchers answered, %d stored, issued %d, stock left %d of %d", total, stored, o.Issued, *o.Stock, stockN)
		}
		for p, f := range funded {
			n := issued[p]
			if n > limit || n*price > f {
				t.Fatalf("%s got %d vouchers with %d points funded, limit %d", p, n, f, limit)
			}
			if got := e.points(p, ""); got != f-n*price {
				t.Fatalf("%s has %d points; want %d - %d", p, got, f, n*price)
			}
		}
		// Demand (234 vouchers within balances and limits) exceeds the
		// stock, and many ask beyond their balance.
		if total != stockN || refusals[oc.EInsufficientPoints] == 0 || refusals[oc.EOutOfStock] == 0 {
			t.Fatalf("sold %d, refusals %v; want the whole stock sold, insufficient_points and out_of_stock", total, refusals)
		}
		t.Logf("%d vouchers, refusals %v", total, refusals)
		e.check()
	})
}

// TestConcurrentStockRace has many well-funded people race for a small
// stock: exactly the stock is sold and everyone else hears out_of_stock.
func TestConcurrentStockRace(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		const people, stockN = 200, 37
		e := newEnv(t, db)
		for i := range people {
			p := fmt.Sprintf("q%03d", i)
			e.open(p)
			e.fund(p, "eleme", 100)
		}
		item := e.offer(reward.OfferInput{Kind: reward.KindMall, Partner: "eleme", Title: "Rare", Points: 30, Stock: stock(stockN)})
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, out := 0, 0
		for i := range people {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.rewards.Redeem(t.Context(), fmt.Sprintf("q%03d", i), item.ID, "only")
				mu.Lock()
				defer mu.Unlock()
				switch oc.ErrorCode(err) {
				case "":
					ok++
				case oc.EOutOfStock:
					out++
				default:
					t.Errorf("unexpected %v", err)
				}
			}()
		}
		wg.Wait()
		if ok != stockN || out != people-stockN {
			t.Fatalf("sold %d, out_of_stock %d; want %d and %d", ok, out, stockN, people-stockN)
		}
		e.check()
	})
}

// TestConcurrentDonations races 150 donations for a budget that pays 23 red
// envelopes: exactly 23 are paid, the budget ends at what is left, and
// everyone else hears budget_exhausted with their points untouched.
func TestConcurrentDonations(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		const people, paid, amount = 150, 23, 88
		e := newEnv(t, db)
		for i := range people {
			p := fmt.Sprintf("d%03d", i)
			e.open(p)
			e.fund(p, "cainiao", 100)
		}
		trees := e.offer(reward.OfferInput{Kind: reward.KindDonation, Title: "Trees", Project: "Trees", Points: 40, AmountFen: amount, BudgetFen: paid*amount + amount - 1})
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, exhausted := 0, 0
		for i := range people {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.rewards.Donate(t.Context(), fmt.Sprintf("d%03d", i), trees.ID, "give")
				mu.Lock()
				defer mu.Unlock()
				switch oc.ErrorCode(err) {
				case "":
					ok++
				case oc.EBudgetExhausted:
					exhausted++
				default:
					t.Errorf("unexpected %v", err)
				}
			}()
		}
		wg.Wait()
		o, _ := e.rewards.Offer(t.Context(), trees.ID)
		if ok != paid || exhausted != people-paid || o.BudgetFen != amount-1 || !o.BudgetExhausted {
			t.Fatalf("paid %d, exhausted %d, budget left %d; want %d, %d, %d", ok, exhausted, o.BudgetFen, paid, people-paid, amount-1)
		}
		var spent int64
		for i := range people {
			spent += 100 - e.points(fmt.Sprintf("d%03d", i), "")
		}
		if spent != paid*40 {
			t.Fatalf("%d points spent; want %d", spent, paid*40)
		}
		e.check()
	})
}
