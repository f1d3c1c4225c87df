// Command opencarbon is the OpenCarbon server and its operator tools, in
// one binary: serve, migrate, demo, token, methodology lint|test, check,
// verify, expire, leaderboard rebuild, bench, version.
//
// main only parses flags and wires packages together; it holds no business
// rules.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `opencarbon — personal carbon accounts (1+N), reviewed methodologies, points and rewards

Usage: opencarbon <command> [flags]

Commands:
  serve          run the HTTP server (--demo loads demo data first)
  migrate        apply database migrations and exit
  demo           load demo data into the database and exit
  token          mint a person token for local use (--person ID)
  methodology    lint FILE… | test FILE…  check methodology documents
  check          prove every balance equals the sum of its postings
  verify         recompute every stored calc record and check the hash chain
  expire         expire due point lots now
  leaderboard    rebuild --campaign ID [--region R]  recompute boards from the ledger
  bench          drive a running server with signed events and report rates
  version        print the version

Every flag can also be set by an OPENCARBON_* environment variable
(e.g. --db → OPENCARBON_DB). Run "opencarbon <command> -h" for its flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "opencarbon:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveCmd(ctx, rest)
	case "migrate":
		return migrateCmd(ctx, rest)
	case "demo":
		return demoCmd(ctx, rest)
	case "version", "-v", "--version":
		fmt.Println("opencarbon", version)
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	// -- commands --
	case "leaderboard":
		return leaderboardCmd(ctx, rest)
	case "check":
		return checkCmd(ctx, rest)
	case "expire":
		return expireCmd(ctx, rest)
	case "verify":
		return verifyCmd(ctx, rest)
	case "bench":
		return benchCmd(ctx, rest)
	case "methodology":
		return methodologyCmd(rest)
	case "token":
		return tokenCmd(ctx, rest)
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
