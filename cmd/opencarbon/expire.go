package main

import (
	"context"
	"fmt"
	"time"

	"github.com/opencarbon/opencarbon/ledger"
)

// expireCmd sends the due expiry notices and expires due point lots now
// (or at --now), like one run of the daily job.
func expireCmd(ctx context.Context, args []string) error {
	fs, cfg := newConfigFlags("expire", false)
	at := fs.String("now", "", "expire as of this RFC 3339 time instead of now")
	if err := parse(fs, args); err != nil {
		return err
	}
	now := time.Now().UTC()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("expire: --now: %w", err)
		}
		now = t.UTC()
	}
	a, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	notices, err := a.ledger.NotifyExpiring(ctx, now, ledger.NoticeWindow)
	if err != nil {
		return err
	}
	lots, points, err := a.ledger.ExpireDue(ctx, now)
	if err != nil {
		return err
	}
	fmt.Printf("expire: %d lots expired (%d points) as of %s; %d expiry notices queued\n", lots, points, now.Format(time.RFC3339), notices)
	return nil
}
