package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opencarbon/opencarbon/web/webtest"
)

// checkHomeAfterCredits checks the home page after three 11.13 g credits:
// total, points and a hatched Carbon Bao.
func checkHomeAfterCredits(t *testing.T, ctx context.Context) {
	t.Helper()
	if total := textOf(t, ctx, `[data-testid="total"]`); total != "33.3 g" {
		t.Fatalf("home total %q, want 33.3 g", total)
	}
	if pts := textOf(t, ctx, `[data-testid="points"]`); pts != "33" {
		t.Fatalf("home points %q, want 33", pts)
	}
	level, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("svg.bao").dataset.level`))
	if err != nil || level == "" {
		t.Fatalf("Carbon Bao not drawn: %v", err)
	}
}

// browserCampaign joins the live demo campaign in a region, sends a
// counted credit and waits for the person's rank on the live board.
func browserCampaign(t *testing.T, ctx context.Context, env *webtest.Env, person string) {
	t.Helper()
	run(t, ctx, "join a campaign",
		chromedp.Navigate(env.URL+"/campaigns"),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/join"] select`)),
		chromedp.SetValue(chromedp.CSS(`form[action$="/join"] input[name=display_name]`), "Browser Tester"),
		chromedp.Click(chromedp.CSS(`form[action$="/join"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p[data-flash="flash.joined"]`)),
	)
	if code, body := env.BoxReturn(t, "browser-box-1", person); code != 200 || !strings.Contains(body, "credited") {
		t.Fatalf("box return: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		run(t, ctx, "campaign board", chromedp.Navigate(env.URL+"/campaigns"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="my-rank"]`)))
		rank := textOf(t, ctx, `[data-testid="my-rank"]`)
		if strings.Contains(rank, "我的排名") {
			if board := textOf(t, ctx, "table"); !strings.Contains(board, "Browser Tester") {
				t.Fatalf("board lacks my display name: %q", board)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rank after the credit: %q", rank)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
