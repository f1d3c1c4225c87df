package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/web"
	"github.com/opencarbon/opencarbon/webhook"
)

var (
	rwComps = []store.Component{partner.Migrations, account.Migrations, ledger.Migrations, webhook.Migrations, reward.Migrations}
	rwKey   = []byte("reward-routes-person-key-0123456789")
	rwAdmin = "reward-routes-admin-token"
)

// rwEnv is a running server with partners eleme and cainiao, accounts,
// the ledger, rewards and webhook delivery.
type rwEnv struct {
	t        testing.TB
	db       *store.DB
	url      string
	secrets  map[string]string
	accounts *account.Service
	ledger   *ledger.Service
	hooks    *webhook.Deliverer
	grants   int
}

func newRwEnv(t testing.TB, db *store.DB) *rwEnv {
	t.Helper()
	ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &rwEnv{t: t, db: db, secrets: map[string]string{}, accounts: account.NewService(db), ledger: ledger.NewService(db, 0)}
	for _, id := range []string{"eleme", "cainiao"} {
		if e.secrets[id], err = ps.Register(context.Background(), partner.Registration{ID: id, Name: id, Scopes: partner.AllScopes}); err != nil {
			t.Fatal(err)
		}
	}
	if e.secrets["xianyu"], err = ps.Register(context.Background(), partner.Registration{ID: "xianyu", Name: "xianyu", Scopes: []string{partner.ScopeEventsWrite}}); err != nil {
		t.Fatal(err)
	}
	e.hooks = webhook.NewDeliverer(db, ps)
	srv := &web.Server{DB: db, PersonTokenKey: rwKey, AdminToken: rwAdmin, Partners: ps, PartnerRegistry: ps,
		Accounts: e.accounts, Rewards: reward.NewService(db, e.accounts), Webhooks: e.hooks}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

// open opens person's account (eleme and cainiao linked) and grants
// points to its eleme sub-account.
func (e *rwEnv) open(person string, points int64) {
	e.t.Helper()
	ctx := context.Background()
	if _, _, err := e.accounts.Open(ctx, person, account.OpenRequest{EntryPoint: "search", ConsentVersion: "2026-01", Partners: []string{"eleme", "cainiao"}}); err != nil {
		e.t.Fatal(err)
	}
	e.grants++
	ref := fmt.Sprintf("grant:%s:%d", person, e.grants)
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		a, s, err := account.ResolveTx(ctx, tx, person, "eleme")
		if err != nil {
			return err
		}
		_, err = ledger.GrantTx(ctx, tx, ledger.Grant{Parent: a, Sub: s, Points: points, Ref: ref})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *rwEnv) balance(person string) int64 {
	e.t.Helper()
	id, err := e.accounts.AccountID(context.Background(), person)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := e.ledger.Balance(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return b.Points
}

// rwAuth says how a request is authenticated.
type rwAuth struct {
	bearer  string // admin token or person id (minted)
	person  bool
	partner string // sign as this partner
}

func rwAsAdmin() rwAuth                { return rwAuth{bearer: rwAdmin} }
func rwAs(person string) rwAuth        { return rwAuth{bearer: person, person: true} }
func rwSigned(partnerID string) rwAuth { return rwAuth{partner: partnerID} }

// do sends a request and returns the status and the decoded JSON object.
func (e *rwEnv) do(method, path string, a rwAuth, body string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader([]byte(body)))
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case a.person:
		tok, err := web.MintPersonToken(rwKey, a.bearer, time.Hour)
		if err != nil {
			e.t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	case a.bearer != "":
		req.Header.Set("Authorization", "Bearer "+a.bearer)
	case a.partner != "":
		partner.SignRequest(req, a.partner, e.secrets[a.partner], []byte(body))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, b)
	}
	return res.StatusCode, out
}

func rwCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

func TestRewardRoutes(t *testing.T) {
	storetest.Each(t, rwComps, func(t *testing.T, db *store.DB) {
		e := newRwEnv(t, db)
		e.open("p1", 500)

		st, b := e.do("POST", "/v1/admin/merchants", rwAsAdmin(), `{"id":"refill","name":"Refill Coffee","partner":"eleme"}`)
		if st != 201 || b["partner"] != "eleme" {
			t.Fatalf("admin merchant = %d %v", st, b)
		}
		st, b = e.do("POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"discount","merchant":"refill","title":"¥5 off","points":60,"stock":10,"per_person_limit":2}`)
		coffee := num(b["id"])
		if st != 201 || b["partner"] != "eleme" || num(b["stock"]) != 10 || b["spends"] != "parent" {
			t.Fatalf("admin offer = %d %v", st, b)
		}
		st, b = e.do("POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"donation","title":"Trees","project":"Saxaul planting","points":100,"amount_fen":88,"budget_fen":100}`)
		trees := num(b["id"])
		if st != 201 || b["stock"] != nil || b["budget_exhausted"] == true {
			t.Fatalf("admin donation = %d %v", st, b)
		}
		st, b = e.do("POST", "/v1/partner/offers", rwSigned("eleme"), `{"kind":"mall","title":"No-cutlery coupon","points":30,"stock":5,"valid_until":"2099-01-01T00:00:00Z"}`)
		mall := num(b["id"])
		if st != 201 || b["partner"] != "eleme" || b["spends"] != "sub:eleme" || b["created_by"] != "partner:eleme" {
			t.Fatalf("partner offer = %d %v", st, b)
		}
		if st, b := e.do("POST", "/v1/partner/merchants", rwSigned("cainiao"), `{"id":"bookshop","name":"Books"}`); st != 201 || b["partner"] != "cainiao" {
			t.Fatalf("partner merchant = %d %v", st, b)
		}

		st, b = e.do("GET", "/v1/offers", rwAuth{}, "")
		if offers, _ := b["offers"].([]any); st != 200 || len(offers) != 3 {
			t.Fatalf("offers = %d %v", st, b)
		}
		st, b = e.do("GET", "/v1/partner/offers", rwSigned("eleme"), "")
		if offers, _ := b["offers"].([]any); st != 200 || len(offers) != 2 {
			t.Fatalf("partner offers = %d %v; want its discount and mall item", st, b)
		}

		st, b = e.do("POST", "/v1/me/redemptions", rwAs("p1"), fmt.Sprintf(`{"offer_id":%d,"idempotency_key":"r1"}`, coffee))
		code, _ := b["code"].(string)
		if st != 201 || len(code) != 24 || b["status"] != "issued" {
			t.Fatalf("redeem = %d %v", st, b)
		}
		if st, b := e.do("POST", "/v1/me/redemptions", rwAs("p1"), fmt.Sprintf(`{"offer_id":%d,"idempotency_key":"r1"}`, coffee)); st != 200 || b["code"] != code || b["replayed"] != true {
			t.Fatalf("replay = %d %v", st, b)
		}
		st, b = e.do("POST", "/v1/me/donations", rwAs("p1"), fmt.Sprintf(`{"offer_id":%d,"idempotency_key":"d1"}`, trees))
		if st != 201 || num(b["amount_fen"]) != 88 || b["project"] != "Saxaul planting" || b["status"] != "paid" {
			t.Fatalf("donate = %d %v", st, b)
		}
		if st, b := e.do("POST", "/v1/me/donations", rwAs("p1"), fmt.Sprintf(`{"offer_id":%d,"idempotency_key":"d2"}`, trees)); st != 409 || rwCode(b) != "budget_exhausted" {
			t.Fatalf("donate without budget = %d %v", st, b)
		}
		if st, b := e.do("POST", fmt.Sprintf("/v1/admin/offers/%d/budget", trees), rwAsAdmin(), `{"amount_fen":1000}`); st != 200 || num(b["budget_fen"]) != 1012 {
			t.Fatalf("top up = %d %v", st, b)
		}
		if got := e.balance("p1"); got != 500-60-100 {
			t.Fatalf("balance = %d", got)
		}
		st, b = e.do("GET", "/v1/me/vouchers", rwAs("p1"), "")
		if vs, _ := b["vouchers"].([]any); st != 200 || len(vs) != 2 {
			t.Fatalf("vouchers = %d %v", st, b)
		}

		if st, b := e.do("GET", "/v1/partner/vouchers/"+code, rwSigned("eleme"), ""); st != 200 || b["status"] != "issued" || b["person"] != nil {
			t.Fatalf("check = %d %v", st, b)
		}
		if st, b := e.do("GET", "/v1/partner/vouchers/"+code, rwSigned("cainiao"), ""); st != 404 || rwCode(b) != "not_found" {
			t.Fatalf("check by another partner = %d %v", st, b)
		}
		if st, b := e.do("POST", "/v1/partner/vouchers/"+code+"/redeem", rwSigned("eleme"), ""); st != 200 || b["status"] != "used" {
			t.Fatalf("use = %d %v", st, b)
		}
		if st, b := e.do("POST", "/v1/partner/vouchers/"+code+"/redeem", rwSigned("eleme"), ""); st != 409 || rwCode(b) != "voucher_used" {
			t.Fatalf("use twice = %d %v", st, b)
		}
		if st, b := e.do("POST", "/v1/me/vouchers/"+code+"/cancel", rwAs("p1"), ""); st != 409 || rwCode(b) != "voucher_used" {
			t.Fatalf("cancel used = %d %v", st, b)
		}
		st, b = e.do("POST", "/v1/me/redemptions", rwAs("p1"), fmt.Sprintf(`{"offer_id":%d,"idempotency_key":"m1"}`, mall))
		mallCode, _ := b["code"].(string)
		if st != 201 {
			t.Fatalf("redeem mall = %d %v", st, b)
		}
		if st, b := e.do("POST", "/v1/me/vouchers/"+mallCode+"/cancel", rwAs("p1"), ""); st != 200 || b["status"] != "cancelled" {
			t.Fatalf("cancel = %d %v", st, b)
		}
		if got := e.balance("p1"); got != 340 {
			t.Fatalf("balance after cancel = %d; want 340", got)
		}
	})
}

func TestRewardRoutesRefusals(t *testing.T) {
	storetest.Each(t, rwComps, func(t *testing.T, db *store.DB) {
		e := newRwEnv(t, db)
		e.open("p1", 50)
		e.do("POST", "/v1/admin/merchants", rwAsAdmin(), `{"id":"refill","name":"Refill"}`)
		_, b := e.do("POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"discount","merchant":"refill","title":"X","points":60}`)
		offer := num(b["id"])
		redeem := fmt.Sprintf(`{"offer_id":%d,"idempotency_key":"k"}`, offer)
		tests := []struct {
			name         string
			method, path string
			auth         rwAuth
			body         string
			status       int
			code         string
		}{
			{"ErrNoToken", "POST", "/v1/me/redemptions", rwAuth{}, redeem, 401, "missing_auth"},
			{"ErrAdminTokenIsNotPerson", "POST", "/v1/me/redemptions", rwAsAdmin(), redeem, 401, "invalid_token"},
			{"ErrNoConsent", "POST", "/v1/me/redemptions", rwAs("stranger"), redeem, 403, "no_consent"},
			{"ErrUnknownField", "POST", "/v1/me/redemptions", rwAs("p1"), `{"offer_id":1,"idempotency_key":"k","points":0}`, 400, "invalid"},
			{"ErrWrongType", "POST", "/v1/me/redemptions", rwAs("p1"), `{"offer_id":"1","idempotency_key":"k"}`, 400, "invalid"},
			{"ErrNoOffer", "POST", "/v1/me/redemptions", rwAs("p1"), `{"idempotency_key":"k"}`, 400, "invalid"},
			{"ErrNoKey", "POST", "/v1/me/redemptions", rwAs("p1"), fmt.Sprintf(`{"offer_id":%d}`, offer), 400, "invalid"},
			{"ErrInsufficientPoints", "POST", "/v1/me/redemptions", rwAs("p1"), redeem, 409, "insufficient_points"},
			{"ErrUnknownOffer", "POST", "/v1/me/redemptions", rwAs("p1"), `{"offer_id":999,"idempotency_key":"k"}`, 404, "not_found"},
			{"ErrDonateDiscount", "POST", "/v1/me/donations", rwAs("p1"), redeem, 400, "invalid"},
			{"ErrCancelUnknown", "POST", "/v1/me/vouchers/NOTACODE/cancel", rwAs("p1"), "", 404, "not_found"},
			{"ErrVouchersBadLimit", "GET", "/v1/me/vouchers?limit=0", rwAs("p1"), "", 400, "invalid"},
			{"ErrOffersUnknownKind", "GET", "/v1/offers?kind=lottery", rwAuth{}, "", 400, "invalid"},
			{"ErrAdminNoToken", "POST", "/v1/admin/offers", rwAuth{}, `{"kind":"mall","partner":"eleme","title":"X","points":1}`, 401, "missing_auth"},
			{"ErrAdminPersonToken", "POST", "/v1/admin/merchants", rwAs("p1"), `{"id":"x1","name":"X"}`, 401, "unauthorized"},
			{"ErrBadKind", "POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"lottery","title":"X","points":1}`, 400, "invalid"},
			{"ErrZeroPoints", "POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"mall","partner":"eleme","title":"X","points":0}`, 400, "invalid"},
			{"ErrNegativeStock", "POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"mall","partner":"eleme","title":"X","points":1,"stock":-1}`, 400, "invalid"},
			{"ErrWindowBackwards", "POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"mall","partner":"eleme","title":"X","points":1,"valid_from":"2030-01-01T00:00:00Z","valid_until":"2029-01-01T00:00:00Z"}`, 400, "invalid"},
			{"ErrBadTime", "POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"mall","partner":"eleme","title":"X","points":1,"valid_until":"tomorrow"}`, 400, "invalid"},
			{"ErrDonationWithoutProject", "POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"donation","title":"X","points":1,"amount_fen":5}`, 400, "invalid"},
			{"ErrMallOfUnknownPartner", "POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"mall","partner":"nobody","title":"X","points":1}`, 400, "invalid"},
			{"ErrDuplicateMerchant", "POST", "/v1/admin/merchants", rwAsAdmin(), `{"id":"refill","name":"Again"}`, 409, "conflict"},
			{"ErrBadMerchantID", "POST", "/v1/admin/merchants", rwAsAdmin(), `{"id":"Re Fill","name":"X"}`, 400, "invalid"},
			{"ErrBudgetNotDonation", "POST", fmt.Sprintf("/v1/admin/offers/%d/budget", offer), rwAsAdmin(), `{"amount_fen":100}`, 400, "invalid"},
			{"ErrBudgetUnknownOffer", "POST", "/v1/admin/offers/abc/budget", rwAsAdmin(), `{"amount_fen":100}`, 404, "not_found"},
			{"ErrBudgetZero", "POST", "/v1/admin/offers/1/budget", rwAsAdmin(), `{"amount_fen":0}`, 400, "invalid"},
			{"ErrPartnerUnsigned", "POST", "/v1/partner/offers", rwAuth{}, `{"kind":"mall","title":"X","points":1}`, 401, "missing_auth"},
			{"ErrPartnerWithoutScope", "POST", "/v1/partner/offers", rwSigned("xianyu"), `{"kind":"mall","title":"X","points":1}`, 403, "missing_scope"},
			{"ErrPartnerDonation", "POST", "/v1/partner/offers", rwSigned("eleme"), `{"kind":"donation","title":"X","project":"P","points":1,"amount_fen":5}`, 403, "forbidden"},
			{"ErrPartnerOtherMall", "POST", "/v1/partner/offers", rwSigned("eleme"), `{"kind":"mall","partner":"cainiao","title":"X","points":1}`, 403, "forbidden"},
			{"ErrPartnerOthersMerchant", "POST", "/v1/partner/offers", rwSigned("cainiao"), `{"kind":"discount","merchant":"refill","title":"X","points":1}`, 403, "forbidden"},
			{"ErrPartnerMerchantForOther", "POST", "/v1/partner/merchants", rwSigned("cainiao"), `{"id":"m2","name":"X","partner":"eleme"}`, 403, "forbidden"},
			{"ErrPartnerVoucherUnknown", "GET", "/v1/partner/vouchers/AAAAAAAAAAAAAAAAAAAAAAAA", rwSigned("eleme"), "", 404, "not_found"},
			{"ErrPartnerRedeemUnknown", "POST", "/v1/partner/vouchers/zz/redeem", rwSigned("eleme"), "", 404, "not_found"},
		}
		before := e.balance("p1")
		var offers, vouchers int64
		db.Read().QueryRow(`SELECT COUNT(*) FROM reward_offers`).Scan(&offers)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				st, b := e.do(tc.method, tc.path, tc.auth, tc.body)
				if st != tc.status || rwCode(b) != tc.code {
					t.Fatalf("= %d %v; want %d %s", st, b, tc.status, tc.code)
				}
				var o int64
				db.Read().QueryRow(`SELECT COUNT(*) FROM reward_offers`).Scan(&o)
				db.Read().QueryRow(`SELECT COUNT(*) FROM reward_vouchers`).Scan(&vouchers)
				if o != offers || vouchers != 0 || e.balance("p1") != before {
					t.Fatalf("refused call changed data: offers %d→%d, vouchers %d, points %d→%d", offers, o, vouchers, before, e.balance("p1"))
				}
			})
		}
	})
}

// TestRedeemOverHTTPConcurrently sends a slice of the load through the
// real HTTP stack: 300 concurrent redemptions from 30 people against a
// stock of 40, each person able to afford two.
func TestRedeemOverHTTPConcurrently(t *testing.T) {
	storetest.Each(t, rwComps, func(t *testing.T, db *store.DB) {
		const people, requests, stockN = 30, 300, 40
		e := newRwEnv(t, db)
		for i := range people {
			e.open(fmt.Sprintf("h%02d", i), 25)
		}
		_, b := e.do("POST", "/v1/partner/offers", rwSigned("eleme"), `{"kind":"mall","title":"Hot","points":10,"stock":40}`)
		offer := num(b["id"])
		var mu sync.Mutex
		codes := map[string]bool{}
		byStatus := map[string]int{}
		var wg sync.WaitGroup
		for i := range requests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, b := e.do("POST", "/v1/me/redemptions", rwAs(fmt.Sprintf("h%02d", i%people)), fmt.Sprintf(`{"offer_id":%d,"idempotency_key":"k%d"}`, offer, i/people))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case st == 201:
					c, _ := b["code"].(string)
					if codes[c] {
						t.Errorf("duplicate code %s", c)
					}
					codes[c] = true
				case st == 409 && (rwCode(b) == "insufficient_points" || rwCode(b) == "out_of_stock"):
					byStatus[rwCode(b)]++
				default:
					t.Errorf("unclear answer %d %v", st, b)
				}
			}()
		}
		wg.Wait()
		var spent int64
		for i := range people {
			spent += 25 - e.balance(fmt.Sprintf("h%02d", i))
		}
		if len(codes) != stockN || spent != stockN*10 || byStatus["out_of_stock"] == 0 {
			t.Fatalf("%d vouchers, %d points spent, refusals %v; want %d vouchers for %d points", len(codes), spent, byStatus, stockN, stockN*10)
		}
		if ms, err := e.ledger.Check(context.Background()); err != nil || len(ms) != 0 {
			t.Fatalf("ledger check = %v, %v", ms, err)
		}
	})
}
