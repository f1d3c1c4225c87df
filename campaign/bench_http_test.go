package campaign_test

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/campaign"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/web"
	"github.com/opencarbon/opencarbon/webhook"
)

// BenchmarkLeaderboardHTTP measures GET /v1/campaigns/{id}/leaderboards/{region}
// through the real handler (httptest server, SQLite, person token): "Top100"
// is the anonymous top 100 with display names, "Rank" a signed-in person's
// own rank (limit=1). Members: OPENCARBON_BENCH_HTTP_MEMBERS (default
// 1,000,000) on each backend.
func BenchmarkLeaderboardHTTP(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("OPENCARBON_BENCH_HTTP_MEMBERS")); err == nil && v > 0 {
		n = v
	}
	for _, backend := range []string{"memory", "redis"} {
		b.Run(backend, func(b *testing.B) {
			var board campaign.Board
			if backend == "memory" {
				board = campaign.NewMemBoard()
			} else {
				opt, _ := redis.ParseURL(redisURL())
				rdb := redis.NewClient(opt)
				if err := rdb.Ping(context.Background()).Err(); err != nil {
					storetest.SkipOrFail(b, "redis: "+err.Error())
				}
				var p [6]byte
				crand.Read(p[:])
				prefix := "ocbench:" + hex.EncodeToString(p[:]) + ":"
				b.Cleanup(func() {
					iter := rdb.Scan(context.Background(), 0, prefix+"*", 100).Iterator()
					for iter.Next(context.Background()) {
						rdb.Unlink(context.Background(), iter.Val())
					}
					rdb.Close()
				})
				board = campaign.NewRedisBoard(rdb, prefix)
			}
			url, token := benchServer(b, board, n)
			for _, tc := range []struct{ name, path, tok string }{
				{"Top100", "/v1/campaigns/bench/leaderboards/GD?limit=100", ""},
				{"Rank", "/v1/campaigns/bench/leaderboards/GD?limit=1", token},
			} {
				b.Run(tc.name, func(b *testing.B) {
					req, _ := http.NewRequest("GET", url+tc.path, nil)
					if tc.tok != "" {
						req.Header.Set("Authorization", "Bearer "+tc.tok)
					}
					ds := make([]time.Duration, 0, b.N)
					for i := 0; i < b.N; i++ {
						t := time.Now()
						res, err := http.DefaultClient.Do(req)
						if err != nil || res.StatusCode != 200 {
							b.Fatal(err, res)
						}
						// Read the whole answer, as a client does: it is part of
						// the latency, and only a body read to the end lets the
						// client keep the connection for the next request.
						body, err := io.ReadAll(res.Body)
						res.Body.Close()
						ds = append(ds, time.Since(t))
						if err != nil {
							b.Fatal(err)
						}
						if i == 0 {
							checkBoard(b, body, tc.tok != "")
						}
					}
					slices.Sort(ds)
					b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
				})
			}
		})
	}
}

// checkBoard fails b unless body is the benchmark board's answer: the top
// rows asked for and, with a token, the person's own rank.
func checkBoard(b *testing.B, body []byte, me bool) {
	var lb campaign.Leaderboard
	if err := json.Unmarshal(body, &lb); err != nil {
		b.Fatalf("answer is not a leaderboard: %v: %.200s", err, body)
	}
	if len(lb.Top) == 0 || lb.Members == 0 || (me && (lb.Me == nil || lb.Me.Rank == 0)) || (!me && lb.Me != nil) {
		b.Fatalf("unexpected leaderboard: %.300s", body)
	}
}

func redisURL() string {
	if u := os.Getenv("OPENCARBON_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// benchServer returns a server whose campaign "bench" has n members on
// board GD, and a token of a person who is one of them.
func benchServer(b *testing.B, board campaign.Board, n int) (string, string) {
	ctx := context.Background()
	db := storetest.Open(b, store.SQLite, partner.Migrations, account.Migrations, webhook.Migrations, campaign.Migrations)
	accounts := account.NewService(db)
	a, _, err := accounts.Open(ctx, "bench-person", account.OpenRequest{EntryPoint: "search", ConsentVersion: "v1"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	s := campaign.NewService(db, board)
	if _, err := s.Save(ctx, campaign.Campaign{ID: "bench", TitleZH: "基准", TitleEN: "Bench", TimeZone: "UTC",
		Start: now.Add(-time.Hour).Format(campaign.LocalLayout), End: now.Add(time.Hour).Format(campaign.LocalLayout),
		Regions: []campaign.Region{{Code: "GD"}}}, true); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Join(ctx, "bench", a.ID, "GD", "Bench"); err != nil {
		b.Fatal(err)
	}
	k := campaign.BoardKey{Campaign: "bench", Region: "GD"}
	rng := rand.New(rand.NewPCG(9, 9))
	ups := make([]campaign.Update, n)
	for i := range ups {
		acc := int64(i + 1000)
		if i == n/2 {
			acc = a.ID // the signed-in person, mid-board
		}
		ups[i] = campaign.Update{Key: k, Account: acc, Version: 100, Entry: campaign.Entry{Account: acc, Score: rng.Int64N(50_000) * 100, ReachedAt: now}}
	}
	start := time.Now()
	if rb, ok := board.(*campaign.RedisBoard); ok {
		err = rb.BulkLoad(ctx, k, ups, 1000)
	} else {
		err = board.Apply(ctx, ups)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d members loaded in %v", n, time.Since(start))
	key := []byte("bench-person-token-key-0123456789")
	srv := &web.Server{DB: db, PersonTokenKey: key, Accounts: accounts, Campaigns: s}
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)
	tok, err := web.MintPersonToken(key, "bench-person", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return ts.URL, tok
}
