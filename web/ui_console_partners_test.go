package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/web/webtest"
)

// TestUIConsolePartnerStatus suspends, reinstates and rescopes a partner
// from the console and checks the partner's signed requests follow at
// once, the page shows the status with who and why, and refused forms
// change nothing.
func TestUIConsolePartnerStatus(t *testing.T) {
	env := webtest.New(t, true)
	admin := newBrowser(t, env.URL)
	tok := admin.csrf("/console/signin")
	if code, _, _ := admin.post("/console/signin", url.Values{"csrf": {tok}, "token": {webtest.AdminToken}}); code != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", code)
	}
	admin.get("/lang/en")
	unchanged := func(t *testing.T) {
		t.Helper()
		p, err := env.Partners.Get(t.Context(), "eleme")
		if err != nil || p.Status != partner.StatusActive || !slices.Equal(p.Scopes, partner.AllScopes) {
			t.Fatalf("refused form changed eleme: %+v %v", p, err)
		}
	}
	t.Run("PageOffersTheForms", func(t *testing.T) {
		code, _, body := admin.get("/console/partners")
		for _, want := range []string{`action="/console/partners/eleme/suspend"`, `action="/console/partners/eleme/scopes"`, `id="ps-eleme-events:write" name="scope" value="events:write" checked`, `data-testid="status-eleme">Active`} {
			if code != http.StatusOK || !strings.Contains(body, want) {
				t.Fatalf("%d: page lacks %s", code, want)
			}
		}
	})
	refusals := []struct {
		name, path string
		form       url.Values
		status     int
	}{
		{"ErrSuspendWithoutReason", "/console/partners/eleme/suspend", url.Values{"reason": {"  "}}, http.StatusBadRequest},
		{"ErrSuspendUnknownPartner", "/console/partners/nobody/suspend", url.Values{"reason": {"x"}}, http.StatusNotFound},
		{"ErrReinstateActive", "/console/partners/eleme/reinstate", url.Values{}, http.StatusConflict},
		{"ErrNoScope", "/console/partners/eleme/scopes", url.Values{}, http.StatusBadRequest},
		{"ErrUnknownScope", "/console/partners/eleme/scopes", url.Values{"scope": {"events:write", "root"}}, http.StatusBadRequest},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("csrf", admin.csrf("/console/partners"))
			if code, _, _ := admin.post(tc.path, tc.form); code != tc.status {
				t.Fatalf("got %d, want %d", code, tc.status)
			}
			unchanged(t)
		})
	}
	t.Run("ErrWithoutCSRF", func(t *testing.T) {
		if code, _, _ := admin.post("/console/partners/eleme/suspend", url.Values{"reason": {"x"}}); code == http.StatusSeeOther || code == http.StatusOK {
			t.Fatalf("suspended without a CSRF token: %d", code)
		}
		unchanged(t)
	})
	t.Run("SuspendAndReinstate", func(t *testing.T) {
		tok := admin.csrf("/console/partners")
		code, loc, _ := admin.post("/console/partners/eleme/suspend", url.Values{"csrf": {tok}, "reason": {"<script>x</script> chargebacks"}})
		if code != http.StatusSeeOther || loc != "/console/partners?done=flash.partner_suspended" {
			t.Fatalf("suspend: %d %q", code, loc)
		}
		if code, body := env.NoCutlery(t, "cs-1", "demo-xiaoming"); code != http.StatusForbidden || !strings.Contains(body, `"partner_suspended"`) {
			t.Fatalf("event of a suspended partner: %d %s", code, body)
		}
		_, _, page := admin.get(loc)
		if !strings.Contains(page, `data-testid="status-eleme"><span class="fail">Suspended</span>`) || !strings.Contains(page, "console:admin") ||
			!strings.Contains(page, "&lt;script&gt;x&lt;/script&gt; chargebacks") || !strings.Contains(page, `action="/console/partners/eleme/reinstate"`) {
			t.Fatal("the page does not show the suspension with who and why")
		}
		checkAccessible(t, page)
		tok = admin.csrf("/console/partners")
		if code, loc, _ := admin.post("/console/partners/eleme/reinstate", url.Values{"csrf": {tok}}); code != http.StatusSeeOther || loc != "/console/partners?done=flash.partner_reinstated" {
			t.Fatalf("reinstate: %d %q", code, loc)
		}
		if code, body := env.NoCutlery(t, "cs-1", "demo-xiaoming"); code != http.StatusOK || !strings.Contains(body, `"credited"`) {
			t.Fatalf("event after reinstatement: %d %s", code, body)
		}
	})
	t.Run("ChangeScopes", func(t *testing.T) {
		tok := admin.csrf("/console/partners")
		if code, loc, _ := admin.post("/console/partners/eleme/scopes", url.Values{"csrf": {tok}, "scope": {"webhooks", "events:reverse"}}); code != http.StatusSeeOther || loc != "/console/partners?done=flash.partner_scopes" {
			t.Fatalf("scopes: %d %q", code, loc)
		}
		if code, body := env.NoCutlery(t, "cs-2", "demo-xiaoming"); code != http.StatusForbidden || !strings.Contains(body, `"missing_scope"`) {
			t.Fatalf("event without events:write: %d %s", code, body)
		}
		_, _, page := admin.get("/console/partners")
		if strings.Contains(page, `id="ps-eleme-events:write" name="scope" value="events:write" checked`) || !strings.Contains(page, `id="ps-eleme-webhooks" name="scope" value="webhooks" checked`) {
			t.Fatal("the form does not show the new scopes")
		}
		tok = admin.csrf("/console/partners")
		if code, _, _ := admin.post("/console/partners/eleme/scopes", url.Values{"csrf": {tok}, "scope": partner.AllScopes}); code != http.StatusSeeOther {
			t.Fatalf("restore scopes: %d", code)
		}
		if code, body := env.NoCutlery(t, "cs-2", "demo-xiaoming"); code != http.StatusOK {
			t.Fatalf("event after restoring events:write: %d %s", code, body)
		}
		ch, err := env.Partners.Changes(t.Context(), "eleme")
		if err != nil || len(ch) != 4 || ch[0].Actor != "console:admin" || ch[0].Detail != "<script>x</script> chargebacks" {
			t.Fatalf("trail = %+v %v", ch, err)
		}
	})
	t.Run("ReviewerCannotSuspend", func(t *testing.T) {
		_, tk, err := env.Methodologies.CreateReviewer(t.Context(), "console-rv2", "Reviewer", []string{"reviewer"})
		if err != nil {
			t.Fatal(err)
		}
		rv := newBrowser(t, env.URL)
		tok := rv.csrf("/console/signin")
		if code, _, _ := rv.post("/console/signin", url.Values{"csrf": {tok}, "token": {tk}}); code != http.StatusSeeOther {
			t.Fatalf("reviewer sign-in: %d", code)
		}
		tok = rv.csrf("/console/methodologies")
		if code, _, _ := rv.post("/console/partners/eleme/suspend", url.Values{"csrf": {tok}, "reason": {"x"}}); code != http.StatusForbidden {
			t.Fatalf("reviewer suspends: %d", code)
		}
		unchanged(t)
	})
}
