package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/web"
)

// benchBehaviors builds params and evidence for the behaviors bench can
// send; each id is a distinct real-world act.
var benchBehaviors = map[string]func(id string) (params, evidence map[string]any){
	"tmall.low_carbon_product": func(id string) (map[string]any, map[string]any) {
		return map[string]any{"order_id": id, "kwh_saved": 1}, map[string]any{"order_id": id}
	},
	"eleme.small_portion": func(id string) (map[string]any, map[string]any) {
		return map[string]any{"order_id": id}, map[string]any{"portion_choice": "small"}
	},
}

type benchConfig struct {
	url, partner, secret, personKey, behavior, db string
	clients, events, batch, persons               int
	duration                                      time.Duration
	spreadDays                                    int
}

// benchCmd drives a running server with signed event batches from
// concurrent clients (127.0.0.1 only; bounded by --events and --duration)
// and reports events/s, ack latency and, with --db, bytes stored per
// credited event.
func benchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c benchConfig
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	fs.StringVar(&c.partner, "partner", "tmall", "partner id")
	fs.StringVar(&c.secret, "secret", "", "partner secret (required)")
	fs.StringVar(&c.personKey, "person-token-key", "", "HS256 person token key: when set, bench opens the accounts of its people first")
	fs.StringVar(&c.behavior, "behavior", "tmall.low_carbon_product", "behavior to report: tmall.low_carbon_product or eleme.small_portion")
	fs.StringVar(&c.db, "db", "", "the server's database, to measure bytes stored per credited event (optional)")
	fs.IntVar(&c.clients, "clients", 64, "concurrent clients")
	fs.IntVar(&c.events, "events", 100000, "stop after this many events")
	fs.IntVar(&c.batch, "batch", 1000, "events per request (1 sends single events)")
	fs.IntVar(&c.persons, "persons", 2000, "people bench-0 … bench-N-1 the events are spread over")
	fs.IntVar(&c.spreadDays, "spread-days", 20, "occurred_at is spread over this many past days (caps are per day)")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "stop after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.secret == "" {
		return fmt.Errorf("bench: --secret is required")
	}
	if !strings.HasPrefix(c.url, "http://127.0.0.1") && !strings.HasPrefix(c.url, "http://localhost") && !strings.HasPrefix(c.url, "http://[::1]") {
		return fmt.Errorf("bench: --url must be a loopback address")
	}
	if benchBehaviors[c.behavior] == nil {
		return fmt.Errorf("bench: unsupported --behavior %q", c.behavior)
	}
	if c.batch < 1 || c.batch > 1000 || c.clients < 1 || c.persons < 1 {
		return fmt.Errorf("bench: --batch 1-1000, --clients and --persons ≥ 1")
	}
	return bench(ctx, os.Stdout, c)
}

// bench runs the benchmark c describes and writes its report to w.
func bench(ctx context.Context, w io.Writer, c benchConfig) error {
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConns: c.clients * 2, MaxIdleConnsPerHost: c.clients * 2}}
	if c.personKey != "" {
		if err := benchSetup(ctx, client, c); err != nil {
			return err
		}
	}
	var before []store.Relation
	var db *store.DB
	if c.db != "" {
		var err error
		if db, err = store.Open(ctx, c.db); err != nil {
			return err
		}
		defer db.Close()
		if before, err = store.Relations(ctx, db); err != nil {
			return err
		}
	}
	res := benchRun(ctx, client, c)
	fmt.Fprint(w, res)
	if db != nil && res.credited > 0 {
		after, err := store.Relations(ctx, db)
		if err != nil {
			return err
		}
		all := store.Bytes(after) - store.Bytes(before)
		own := store.Bytes(after, intake.EventTables...) - store.Bytes(before, intake.EventTables...)
		fmt.Fprintf(w, "stored: %d bytes more, %d bytes per credited event (all tables and indexes), of which %d in the events' own rows (%s, with their indexes)\n",
			all, all/res.credited, own/res.credited, strings.Join(intake.EventTables, ", "))
		if kept := res.rememberedRejections(); kept*10 > res.credited {
			fmt.Fprintf(w, "note: %d rejected events are stored too (a repeat gets the same answer), and their rows are in the bytes per credited event; more --persons or --spread-days keeps caps from being reached\n", kept)
		}
	}
	return nil
}

// benchSetup opens the accounts of the bench people, linked to the partner.
func benchSetup(ctx context.Context, client *http.Client, c benchConfig) error {
	body := []byte(`{"entry_point":"search","consent_version":"2026-01","partners":["` + c.partner + `"]}`)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c.clients)
	for range min(c.clients, 16) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(c.persons); i = next.Add(1) - 1 {
				tok, _ := web.MintPersonToken([]byte(c.personKey), fmt.Sprintf("bench-%d", i), time.Hour)
				for _, call := range [][2]string{{"POST", "/v1/me/account"}, {"PUT", "/v1/me/partners/" + c.partner}} {
					req, _ := http.NewRequestWithContext(ctx, call[0], c.url+call[1], bytes.NewReader(body))
					if call[0] == "PUT" {
						req.Body = http.NoBody
					}
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode >= 300 {
						errs <- fmt.Errorf("bench setup %s %s: %d %s", call[0], call[1], resp.StatusCode, b)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

type benchResult struct {
	elapsed                 time.Duration
	requests, failed        int64
	events, credited, dupes int64
	codes                   map[string]int64
	lat                     []time.Duration
	c                       benchConfig
}

// String formats the bench report.
func (r *benchResult) String() string {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	pct := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))].Round(10 * time.Microsecond)
	}
	s := r.elapsed.Seconds()
	var b strings.Builder
	fmt.Fprintf(&b, "bench: %d clients, batch %d, %s for %s\n", r.c.clients, r.c.batch, r.c.behavior, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "requests: %d (%d failed), %.0f req/s\n", r.requests, r.failed, float64(r.requests)/s)
	fmt.Fprintf(&b, "events: %d sent, %d credited, %.0f events/s, %.0f credited/s\n", r.events, r.credited, float64(r.events)/s, float64(r.credited)/s)
	fmt.Fprintf(&b, "ack latency per request: p50 %s, p99 %s, max %s\n", pct(0.50), pct(0.99), pct(1))
	if len(r.codes) > 0 {
		fmt.Fprintf(&b, "other outcomes: %v\n", r.codes)
	}
	return b.String()
}

// rememberedRejections counts the rejected events the intake stored.
func (r *benchResult) rememberedRejections() int64 {
	var n int64
	for k, c := range r.codes {
		if code, ok := strings.CutPrefix(k, intake.StatusRejected+":"); ok && intake.Remembered(code) {
			n += c
		}
	}
	return n
}

func benchRun(ctx context.Context, client *http.Client, c benchConfig) *benchResult {
	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	run := fmt.Sprintf("b%x", time.Now().UnixNano())
	res := &benchResult{codes: map[string]int64{}, c: c}
	var mu sync.Mutex
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			var lat []time.Duration
			seq := 0
			for ctx.Err() == nil {
				n := int(sent.Add(int64(c.batch)))
				if n-c.batch >= c.events {
					break
				}
				k := min(c.batch, c.events-(n-c.batch))
				evs := make([]map[string]any, k)
				for i := range evs {
					seq++
					id := fmt.Sprintf("%s-%d-%d", run, w, seq)
					params, evidence := benchBehaviors[c.behavior](id)
					evs[i] = map[string]any{"event_id": id, "person": fmt.Sprintf("bench-%d", rng.IntN(c.persons)), "behavior": c.behavior,
						"occurred_at": time.Now().Add(-time.Duration(rng.IntN(c.spreadDays*24*3600)) * time.Second).UTC().Format(time.RFC3339),
						"params":      params, "evidence": evidence}
				}
				var body []byte
				if c.batch == 1 {
					body, _ = json.Marshal(evs[0])
				} else {
					body, _ = json.Marshal(map[string]any{"events": evs})
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", c.url+"/v1/events", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				partner.SignRequest(req, c.partner, c.secret, body)
				t0 := time.Now()
				resp, err := client.Do(req)
				var out struct {
					Results []struct{ Status, Code string }
				}
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					ok = ok && json.NewDecoder(resp.Body).Decode(&out) == nil
					resp.Body.Close()
				}
				d := time.Since(t0)
				mu.Lock()
				res.requests++
				if !ok {
					if ctx.Err() == nil {
						res.failed++
					}
					mu.Unlock()
					continue
				}
				lat = append(lat, d)
				for _, o := range out.Results {
					res.events++
					switch o.Status {
					case "credited":
						res.credited++
					case "duplicate":
						res.dupes++
					default:
						res.codes[o.Status+":"+o.Code]++
					}
				}
				mu.Unlock()
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}
