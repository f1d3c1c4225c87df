package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/web/webtest"
)

// chromiumPath is Debian's chromium; the browser tests skip without it
// unless OPENCARBON_REQUIRE_SERVICES=1 (CI), where they fail.
const chromiumPath = "/usr/bin/chromium"

// newChrome starts a headless chromium with a fresh profile and returns a
// browser context that ends with the test.
func newChrome(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("OPENCARBON_REQUIRE_SERVICES") == "1" {
			t.Fatalf("chromium not found at %s (install it: apt-get install -y chromium)", chromiumPath)
		}
		t.Skipf("chromium not found at %s; install it with apt-get install -y chromium to run the browser tests", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(375, 812),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs actions and fails the test with what on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// textOf returns the text content of the first node matching sel.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// screenshots checks the layout of path at 375 and 1280 px wide (nothing
// wider than the viewport) and, when OPENCARBON_SCREENSHOTS=1, saves
// full-page PNGs under docs/screenshots.
func screenshots(t *testing.T, ctx context.Context, base, path, name string) {
	t.Helper()
	for _, w := range []int64{375, 1280} {
		run(t, ctx, "layout "+name, chromedp.EmulateViewport(w, 800), chromedp.Navigate(base+path),
			chromedp.WaitReady(chromedp.CSS("footer")))
		sw, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`))
		if err != nil {
			t.Fatal(err)
		}
		if sw > w {
			t.Errorf("%s at %d px: the page is %d px wide", path, w, sw)
		}
		if os.Getenv("OPENCARBON_SCREENSHOTS") != "1" {
			continue
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join("..", "docs", "screenshots", name+"-"+strconv.FormatInt(w, 10)+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, "reset viewport", chromedp.EmulateViewport(375, 812))
}

// TestBrowserPersonJourney drives the person app in chromium: open an
// account by consent, receive a signed partner event, see the balance,
// Carbon Bao and footprint update, read the "why" page with the factor
// source, redeem points for a voucher and check the privacy page.
func TestBrowserPersonJourney(t *testing.T) {
	env := webtest.New(t, true)
	ctx := newChrome(t)
	base := env.URL
	person := "browser-person-1"
	tok := env.Token(t, person)

	run(t, ctx, "sign in with a platform token",
		chromedp.Navigate(base+"/signin?next=/welcome%3Ffrom%3Dsearch"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), tok),
		chromedp.Click(chromedp.CSS(`form[action="/signin"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#agree")),
	)
	screenshots(t, ctx, base, "/welcome?from=search", "welcome")
	if _, err := env.Accounts.Get(ctx, person); err == nil {
		t.Fatal("account exists before consent")
	}
	run(t, ctx, "consent and open",
		chromedp.Click(chromedp.CSS("#p-eleme")),
		chromedp.Click(chromedp.CSS("#p-cainiao")),
		chromedp.Click(chromedp.CSS("#agree")),
		chromedp.Click(chromedp.CSS(`form[action="/welcome"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#subs-h")),
	)
	a, err := env.Accounts.Get(ctx, person)
	if err != nil || a.EntryPoint != "search" || a.ConsentVersion != "2026-01" || len(a.Subaccounts) != 2 {
		t.Fatalf("account after consent: %+v %v", a, err)
	}

	for i := range 3 {
		if code, body := env.NoCutlery(t, "browser-ev-"+strconv.Itoa(i), person); code != 200 || !strings.Contains(body, "credited") {
			t.Fatalf("partner event: %d %s", code, body)
		}
	}
	run(t, ctx, "home after credits", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#subs-h")))
	checkHomeAfterCredits(t, ctx)
	screenshots(t, ctx, base, "/", "home")

	run(t, ctx, "footprint", chromedp.Navigate(base+"/footprint"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	if lead := textOf(t, ctx, "p.lead"); !strings.Contains(lead, "33.3 g") {
		t.Fatalf("footprint lead %q does not show 33.3 g", lead)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("svg.chart rect")].filter(r => +r.getAttribute("height") > 0).length`))
	if err != nil {
		t.Fatal(err)
	}
	if bars == 0 {
		t.Fatal("footprint bar chart has no bar")
	}
	screenshots(t, ctx, base, "/footprint", "footprint")

	run(t, ctx, "why page",
		chromedp.Navigate(base+"/history"),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/history/"]`)),
	)
	screenshots(t, ctx, base, "/history", "history")
	run(t, ctx, "open why", chromedp.Click(chromedp.CSS(`a[href^="/history/"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="factor-source"]`)))
	if src := textOf(t, ctx, `[data-testid="factor-source"]`); !strings.Contains(src, "Ele.me") {
		t.Fatalf("factor source %q", src)
	}
	whyURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	screenshots(t, ctx, base, strings.TrimPrefix(whyURL, base), "why")
	run(t, ctx, "registry link", chromedp.Click(chromedp.CSS(`[data-testid="registry-link"]`)), chromedp.WaitVisible(chromedp.CSS("#p-h")))
	screenshots(t, ctx, base, "/registry/eleme.no_cutlery/1.0.0", "registry")

	if env.Rewards != nil {
		run(t, ctx, "redeem a mall item",
			chromedp.Navigate(base+"/rewards"),
			chromedp.WaitVisible(chromedp.CSS(`input[name=kind][value=mall] + button`)),
			chromedp.Click(chromedp.CSS(`input[name=kind][value=mall] + button`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-voucher"]`)),
		)
		if code := textOf(t, ctx, `[data-testid="new-voucher"] code`); len(code) < 10 {
			t.Fatalf("voucher code %q", code)
		}
		screenshots(t, ctx, base, "/rewards", "rewards")
	}
	browserCampaign(t, ctx, env, person)
	screenshots(t, ctx, base, "/campaigns", "campaigns")
	for _, p := range []string{"medals", "privacy"} {
		run(t, ctx, p, chromedp.Navigate(base+"/"+p), chromedp.WaitVisible(chromedp.CSS("footer")))
		screenshots(t, ctx, base, "/"+p, p)
	}
	run(t, ctx, "switch to English", chromedp.Navigate(base+"/lang/en?back=/"), chromedp.WaitVisible(chromedp.CSS("#subs-h")))
	if h := textOf(t, ctx, "h1"); h != "My carbon account" {
		t.Fatalf("English home title %q", h)
	}
	screenshots(t, ctx, base, "/", "home-en")
	screenshots(t, ctx, base, strings.TrimPrefix(whyURL, base), "why-en")
}

// TestBrowserMethodologyQuorum has two reviewers approve a new methodology
// version in the console; approval is refused until the quorum is met.
func TestBrowserMethodologyQuorum(t *testing.T) {
	env := webtest.New(t, true)
	ctx := newChrome(t)
	base := env.URL
	ms := env.Methodologies
	author, _, err := ms.CreateReviewer(ctx, "ui-author", "Author", []string{methodology.RoleAuthor})
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for i := 1; i <= methodology.DefaultQuorum; i++ {
		_, tk, err := ms.CreateReviewer(ctx, "ui-reviewer-"+strconv.Itoa(i), "Reviewer "+strconv.Itoa(i), []string{methodology.RoleReviewer})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tk)
	}
	src, err := methodologies.FS.ReadFile("eleme.no_cutlery.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(src), "version: 1.0.0\n", "version: 1.1.0\nsupersedes: 1.0.0\n", 1)
	doc = strings.Replace(doc, "Credits one order placed on Ele.me", "Credits each order placed on Ele.me", 1)
	if _, err := ms.Create(ctx, author, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := ms.Submit(ctx, author, "eleme.no_cutlery", "1.1.0"); err != nil {
		t.Fatal(err)
	}
	page := base + "/console/methodologies/eleme.no_cutlery/1.1.0"
	for i, tk := range tokens {
		run(t, ctx, "reviewer sign-in",
			chromedp.Navigate(base+"/console/signin"),
			chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SetValue(chromedp.CSS("#token"), tk),
			chromedp.Submit(chromedp.CSS("#token")),
			chromedp.WaitVisible(chromedp.CSS("table")),
			chromedp.Navigate(page),
			chromedp.WaitVisible(chromedp.CSS("#rcomment")),
		)
		if i == 0 {
			screenshots(t, ctx, base, "/console/methodologies/eleme.no_cutlery/1.1.0", "console-review")
		}
		run(t, ctx, "record approval",
			chromedp.SetValue(chromedp.CSS("#rcomment"), "checked the factor and the vectors"),
			chromedp.Click(chromedp.CSS(`form[action$="/review"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`p[data-flash="flash.method_review"]`)),
		)
		q := textOf(t, ctx, `[data-testid="quorum"]`)
		if !strings.Contains(q, strconv.Itoa(i+1)+" / ") {
			t.Fatalf("quorum line %q after %d approvals", q, i+1)
		}
		run(t, ctx, "try to approve", chromedp.Click(chromedp.CSS(`form[action$="/approve"] button`)), chromedp.WaitVisible(chromedp.CSS(`p[data-flash="flash.method_approve"], div[role=alert]`)))
		v, err := ms.Get(ctx, "eleme.no_cutlery", "1.1.0")
		if err != nil {
			t.Fatal(err)
		}
		last := i == len(tokens)-1
		if (v.Status == methodology.StatusApproved) != last {
			t.Fatalf("after %d approvals status is %s", i+1, v.Status)
		}
		if !last {
			if body := textOf(t, ctx, "main"); !strings.Contains(body, "法定人数") {
				t.Fatalf("refusal does not mention the quorum: %q", body)
			}
		}
		run(t, ctx, "sign out", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(".tools button")), chromedp.Click(chromedp.CSS(".tools button")), chromedp.WaitVisible(chromedp.CSS("#token")))
	}
	run(t, ctx, "admin sign-in", chromedp.Navigate(base+"/console/signin"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), webtest.AdminToken), chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitReady(chromedp.CSS("footer")))
	// A few credits, so the dashboard has something to chart.
	for i, person := range []string{"demo-xiaoming", "demo-lihua", "demo-xiaoming"} {
		if code, body := env.NoCutlery(t, "console-ev-"+strconv.Itoa(i), person); code != 200 {
			t.Fatalf("event: %d %s", code, body)
		}
	}
	if code, body := env.BoxReturn(t, "console-box", "demo-wangfang"); code != 200 {
		t.Fatalf("event: %d %s", code, body)
	}
	time.Sleep(200 * time.Millisecond) // the dashboard follows the outbox every 20 ms
	for _, p := range []string{"", "/partners", "/methodologies", "/factors", "/offers", "/campaigns", "/deadletters"} {
		name := "console" + strings.ReplaceAll(p, "/", "-")
		screenshots(t, ctx, base, "/console"+p, name)
	}
}
