package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/partner"
)

// TestSeedAccounts seeds the demo partners and people twice on one
// database, then signs a call with the printed secret.
func TestSeedAccounts(t *testing.T) {
	ctx := context.Background()
	cfg := &config{DB: "sqlite:" + filepath.Join(t.TempDir(), "demo.db"), Addr: "127.0.0.1:0", Demo: true}
	var printed string
	for i := 0; i < 2; i++ {
		a, err := openApp(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := seedAccounts(ctx, a); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		var out bytes.Buffer
		printAccountsDemo(&out, a, "http://x")
		if i == 1 && out.String() != printed {
			// Tokens carry iat/exp: compare the secret lines only.
			if secretLine(out.String()) != secretLine(printed) {
				t.Fatal("demo secret changed across restarts")
			}
		}
		printed = out.String()
		var n [3]int
		for j, table := range []string{"partners", "accounts", "consents"} {
			a.db.Read().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n[j])
		}
		if n[0] != 4 || n[1] != len(account.DemoPeople) {
			t.Fatalf("after seed %d: %v partners, accounts, consents", i, n)
		}
		for _, p := range account.DemoPeople {
			for _, pid := range p.Partners {
				if _, _, err := a.accounts.Resolve(ctx, p.Person, pid); err != nil {
					t.Fatalf("%s/%s: %v", p.Person, pid, err)
				}
			}
		}
		secret := secretLine(printed)
		req, _ := http.NewRequest("POST", "http://x/v1/events", nil)
		partner.SignRequest(req, "eleme", secret, []byte("{}"))
		if _, err := a.partners.Verify(ctx, "POST", "/v1/events", req.Header, []byte("{}"), partner.ScopeEventsWrite); err != nil {
			t.Fatalf("printed secret %q does not verify: %v", secret, err)
		}
		if !strings.Contains(printed, a.cfg.AdminToken) || a.server.AdminToken == "" {
			t.Fatal("demo admin token not set or not printed")
		}
		a.close()
	}
}

func secretLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Partner secret:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestDemoHelpSetsItsVariables prints the whole demo help and checks that
// every $NAME the printed commands use is set by an earlier printed line
// (NAME=...), so the examples can be pasted into a fresh shell.
func TestDemoHelpSetsItsVariables(t *testing.T) {
	ctx := context.Background()
	cfg := &config{DB: "sqlite:" + filepath.Join(t.TempDir(), "demo.db"), Addr: "127.0.0.1:0", Demo: true}
	a, err := openApp(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if err := seedAccounts(ctx, a); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printAccountsDemo(&out, a, "http://x")
	printCampaignsDemo(&out, "http://x")
	printRewardsDemo(&out, "http://x")
	set := map[string]bool{}
	use := regexp.MustCompile(`\$([A-Z_][A-Z0-9_]*)`)
	assign := regexp.MustCompile(`(?:^|[\s;])([A-Z_][A-Z0-9_]*)=`)
	for _, line := range strings.Split(out.String(), "\n") {
		for _, m := range use.FindAllStringSubmatch(line, -1) {
			if !set[m[1]] {
				t.Errorf("demo help uses $%s before setting it: %s", m[1], strings.TrimSpace(line))
			}
		}
		for _, m := range assign.FindAllStringSubmatch(line, -1) {
			set[m[1]] = true
		}
	}
}
