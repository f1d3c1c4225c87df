package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/web"
)

// demoPartners are the seed partners of the demo, with every scope.
var demoPartners = []partner.Registration{
	{ID: "eleme", Name: "Ele.me 饿了么", Scopes: partner.AllScopes},
	{ID: "cainiao", Name: "Cainiao 菜鸟", Scopes: partner.AllScopes},
	{ID: "xianyu", Name: "Xianyu 闲鱼", Scopes: partner.AllScopes},
	{ID: "tmall", Name: "Tmall 天猫", Scopes: partner.AllScopes},
}

// wireAccounts loads the keys and builds the partner registry and the
// account service into a and its server.
func (a *app) wireAccounts() error {
	key, source, err := loadSecretKey(a.cfg)
	if errors.Is(err, errNoSecretKey) && a.cfg.Addr == "" {
		// Commands that serve nothing (migrate) do not need the key.
		a.log.Warn("partner registry not loaded", "reason", err)
		a.accounts = account.NewService(a.db)
		return nil
	}
	if err != nil {
		return err
	}
	a.secretKey = key
	a.partners, err = partner.NewService(a.db, key)
	if err != nil {
		return err
	}
	a.accounts = account.NewService(a.db)
	if err := checkPersonTokenKey(a.cfg); err != nil {
		return err
	}
	personKey, derived := personTokenKey(a.cfg, key)
	if derived && !a.cfg.Demo && a.cfg.Addr != "" {
		a.log.Warn("no --person-token-key: person tokens are verified with a key derived from the secret key; set the host platform's key in production", "secret_key", source)
	}
	if a.cfg.Demo && a.cfg.AdminToken == "" {
		a.cfg.AdminToken = demoAdminToken(key)
	}
	a.server.AdminToken = a.cfg.AdminToken
	a.server.PersonTokenKey = personKey
	a.server.Partners = a.partners
	a.server.PartnerRegistry = a.partners
	a.server.Accounts = a.accounts
	return nil
}

// seedAccounts registers the demo partners with stable secrets and opens the
// demo people's accounts. It is idempotent.
func seedAccounts(ctx context.Context, a *app) error {
	if a.partners == nil {
		return errNoSecretKey
	}
	for _, reg := range demoPartners {
		if err := a.partners.Seed(ctx, reg, demoPartnerSecret(a.secretKey, reg.ID)); err != nil {
			return fmt.Errorf("demo partner %s: %w", reg.ID, err)
		}
	}
	for _, p := range account.DemoPeople {
		req := account.OpenRequest{EntryPoint: p.EntryPoint, ConsentVersion: p.ConsentVersion, Partners: p.Partners}
		if _, _, err := a.accounts.Open(ctx, p.Person, req); err != nil {
			return fmt.Errorf("demo person %s: %w", p.Person, err)
		}
	}
	return nil
}

// printAccountsDemo prints the admin token, a person token, a partner
// secret and copy-paste curl calls.
func printAccountsDemo(w io.Writer, a *app, base string) {
	if a.partners == nil {
		return
	}
	person := account.DemoPeople[0]
	tok, err := web.MintPersonToken(a.server.PersonTokenKey, person.Person, 24*time.Hour)
	if err != nil {
		fmt.Fprintln(w, "cannot mint a demo person token:", err)
		return
	}
	p := demoPartners[0]
	fmt.Fprintf(w, `
  Admin token:        %s
  Person token (%s, 24 h; more with "opencarbon token --person ID"):
    %s
  Demo people:       `, a.cfg.AdminToken, person.Person, tok)
	for _, dp := range account.DemoPeople {
		fmt.Fprintf(w, " %s", dp.Person)
	}
	fmt.Fprintf(w, `
  Partner:            %s (%s)
  Partner secret:     %s
  (every demo partner: eleme, cainiao, xianyu, tmall; secrets are derived from the secret key and stable across restarts)

  Try it (PERSON_TOKEN is used by the examples below):
    PERSON_TOKEN='%s'
    curl -s -H "Authorization: Bearer $PERSON_TOKEN" %s/v1/me/account
    curl -s -H "Authorization: Bearer %s" %s/v1/admin/partners

  Sign a partner call (HMAC-SHA256 of METHOD\nPATH\nTIMESTAMP\nNONCE\nhex(SHA256(body)) with the secret):
    BODY='{"event_id":"demo-1","person":"%s","behavior":"eleme.no_cutlery","occurred_at":"'$(date -u +%%FT%%TZ)'","params":{"order_id":"order-demo-1"},"evidence":{"cutlery_choice":"none"}}'
    TS=$(date +%%s); NONCE=$(openssl rand -hex 16)
    SIG=$(printf 'POST\n/v1/events\n%%s\n%%s\n%%s' "$TS" "$NONCE" "$(printf %%s "$BODY" | sha256sum | cut -d' ' -f1)" | openssl dgst -sha256 -hmac '%s' | sed 's/^.* //')
    curl -s -X POST %s/v1/events -H 'Content-Type: application/json' -H 'X-OC-Partner: %s' \
      -H "X-OC-Timestamp: $TS" -H "X-OC-Nonce: $NONCE" -H "X-OC-Signature: $SIG" -d "$BODY"
`, p.ID, p.Name, demoPartnerSecret(a.secretKey, p.ID),
		tok, base, a.cfg.AdminToken, base,
		person.Person, demoPartnerSecret(a.secretKey, p.ID), base, p.ID)
}
