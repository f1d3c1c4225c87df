package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/web"
	"github.com/opencarbon/opencarbon/web/webtest"
)

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see where each answer sends them.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
}

func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get returns status, Location and body of GET path.
func (b *browser) get(path string) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// post submits form to path; csrf "" means take it from page from.
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf reads the CSRF token of the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, _, body := b.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no csrf token on %s", path)
	}
	return m[1]
}

// signIn signs in as person with a host-platform token.
func (b *browser) signIn(env *webtest.Env, person string) {
	b.t.Helper()
	tok := b.csrf("/signin")
	code, loc, _ := b.post("/signin", url.Values{"csrf": {tok}, "token": {env.Token(b.t, person)}, "next": {"/"}})
	if code != http.StatusSeeOther || loc != "/" {
		b.t.Fatalf("sign in: %d %q", code, loc)
	}
}

func TestUIOpeningFlow(t *testing.T) {
	env := webtest.New(t, false)
	b := newBrowser(t, env.URL)
	t.Run("RedirectsToSignIn", func(t *testing.T) {
		code, loc, _ := b.get("/")
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
			t.Fatalf("got %d %q", code, loc)
		}
	})
	t.Run("ErrBadToken", func(t *testing.T) {
		tok := b.csrf("/signin")
		code, _, body := b.post("/signin", url.Values{"csrf": {tok}, "token": {"not.a.token"}})
		if code != http.StatusUnauthorized || !strings.Contains(body, "令牌无效") {
			t.Fatalf("got %d", code)
		}
	})
	b.signIn(env, "new-person-1")
	t.Run("NothingYoursBeforeConsent", func(t *testing.T) {
		for _, p := range []string{"/", "/privacy", "/history", "/footprint"} {
			code, loc, _ := b.get(p)
			if code != http.StatusSeeOther || loc != "/welcome" {
				t.Fatalf("%s: got %d %q", p, code, loc)
			}
		}
	})
	t.Run("ErrCSRF", func(t *testing.T) {
		code, _, _ := b.post("/welcome", url.Values{"agree": {"yes"}, "consent_version": {"2026-01"}, "entry_point": {"search"}})
		if code != http.StatusForbidden {
			t.Fatalf("got %d", code)
		}
		if _, err := env.Accounts.Get(t.Context(), "new-person-1"); err == nil {
			t.Fatal("account opened without a CSRF token")
		}
	})
	t.Run("Accessible", func(t *testing.T) {
		_, _, page := b.get("/welcome?from=search")
		checkAccessible(t, page)
		anon := newBrowser(t, env.URL)
		for _, p := range []string{"/signin", "/console/signin"} {
			_, _, page := anon.get(p)
			checkAccessible(t, page)
		}
	})
	t.Run("NoPartnerPreTicked", func(t *testing.T) {
		_, _, page := b.get("/welcome?from=search")
		if strings.Contains(page, `name="partner" value="eleme" checked`) {
			t.Fatal("a partner is ticked for the person")
		}
		_, _, page = b.get("/welcome?from=partner:eleme")
		if !strings.Contains(page, `name="partner" value="eleme" checked`) || strings.Contains(page, `value="cainiao" checked`) {
			t.Fatal("the partner the person came from is not the one ticked")
		}
	})
	t.Run("OK", func(t *testing.T) {
		_, _, page := b.get("/welcome?from=search")
		if !strings.Contains(page, `value="search"`) || !strings.Contains(page, "2026-01") {
			t.Fatal("welcome page lacks entry point or consent version")
		}
		tok := csrfRE.FindStringSubmatch(page)[1]
		code, loc, _ := b.post("/welcome", url.Values{"csrf": {tok}, "agree": {"yes"}, "consent_version": {"2026-01"}, "entry_point": {"search"}, "partner": {"eleme", "cainiao"}})
		if code != http.StatusSeeOther || loc != "/" {
			t.Fatalf("got %d %q", code, loc)
		}
		a, err := env.Accounts.Get(t.Context(), "new-person-1")
		if err != nil || a.EntryPoint != "search" || len(a.Subaccounts) != 2 {
			t.Fatalf("account %+v, %v", a, err)
		}
	})
	t.Run("RevokeFromPrivacy", func(t *testing.T) {
		tok := b.csrf("/privacy")
		code, _, _ := b.post("/privacy/partners/eleme/revoke", url.Values{"csrf": {tok}})
		if code != http.StatusSeeOther {
			t.Fatalf("got %d", code)
		}
		a, _ := env.Accounts.Get(t.Context(), "new-person-1")
		for _, sa := range a.Subaccounts {
			if sa.Partner == "eleme" && sa.Linked {
				t.Fatal("eleme still linked")
			}
		}
	})
	t.Run("Export", func(t *testing.T) {
		code, _, body := b.get("/privacy/export")
		if code != http.StatusOK || !strings.Contains(body, `"person": "new-person-1"`) {
			t.Fatalf("got %d %s", code, body)
		}
	})
	t.Run("EraseNeedsConfirmation", func(t *testing.T) {
		tok := b.csrf("/privacy/erase")
		code, _, _ := b.post("/privacy/erase", url.Values{"csrf": {tok}, "confirm": {"nope"}})
		if code != http.StatusBadRequest {
			t.Fatalf("got %d", code)
		}
		if _, err := env.Accounts.Get(t.Context(), "new-person-1"); err != nil {
			t.Fatal("erased without confirmation")
		}
		code, _, _ = b.post("/privacy/erase", url.Values{"csrf": {tok}, "confirm": {"注销"}})
		if code != http.StatusOK {
			t.Fatalf("got %d", code)
		}
		if _, err := env.Accounts.Get(t.Context(), "new-person-1"); err == nil {
			t.Fatal("not erased")
		}
	})
}

func TestUISecurity(t *testing.T) {
	env := webtest.New(t, true)
	b := newBrowser(t, env.URL)
	b.signIn(env, "demo-lihua")
	t.Run("Headers", func(t *testing.T) {
		resp, err := b.c.Get(env.URL + "/privacy")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("CSP %q", csp)
		}
		var sess *http.Cookie
		for _, c := range b.c.Jar.Cookies(resp.Request.URL) {
			if c.Name == "oc_session" {
				sess = c
			}
		}
		if sess == nil {
			t.Fatal("no session cookie")
		}
	})
	t.Run("EscapesPartnerName", func(t *testing.T) {
		for _, p := range []string{"/privacy"} {
			_, _, body := b.get(p)
			if strings.Contains(body, `<script>alert`) || !strings.Contains(body, "&lt;script&gt;alert") {
				t.Fatalf("%s does not escape the partner name", p)
			}
		}
	})
	t.Run("EscapesPersonID", func(t *testing.T) {
		evil := newBrowser(t, env.URL)
		evil.signIn(env, `<script>alert(1)</script>`)
		_, _, body := evil.get("/welcome")
		if strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Fatal("the person id is not escaped")
		}
	})
	t.Run("ErrTamperedSession", func(t *testing.T) {
		u, _ := url.Parse(env.URL)
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == "oc_session" {
				c.Value = strings.Replace(c.Value, "demo-", "demo_", 1)
				forged := newBrowser(t, env.URL)
				forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: "oc_session", Value: c.Value[:len(c.Value)-2] + "AA"}})
				code, loc, _ := forged.get("/")
				if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
					t.Fatalf("forged session accepted: %d %q", code, loc)
				}
			}
		}
	})
	t.Run("ErrCSRFFromOtherSession", func(t *testing.T) {
		other := newBrowser(t, env.URL)
		other.signIn(env, "demo-xiaoming")
		foreign := other.csrf("/privacy")
		code, _, _ := b.post("/privacy/partners/eleme/revoke", url.Values{"csrf": {foreign}})
		if code != http.StatusForbidden {
			t.Fatalf("foreign CSRF token accepted: %d", code)
		}
	})
	t.Run("SessionWorksForJSONAPI", func(t *testing.T) {
		code, _, body := b.get("/v1/me/account")
		if code != http.StatusOK || !strings.Contains(body, "demo-lihua") {
			t.Fatalf("got %d %s", code, body)
		}
	})
	t.Run("ErrorPageHasRequestID", func(t *testing.T) {
		code, _, body := b.get("/lang/fr")
		if code != http.StatusNotFound || !regexp.MustCompile(`[0-9a-f]{16}`).MatchString(body) {
			t.Fatalf("got %d", code)
		}
	})
	t.Run("DemoPicker", func(t *testing.T) {
		anon := newBrowser(t, env.URL)
		_, _, page := anon.get("/signin")
		if !strings.Contains(page, "demo-wangfang") {
			t.Fatal("no demo picker")
		}
		tok := csrfRE.FindStringSubmatch(page)[1]
		code, loc, _ := anon.post("/signin", url.Values{"csrf": {tok}, "demo": {"demo-wangfang"}, "next": {"//evil.example/"}})
		if code != http.StatusSeeOther || loc != "/" {
			t.Fatalf("got %d %q", code, loc)
		}
	})
}

// TestUIPages renders every page in both languages for a person and an
// admin, checking status, lang attribute and that no catalog key leaked
// through untranslated.
func TestUIPages(t *testing.T) {
	env := webtest.New(t, true)
	p := newBrowser(t, env.URL)
	p.signIn(env, "demo-xiaoming")
	admin := newBrowser(t, env.URL)
	tok := admin.csrf("/console/signin")
	if code, _, _ := admin.post("/console/signin", url.Values{"csrf": {tok}, "token": {webtest.AdminToken}}); code != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", code)
	}
	keyRE := catalogKeyRE(t)
	for _, lang := range []string{"zh", "en"} {
		p.get("/lang/" + lang)
		admin.get("/lang/" + lang)
		for _, c := range []struct {
			b    *browser
			path string
		}{
			{p, "/"}, {p, "/footprint"}, {p, "/history"}, {p, "/rewards"}, {p, "/medals"}, {p, "/campaigns"}, {p, "/privacy"}, {p, "/privacy/erase"},
			{admin, "/console"}, {admin, "/console/partners"}, {admin, "/console/methodologies"}, {admin, "/console/factors"},
			{admin, "/console/offers"}, {admin, "/console/campaigns"}, {admin, "/console/deadletters"},
		} {
			t.Run(lang+c.path, func(t *testing.T) {
				code, _, body := c.b.get(c.path)
				if code != http.StatusOK {
					t.Fatalf("status %d", code)
				}
				want := map[string]string{"zh": `lang="zh-CN"`, "en": `lang="en"`}[lang]
				if !strings.Contains(body, want) {
					t.Fatalf("no %s", want)
				}
				if m := keyRE.FindString(body); m != "" {
					t.Fatalf("untranslated key %s", m)
				}
				checkAccessible(t, body)
			})
		}
	}
}

// TestUICatalogKeys checks every literal key a template passes to .T
// exists in every catalog.
func TestUICatalogKeys(t *testing.T) {
	files, _ := filepath.Glob("templates/*.html")
	keyRE := regexp.MustCompile(`\.T "([a-z0-9_.]+)"`)
	for _, lang := range []string{"zh", "en"} {
		b, err := os.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			src, _ := os.ReadFile(f)
			for _, m := range keyRE.FindAllStringSubmatch(string(src), -1) {
				if !strings.Contains(string(b), `"`+m[1]+`"`) {
					t.Errorf("%s: key %q missing from %s catalog", f, m[1], lang)
				}
			}
		}
	}
}

// catalogKeyRE matches text that looks like a catalog key (a known first
// segment, then dotted words): what .T shows for a missing key.
func catalogKeyRE(t *testing.T) *regexp.Regexp {
	b, err := os.ReadFile("i18n/en.json")
	if err != nil {
		t.Fatal(err)
	}
	var cat map[string]string
	if err := json.Unmarshal(b, &cat); err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]bool{}
	for k := range cat {
		prefixes[strings.SplitN(k, ".", 2)[0]] = true
	}
	var alt []string
	for p := range prefixes {
		alt = append(alt, regexp.QuoteMeta(p))
	}
	return regexp.MustCompile(`>\s*(` + strings.Join(alt, "|") + `)\.[a-z_.]+\s*<`)
}

func TestUICreditPages(t *testing.T) {
	env := webtest.New(t, true)
	b := newBrowser(t, env.URL)
	b.signIn(env, "demo-xiaoming")
	code, body := env.NoCutlery(t, "ui-ev-1", "demo-xiaoming")
	if code != http.StatusOK || !strings.Contains(body, `"credited"`) {
		t.Fatalf("event: %d %s", code, body)
	}
	t.Run("Footprint", func(t *testing.T) {
		_, _, page := b.get("/footprint")
		if !strings.Contains(page, "11.1 g") || !strings.Contains(page, "<svg class=\"chart\"") {
			t.Fatal("footprint lacks the credit or the chart")
		}
	})
	var calc string
	t.Run("History", func(t *testing.T) {
		_, _, page := b.get("/history")
		m := regexp.MustCompile(`href="/history/([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatal("no why link")
		}
		calc = m[1]
	})
	t.Run("Why", func(t *testing.T) {
		code, _, page := b.get("/history/" + calc)
		if code != http.StatusOK || !strings.Contains(page, "/registry/eleme.no_cutlery/") || !strings.Contains(page, `data-testid="factor-source"`) {
			t.Fatalf("why page: %d", code)
		}
	})
	t.Run("ErrWhyOfSomeoneElse", func(t *testing.T) {
		other := newBrowser(t, env.URL)
		other.signIn(env, "demo-lihua")
		code, _, _ := other.get("/history/" + calc)
		if code != http.StatusNotFound {
			t.Fatalf("got %d", code)
		}
	})
	t.Run("RegistryPage", func(t *testing.T) {
		code, _, page := b.get("/registry/eleme.no_cutlery/1.0.0")
		if code != http.StatusOK || !strings.Contains(page, "param-") {
			t.Fatalf("registry page: %d", code)
		}
	})
}

func TestUIRewards(t *testing.T) {
	env := webtest.New(t, true)
	b := newBrowser(t, env.URL)
	b.signIn(env, "demo-xiaoming")
	for i := range 3 {
		if code, body := env.NoCutlery(t, "rw-"+strconv.Itoa(i), "demo-xiaoming"); code != http.StatusOK {
			t.Fatalf("event: %d %s", code, body)
		}
	}
	_, _, page := b.get("/rewards")
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"><input type="hidden" name="key" value="([^"]+)"><input type="hidden" name="kind" value="mall">\s*<button type="submit" data-offer="(\d+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no mall offer form for a linked partner")
	}
	form := url.Values{"csrf": {m[1]}, "key": {m[2]}, "kind": {"mall"}}
	t.Run("OK", func(t *testing.T) {
		code, _, body := b.post("/rewards/"+m[3], form)
		if code != http.StatusOK || !strings.Contains(body, `data-testid="new-voucher"`) {
			t.Fatalf("got %d", code)
		}
	})
	t.Run("DoubleSubmitGivesOneVoucher", func(t *testing.T) {
		b.post("/rewards/"+m[3], form)
		vs, err := env.Rewards.Vouchers(t.Context(), "demo-xiaoming", "", 10)
		if err != nil || len(vs) != 1 {
			t.Fatalf("vouchers %d, %v", len(vs), err)
		}
	})
	t.Run("NoButtonWhenShort", func(t *testing.T) {
		_, _, page := b.get("/rewards")
		if strings.Contains(page, `data-offer="`+m[3]+`"`) {
			t.Fatal("an offer the person cannot afford still has a redeem button")
		}
	})
	t.Run("ErrInsufficientPoints", func(t *testing.T) {
		form.Set("key", "another-key")
		code, _, body := b.post("/rewards/"+m[3], form)
		if code != http.StatusConflict || !strings.Contains(body, "积分不足") {
			t.Fatalf("got %d", code)
		}
	})
}

// TestUIUnwired: with only accounts and partners wired, every page still
// answers, with an honest empty state instead of numbers.
func TestUIUnwired(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "bare.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, partner.Migrations, account.Migrations); err != nil {
		t.Fatal(err)
	}
	ps, err := partner.NewService(db, webtest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	accts := account.NewService(db)
	if _, _, err := accts.Open(ctx, "bare-person", account.OpenRequest{EntryPoint: "search", ConsentVersion: "2026-01"}); err != nil {
		t.Fatal(err)
	}
	srv := &web.Server{DB: db, PersonTokenKey: webtest.PersonKey, AdminToken: webtest.AdminToken, Partners: ps, PartnerRegistry: ps, Accounts: accts}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	b := newBrowser(t, ts.URL)
	tok := b.csrf("/signin")
	pt, _ := web.MintPersonToken(webtest.PersonKey, "bare-person", time.Hour)
	if code, _, _ := b.post("/signin", url.Values{"csrf": {tok}, "token": {pt}}); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", code)
	}
	if code, _, _ := b.get("/privacy"); code != http.StatusOK {
		t.Fatalf("privacy: %d", code)
	}
	for _, p := range []string{"/", "/footprint", "/history", "/rewards", "/medals", "/campaigns", "/registry"} {
		code, _, body := b.get(p)
		if code != http.StatusOK || !strings.Contains(body, "尚未") || strings.Contains(body, `data-testid="total"`) {
			t.Errorf("%s: status %d, or no empty state", p, code)
		}
	}
}

var (
	controlRE = regexp.MustCompile(`<(input|textarea|select)\b[^>]*>`)
	idRE      = regexp.MustCompile(`\bid="([^"]+)"`)
)

// checkAccessible checks what can be checked in the markup: one h1, and a
// label for every visible form control.
func checkAccessible(t *testing.T, body string) {
	t.Helper()
	if n := strings.Count(body, "<h1"); n != 1 {
		t.Errorf("%d h1 elements", n)
	}
	for _, c := range controlRE.FindAllString(body, -1) {
		if strings.Contains(c, `type="hidden"`) {
			continue
		}
		m := idRE.FindStringSubmatch(c)
		if m == nil || !strings.Contains(body, `for="`+m[1]+`"`) {
			t.Errorf("form control without a label: %s", c)
		}
	}
}

func TestUISessionEndsWithToken(t *testing.T) {
	env := webtest.New(t, false)
	b := newBrowser(t, env.URL)
	tok := b.csrf("/signin")
	short, err := web.MintPersonToken(webtest.PersonKey, "short-lived", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := b.post("/signin", url.Values{"csrf": {tok}, "token": {short}}); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", code)
	}
	if code, loc, _ := b.get("/"); code != http.StatusSeeOther || loc != "/welcome" {
		t.Fatalf("signed in: %d %q", code, loc)
	}
	time.Sleep(2500 * time.Millisecond)
	if code, loc, _ := b.get("/"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
		t.Fatalf("session outlived its token: %d %q", code, loc)
	}
}
