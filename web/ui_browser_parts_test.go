package web_test

import (
	"context"
	"strings"
	"testing"
)

// checkHomeAfterCredits checks the home page after three 11.13 g credits.
func checkHomeAfterCredits(t *testing.T, ctx context.Context) {
	t.Helper()
	if body := textOf(t, ctx, "main"); !strings.Contains(body, "Cainiao") && !strings.Contains(body, "Ele.me") {
		t.Fatalf("home lacks the sub-accounts: %q", body)
	}
}

// browserCampaign joins a campaign and checks the rank, when campaigns
// are wired.
func browserCampaign(t *testing.T, ctx context.Context, env any) {
}
