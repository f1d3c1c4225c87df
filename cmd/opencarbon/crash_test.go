package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestCrashDuringIngest runs `opencarbon serve` as a child process on a
// SQLite file and on a PostgreSQL schema, kill -9s it during sustained
// signed ingest 20 times, restarts it, re-sends every event ever sent,
// and checks that every acknowledged event is credited exactly once, that
// nothing was lost or doubled, and that `opencarbon check` and `opencarbon
// verify` are clean.
func TestCrashDuringIngest(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "opencarbon")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The key that encrypts partner secrets at rest, the same for the
	// setup in process and every server (PostgreSQL has no key file).
	t.Setenv("OPENCARBON_SECRET_KEY", strings.Repeat("5", 64))
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) { crashDuringIngest(t, bin, storetest.DSN(t, d)) })
	}
}

func crashDuringIngest(t *testing.T, bin, dsn string) {
	ctx := context.Background()

	// Set up in process: schema, partners, methodologies, 400 people.
	cfg := &config{DB: dsn, Quorum: 2, Addr: "127.0.0.1:0", LogFormat: "text"}
	a, err := openApp(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.db.Migrate(ctx, methodology.Migrations); err != nil {
		t.Fatal(err)
	}
	if err := methodology.NewService(a.db, 2).SeedApproved(ctx, methodologies.FS); err != nil {
		t.Fatal(err)
	}
	tmallSecret, err := a.partners.Register(ctx, partner.Registration{ID: "tmall", Name: "tmall", Scopes: partner.AllScopes})
	if err != nil {
		t.Fatal(err)
	}
	// Enough people that none reaches the yearly cap (745 events of 268 g)
	// however many events a fast machine sends in the 20 cycles.
	const people = 400
	for i := 0; i < people; i++ {
		if _, _, err := a.accounts.Open(ctx, fmt.Sprintf("cp%d", i), account.OpenRequest{EntryPoint: "search", ConsentVersion: "2026-01", Partners: []string{"tmall"}}); err != nil {
			t.Fatal(err)
		}
	}
	a.close()

	type sent struct {
		body map[string]any
		ack  bool
	}
	var mu sync.Mutex
	events := map[string]*sent{}
	rng := rand.New(rand.NewPCG(7, 7))
	newEvent := func(id string) map[string]any {
		return map[string]any{"event_id": id, "person": fmt.Sprintf("cp%d", rng.IntN(people)), "behavior": "tmall.low_carbon_product",
			"occurred_at": time.Now().UTC().Add(-time.Duration(rng.IntN(10*86400)) * time.Second).Format(time.RFC3339),
			"params":      map[string]any{"order_id": id, "kwh_saved": 1}, "evidence": map[string]any{"order_id": id}}
	}
	post := func(client *http.Client, base string, evs []map[string]any) (map[string]string, error) {
		body, _ := json.Marshal(map[string]any{"events": evs})
		req, _ := http.NewRequest("POST", base+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		partner.SignRequest(req, "tmall", tmallSecret, body)
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		var out struct {
			Results []struct {
				EventID string `json:"event_id"`
				Status  string `json:"status"`
				Code    string `json:"code"`
			} `json:"results"`
		}
		if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&out) != nil {
			return nil, fmt.Errorf("status %d", res.StatusCode)
		}
		acked := map[string]string{}
		for _, r := range out.Results {
			if r.Status == "credited" || r.Status == "duplicate" {
				acked[r.EventID] = r.Status
			} else {
				return nil, fmt.Errorf("event %s: %s %s", r.EventID, r.Status, r.Code)
			}
		}
		return acked, nil
	}
	start := func() (*exec.Cmd, string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "serve", "--db", dsn, "--addr", addr)
		cmd.Stderr = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A failing test must not leave a server behind (the cycles kill
		// theirs; killing a dead process again is harmless).
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		base := "http://" + addr
		for i := 0; i < 200; i++ {
			if res, err := http.Get(base + "/healthz"); err == nil {
				res.Body.Close()
				return cmd, base
			}
			time.Sleep(25 * time.Millisecond)
		}
		cmd.Process.Kill()
		t.Fatal("server did not start")
		return nil, ""
	}
	seq := 0
	const cycles = 20
	for c := 0; c < cycles; c++ {
		cmd, base := start()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 5 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					var evs []map[string]any
					for k := 0; k < 25; k++ {
						seq++
						id := fmt.Sprintf("crash-%d", seq)
						ev := newEvent(id)
						events[id] = &sent{body: ev}
						evs = append(evs, ev)
					}
					mu.Unlock()
					acked, err := post(client, base, evs)
					if err != nil {
						return // the server died under us
					}
					mu.Lock()
					for id := range acked {
						events[id].ack = true
					}
					mu.Unlock()
				}
			}()
		}
		mu.Lock() // rng is the senders' too
		pause := time.Duration(150+rng.IntN(350)) * time.Millisecond
		mu.Unlock()
		time.Sleep(pause)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		close(stop)
		wg.Wait()
	}
	// Restart and re-send everything: acked events must be duplicates,
	// the others are credited now.
	cmd, base := start()
	var all []map[string]any
	acked := 0
	for _, s := range events {
		all = append(all, s.body)
		if s.ack {
			acked++
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for i := 0; i < len(all); i += 500 {
		res, err := post(client, base, all[i:min(len(all), i+500)])
		if err != nil {
			t.Fatalf("re-send: %v", err)
		}
		for id, st := range res {
			if events[id].ack && st != "duplicate" {
				t.Fatalf("event %s was acknowledged before a kill but is %s after restart: it had been lost", id, st)
			}
		}
	}
	// The intake's counters are on /metrics: the re-send went through
	// group commits, and each was answered after its fsync.
	metrics := scrape(t, base+"/metrics")
	if metrics["opencarbon_intake_batches_total"] < 1 || metrics["opencarbon_intake_batch_events_total"] < metrics["opencarbon_intake_batches_total"] ||
		metrics["opencarbon_intake_writer_busy_seconds_total"] <= 0 || metrics["opencarbon_intake_durable_wait_seconds_total"] <= 0 {
		t.Errorf("intake metrics after the re-send: %v", metrics)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if acked == 0 {
		t.Fatal("no event was acknowledged")
	}
	t.Logf("%d cycles, %d events sent, %d acknowledged before a kill", cycles, len(events), acked)

	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Every ledger credit is an event's: its event row has its id (the
	// intake's credits carry no ledger ref).
	var credited, ledgerCredits, orphans int
	db.Read().QueryRow(`SELECT COUNT(*) FROM intake_events WHERE COALESCE(status, 'credited') = 'credited'`).Scan(&credited)
	db.Read().QueryRow(`SELECT COUNT(*) FROM ledger_tx t JOIN intake_events e ON e.id = t.id
		WHERE t.kind = 'credit' AND e.partner = 'tmall' AND e.event_id LIKE 'crash-%'`).Scan(&ledgerCredits)
	db.Read().QueryRow(`SELECT COUNT(*) FROM ledger_tx t WHERE t.kind = 'credit' AND NOT EXISTS (SELECT 1 FROM intake_events e WHERE e.id = t.id)`).Scan(&orphans)
	if credited != len(events) || ledgerCredits != len(events) || orphans != 0 {
		t.Fatalf("%d events sent, %d credited, %d ledger credits, %d ledger credits without an event; want all exactly once", len(events), credited, ledgerCredits, orphans)
	}
	for _, sub := range []string{"check", "verify"} {
		out, err := exec.Command(bin, sub, "--db", dsn).CombinedOutput()
		if err != nil {
			t.Fatalf("opencarbon %s: %v\n%s", sub, err, out)
		}
	}
	// A changed block of records (here: the first block's records written
	// over the second's) is reported with a calc id and exit status 1.
	var second int64
	if err := db.Read().QueryRow(`SELECT seq FROM calc_blocks WHERE shard = 0 ORDER BY seq LIMIT 1 OFFSET 1`).Scan(&second); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write().Exec(`UPDATE calc_blocks SET block = (SELECT block FROM calc_blocks WHERE seq = 1 AND shard = 0) WHERE shard = 0 AND seq = $1`, second); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "verify", "--db", dsn).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !bytes.Contains(out, fmt.Appendf(nil, "0-%d: ", second)) {
		t.Fatalf("verify of a tampered log: %v\n%s", err, out)
	}
}

// scrape reads the unlabelled samples of a Prometheus text exposition.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out
}
