package main

import (
	"context"
	"fmt"
	"time"

	"github.com/opencarbon/opencarbon/ledger"
)

// wireLedger builds the ledger service and, when the account service is
// there, adds the ledger's section to every export.
func (a *app) wireLedger() {
	a.ledger = ledger.NewService(a.db, a.cfg.LotTTL)
	if a.accounts != nil {
		a.accounts.AddExporter("ledger", a.ledger.Export)
	}
	a.server.AccountExtras = append(a.server.AccountExtras, a.ledger.BalanceExtra, a.ledger.ExpiringExtra)
	// points.expiring notices go to the partner of the lot's sub-account.
	if a.accounts != nil {
		a.ledger.PartnerOf = a.accounts.PartnerOfSub
	}
}

// checkCmd proves every balance equals the sum of its postings, lots equal
// points and parents equal the sum of their sub-accounts; it prints each
// difference and fails (exit status 1) when there is any.
func checkCmd(ctx context.Context, args []string) error {
	a, err := openCmd(ctx, "check", false, args)
	if err != nil {
		return err
	}
	defer a.close()
	start := time.Now()
	res, err := a.ledger.CheckAll(ctx)
	if err != nil {
		return err
	}
	for _, m := range res.Mismatches {
		fmt.Println("mismatch:", m)
	}
	if len(res.Mismatches) > 0 {
		return fmt.Errorf("check: %d mismatches in %d accounts, %d postings (%s)", len(res.Mismatches), res.Accounts, res.Postings, time.Since(start).Round(time.Millisecond))
	}
	fmt.Printf("ok: %d accounts, %d postings checked (%s)\n", res.Accounts, res.Postings, time.Since(start).Round(time.Millisecond))
	return nil
}
