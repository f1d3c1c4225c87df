package main

import (
	"context"
	"fmt"
	"os"
)

func demoCmd(ctx context.Context, args []string) error {
	fs, cfg := newConfigFlags("demo", true)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Demo = true
	a, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	if err := loadDemo(ctx, a); err != nil {
		return err
	}
	printDemo(a, "http://"+cfg.Addr)
	return nil
}

// loadDemo seeds demo data. It is idempotent: running it twice changes
// nothing the second time.
func loadDemo(ctx context.Context, a *app) error {
	if err := seedAccounts(ctx, a); err != nil {
		return err
	}
	// -- demo seeds --
	if err := seedMethodologies(ctx, a); err != nil {
		return err
	}
	if err := seedCampaigns(ctx, a); err != nil {
		return err
	}
	if err := seedRewards(ctx, a); err != nil {
		return err
	}
	if err := seedEvents(ctx, a); err != nil {
		return err
	}
	return nil
}

// printDemo tells a newcomer how to call the API.
func printDemo(a *app, base string) {
	w := os.Stdout
	fmt.Fprintf(w, "\nOpenCarbon demo is ready at %s\n", base)
	printAccountsDemo(w, a, base)
	// -- demo help --
	printCampaignsDemo(w, base)
	printRewardsDemo(w, base)
}
