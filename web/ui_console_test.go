package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/web/webtest"
)

func TestUIConsole(t *testing.T) {
	env := webtest.New(t, true)
	admin := newBrowser(t, env.URL)
	tok := admin.csrf("/console/signin")
	if code, _, _ := admin.post("/console/signin", url.Values{"csrf": {tok}, "token": {webtest.AdminToken}}); code != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", code)
	}
	t.Run("ErrBadToken", func(t *testing.T) {
		anon := newBrowser(t, env.URL)
		tok := anon.csrf("/console/signin")
		if code, _, _ := anon.post("/console/signin", url.Values{"csrf": {tok}, "token": {"wrong"}}); code != http.StatusUnauthorized {
			t.Fatalf("got %d", code)
		}
		if code, loc, _ := anon.get("/console/partners"); code != http.StatusSeeOther || loc != "/console/signin" {
			t.Fatalf("console open without sign-in: %d", code)
		}
	})
	t.Run("RegisterShowsSecretOnce", func(t *testing.T) {
		tok := admin.csrf("/console/partners")
		code, _, body := admin.post("/console/partners", url.Values{"csrf": {tok}, "id": {"newapp"}, "name": {"<b>New</b> App"}, "scope": {"events:write"}})
		if code != http.StatusCreated || !strings.Contains(body, `data-testid="secret"`) || !strings.Contains(body, "&lt;b&gt;New&lt;/b&gt; App") {
			t.Fatalf("got %d", code)
		}
		_, _, again := admin.get("/console/partners")
		if strings.Contains(again, `data-testid="secret"`) {
			t.Fatal("secret shown again")
		}
	})
	t.Run("RotateShowsNewSecret", func(t *testing.T) {
		tok := admin.csrf("/console/partners")
		code, _, body := admin.post("/console/partners/tmall/rotate", url.Values{"csrf": {tok}})
		if code != http.StatusOK || !strings.Contains(body, `data-testid="secret"`) {
			t.Fatalf("got %d", code)
		}
	})
	t.Run("TopUpBudget", func(t *testing.T) {
		offers, err := env.Rewards.Offers(t.Context(), reward.OfferFilter{Kind: reward.KindDonation})
		if err != nil || len(offers) == 0 {
			t.Fatalf("no donation offer: %v", err)
		}
		o := offers[0]
		tok := admin.csrf("/console/offers")
		if code, _, _ := admin.post("/console/offers/"+strconv.FormatInt(o.ID, 10)+"/topup", url.Values{"csrf": {tok}, "yuan": {"10.5"}}); code != http.StatusSeeOther {
			t.Fatalf("top up: %d", code)
		}
		after, err := env.Rewards.Offer(t.Context(), o.ID)
		if err != nil || after.BudgetFen != o.BudgetFen+1050 {
			t.Fatalf("budget %d → %d", o.BudgetFen, after.BudgetFen)
		}
	})
	t.Run("DashboardCountsCredits", func(t *testing.T) {
		for i := range 2 {
			if code, body := env.NoCutlery(t, "dash-"+strconv.Itoa(i), "demo-xiaoming"); code != http.StatusOK {
				t.Fatalf("event: %d %s", code, body)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, _, body := admin.get("/console")
			if strings.Contains(body, `<code>eleme.no_cutlery</code></td><td class="n">2</td>`) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the dashboard does not count the two credits")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("DeadLettersPage", func(t *testing.T) {
		if code, _, body := admin.get("/console/deadletters"); code != http.StatusOK || !strings.Contains(body, "<table>") {
			t.Fatalf("got %d", code)
		}
	})
	t.Run("ReviewerSeesOnlyMethodologies", func(t *testing.T) {
		_, tk, err := env.Methodologies.CreateReviewer(t.Context(), "console-rv", "Reviewer", []string{"reviewer"})
		if err != nil {
			t.Fatal(err)
		}
		rv := newBrowser(t, env.URL)
		tok := rv.csrf("/console/signin")
		if code, loc, _ := rv.post("/console/signin", url.Values{"csrf": {tok}, "token": {tk}}); code != http.StatusSeeOther || loc != "/console/methodologies" {
			t.Fatalf("reviewer sign-in: %d %q", code, loc)
		}
		if code, _, _ := rv.get("/console/partners"); code != http.StatusForbidden {
			t.Fatalf("reviewer sees partners: %d", code)
		}
		if code, _, _ := rv.get("/console/methodologies/eleme.no_cutlery/1.0.0"); code != http.StatusOK {
			t.Fatalf("reviewer cannot see a methodology: %d", code)
		}
		tok = rv.csrf("/console/methodologies/eleme.no_cutlery/1.0.0")
		code, _, _ := rv.post("/console/methodologies/eleme.no_cutlery/1.0.0/suspend", url.Values{"csrf": {tok}})
		if code != http.StatusBadRequest {
			t.Fatalf("suspend without a comment: %d", code)
		}
	})
}
