package honor

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

var testKey = DeriveIssuerKey([]byte("test secret key"))

func newService(t *testing.T, db *store.DB) *Service {
	t.Helper()
	s, err := NewService(db, Config{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// sh is a time in Asia/Shanghai, the zone of the intake's days (the
// methodology engine's).
func sh(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, methodology.DefaultLocation)
}

func enqueue(t *testing.T, db *store.DB, topic string, account int64, body any) {
	t.Helper()
	must(t, db.InTx(context.Background(), func(tx *store.Tx) error {
		return webhook.EnqueueTx(context.Background(), tx, topic, "", account, body)
	}))
}

// drain feeds every pending message to s (HandleMessages, then Ack),
// waiting on PostgreSQL until the newest one is visible to feeds.
func drain(t *testing.T, db *store.DB, s *Service) {
	t.Helper()
	feedAll(t, db, 50, func(ctx context.Context, f *webhook.Feed, msgs []webhook.Message) error {
		if err := s.HandleMessages(ctx, msgs); err != nil {
			return err
		}
		return f.Ack(ctx, msgs[len(msgs)-1])
	})
}

// feedAll reads the medal feed in batches of up to n and gives each to
// apply until the newest message is handled (on PostgreSQL a feed sees a
// message only once older writing transactions have ended).
func feedAll(t *testing.T, db *store.DB, n int, apply func(context.Context, *webhook.Feed, []webhook.Message) error) {
	t.Helper()
	ctx := context.Background()
	f := webhook.NewFeed(db, FeedName)
	var target int64
	must(t, db.Read().QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM outbox WHERE topic <> $1`, webhook.TopicMedalAwarded).Scan(&target))
	seen := target == 0
	for deadline := time.Now().Add(15 * time.Second); ; {
		msgs, err := f.Next(ctx, n)
		must(t, err)
		if len(msgs) == 0 {
			if seen {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("outbox message %d never became visible", target)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		for _, m := range msgs {
			seen = seen || m.ID == target
		}
		must(t, apply(ctx, f, msgs))
	}
}

func held(t *testing.T, s *Service, account int64) map[string]bool {
	t.Helper()
	as, err := s.Medals(context.Background(), account)
	must(t, err)
	out := map[string]bool{}
	for _, a := range as {
		out[a.ID] = true
	}
	return out
}

func TestLevels(t *testing.T) {
	ls := BaoLevels(DefaultBaoLevels)
	for _, tc := range []struct {
		mg       int64
		level    int
		permille int64
	}{
		{0, 0, 0}, {-5, 0, 0}, {50_000, 0, 500}, {99_999, 0, 999}, {100_000, 1, 0},
		{999_999, 1, 999}, {1_000_000, 2, 0}, {10_000_000_000, 6, 1000}, {1 << 62, 6, 1000},
	} {
		t.Run(fmt.Sprint(tc.mg), func(t *testing.T) {
			b := ls.Level(tc.mg)
			if b.Level != tc.level || b.ProgressPermille != tc.permille {
				t.Fatalf("Level(%d) = %+v, want level %d progress %d", tc.mg, b, tc.level, tc.permille)
			}
		})
	}
	t.Run("LargeThresholdsNoOverflow", func(t *testing.T) {
		big, err := NewBaoLevels([]BaoLevel{{0, "a", "a"}, {1 << 62, "b", "b"}})
		must(t, err)
		if b := big.Level(1 << 61); b.ProgressPermille != 500 {
			t.Fatalf("progress %d, want 500", b.ProgressPermille)
		}
	})
	t.Run("Parse", func(t *testing.T) {
		ls, err := ParseBaoLevels("0:蛋:Egg, 5000:芽:Bud")
		must(t, err)
		if ls.Level(5000).NameEN != "Bud" {
			t.Fatalf("%+v", ls)
		}
	})
	for _, spec := range []string{"", "5:蛋:Egg", "0:蛋:Egg,0:芽:Bud", "0:蛋", "0:蛋:Egg,x:a:b", "0::Egg", "0:<b>:Egg"} {
		t.Run("ErrInvalid", func(t *testing.T) {
			if _, err := ParseBaoLevels(spec); oc.ErrorCode(err) != oc.EInvalid {
				t.Fatalf("%q: err = %v", spec, err)
			}
		})
	}
}

func FuzzParseBaoLevels(f *testing.F) {
	f.Add("0:蛋:Egg,100000:破壳:Hatchling")
	f.Add("0:a:b,")
	f.Fuzz(func(t *testing.T, spec string) {
		ls, err := ParseBaoLevels(spec)
		if err != nil {
			return
		}
		for _, mg := range []int64{-1, 0, 1, 1 << 40, 1<<63 - 1} {
			b := ls.Level(mg)
			if b.Level < 0 || b.Level >= len(ls) || b.ProgressPermille < 0 || b.ProgressPermille > 1000 {
				t.Fatalf("Level(%d) = %+v", mg, b)
			}
		}
	})
}

func TestStreaks(t *testing.T) {
	for _, tc := range []struct {
		days          []int64
		current, best int64
	}{
		{nil, 0, 0}, {[]int64{5}, 1, 1}, {[]int64{10, 9, 8, 5, 4}, 3, 3}, {[]int64{10, 7, 6, 5, 4}, 1, 4},
	} {
		c, b := Streaks(tc.days)
		if c != tc.current || b != tc.best {
			t.Errorf("Streaks(%v) = %d %d, want %d %d", tc.days, c, b, tc.current, tc.best)
		}
	}
}

func TestMedals(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		s := newService(t, db)
		s.AddMedalSource(func(context.Context) ([]Medal, error) {
			return []Medal{{ID: "88week-1kg", NameZH: "减碳周", NameEN: "Week", Artwork: "/x.svg", Rule: `mg >= 1000`, Campaign: "88week"},
				{ID: "broken", NameZH: "坏", NameEN: "Broken", Artwork: "/x.svg", Rule: `mg +`}}, nil
		})
		t.Run("StreakAcrossMidnightInShanghai", func(t *testing.T) {
			// 23:50 and 00:10 Shanghai are the same UTC day (15:50, 16:10)
			// but two local days.
			acc := w.open()
			w.credit(acc, "eat", sh(2026, 3, 1, 23, 50))
			w.credit(acc, "eat", sh(2026, 3, 2, 0, 10))
			drain(t, db, s)
			st, err := s.Stats(ctx, acc)
			must(t, err)
			if st.Streak != 2 || st.BestStreak != 2 {
				t.Fatalf("streak %d best %d, want 2 2", st.Streak, st.BestStreak)
			}
			// Same UTC calendar day but 16:00 UTC crosses local midnight; a
			// credit on 3 March local noon continues it, 5 March breaks it.
			w.credit(acc, "eat", sh(2026, 3, 3, 12, 0))
			w.credit(acc, "eat", sh(2026, 3, 5, 12, 0))
			drain(t, db, s)
			st, _ = s.Stats(ctx, acc)
			if st.Streak != 1 || st.BestStreak != 3 {
				t.Fatalf("streak %d best %d, want 1 3", st.Streak, st.BestStreak)
			}
		})
		replayed := w.open() // holds one-kg, for the credential
		t.Run("AwardedExactlyOnceUnderReplay", func(t *testing.T) {
			acc := replayed
			var mg int64
			for i := 0; i < 7; i++ {
				_, m := w.credit(acc, []string{"use", "box", "book"}[i%3], sh(2026, 4, 1+i, 9, 0))
				mg += m
			}
			drain(t, db, s)
			want := []string{"first-step", "one-kg", "week-streak", "all-rounder"}
			got := held(t, s, acc)
			for _, id := range want {
				if !got[id] {
					t.Fatalf("medal %s not awarded: %v", id, got)
				}
			}
			if got["ten-kg"] || got["green-commuter"] || got["88week-1kg"] {
				t.Fatalf("unearned medal: %v", got)
			}
			count := func() (medals, msgs int) {
				db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM honor_medals WHERE account_id = $1`, acc).Scan(&medals)
				db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE topic = $1 AND account_id = $2`, webhook.TopicMedalAwarded, acc).Scan(&msgs)
				return
			}
			m1, n1 := count()
			st1, _ := s.Stats(ctx, acc)
			_, err := db.Write().ExecContext(ctx, `DELETE FROM outbox_cursors WHERE consumer = $1`, FeedName)
			must(t, err)
			drain(t, db, s)
			m2, n2 := count()
			st2, _ := s.Stats(ctx, acc)
			if m1 != len(want) || m2 != m1 || n1 != m1 || n2 != n1 {
				t.Fatalf("medals %d→%d, messages %d→%d, want %d each", m1, m2, n1, n2, len(want))
			}
			if st1.MG != mg || st2.MG != st1.MG || st2.Credits != 7 || st2.BestStreak != 7 || len(st2.Partners) != 3 || st2.Scenarios["use"] != 7 {
				t.Fatalf("stats %+v → %+v, want mg %d, 7 credits of use by 3 partners over 7 days", st1, st2, mg)
			}
		})
		t.Run("ReversalLowersStatsKeepsMedals", func(t *testing.T) {
			acc := w.open()
			use, _ := w.credit(acc, "use", sh(2026, 5, 1, 9, 0))
			eat, _ := w.credit(acc, "eat", sh(2026, 5, 2, 9, 0))
			drain(t, db, s)
			if !held(t, s, acc)["one-kg"] {
				t.Fatal("one-kg not awarded")
			}
			w.reverse("use", use)
			w.reverse("use", use) // answered as before, changes nothing
			w.reverse("eat", eat)
			drain(t, db, s)
			st, _ := s.Stats(ctx, acc)
			if st.MG != 0 || st.Credits != 0 || st.Streak != 0 || len(st.Partners) != 0 || len(st.Scenarios) != 0 {
				t.Fatalf("stats after reversal %+v", st)
			}
			if st.BestStreak != 2 {
				t.Fatalf("best streak %d after reversal, want 2 (it never decreases)", st.BestStreak)
			}
			if !held(t, s, acc)["one-kg"] {
				t.Fatal("medal taken back")
			}
			b, _ := s.Bao(ctx, acc)
			if b.Level != 0 || b.MG != 0 {
				t.Fatalf("bao %+v", b)
			}
		})
		t.Run("CampaignOnlyMedal", func(t *testing.T) {
			acc := w.open()
			w.credit(acc, "eat", sh(2026, 6, 1, 9, 0))
			drain(t, db, s)
			if held(t, s, acc)["88week-1kg"] {
				t.Fatal("campaign medal awarded to a non-member")
			}
			enqueue(t, db, TopicCampaignJoined, acc, map[string]any{"campaign": "88week", "account": acc, "region": "GD"})
			drain(t, db, s)
			got := held(t, s, acc)
			if !got["88week-1kg"] || !got["campaigner"] || got["broken"] {
				t.Fatalf("medals %v", got)
			}
			if st, _ := s.Stats(ctx, acc); !slices.Equal(st.Campaigns, []string{"88week"}) {
				t.Fatalf("campaigns %v", st.Campaigns)
			}
		})
		t.Run("CredentialVerifiesOffline", func(t *testing.T) {
			jws, err := s.IssueCredential(ctx, replayed, "person-2", "one-kg", "https://carbon.example/")
			must(t, err)
			doc := s.Issuer("https://carbon.example")
			pub, err := ParseJWK(doc.Keys[0])
			must(t, err)
			c, err := VerifyCredential(jws, pub)
			must(t, err)
			if c.Issuer.ID != "https://carbon.example" || c.CredentialSubject.Achievement.ID != "https://carbon.example/v1/medals/one-kg" {
				t.Fatalf("credential %+v", c)
			}
			if strings.Contains(jws, "person-2") || strings.Contains(string(mustDecode(t, strings.Split(jws, ".")[1])), "person-2") {
				t.Fatal("raw person id in the credential")
			}
			id := c.CredentialSubject.Identifier[0]
			if id.IdentityHash != "sha256$"+sha256Hex("person-2"+id.Salt) {
				t.Fatal("identity hash does not match person + salt")
			}
			t.Run("ErrTampered", func(t *testing.T) {
				p := strings.Split(jws, ".")
				body := strings.Replace(string(mustDecode(t, p[1])), "one-kg", "ten-kg", -1)
				forged := p[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(body)) + "." + p[2]
				if _, err := VerifyCredential(forged, pub); oc.ErrorCode(err) != oc.EInvalid {
					t.Fatalf("tampered credential: %v", err)
				}
			})
			t.Run("ErrOtherKey", func(t *testing.T) {
				other := DeriveIssuerKey([]byte("other")).Public().(ed25519.PublicKey)
				if _, err := VerifyCredential(jws, other); oc.ErrorCode(err) != oc.EInvalid {
					t.Fatalf("other key: %v", err)
				}
			})
			t.Run("ErrNotHeld", func(t *testing.T) {
				if _, err := s.IssueCredential(ctx, replayed, "person-2", "ten-kg", "https://x"); oc.ErrorCode(err) != oc.ENotFound {
					t.Fatalf("err = %v", err)
				}
			})
		})
	})
}

func TestNewServiceRefusesBadRules(t *testing.T) {
	db := storetest.Open(t, store.SQLite, comps...)
	for _, m := range []Medal{
		{ID: "x1", NameZH: "a", NameEN: "a", Artwork: "/a", Rule: `mg`},
		{ID: "x2", NameZH: "a", NameEN: "a", Artwork: "/a", Rule: `unknown > 1`},
		{ID: "Bad Id", NameZH: "a", NameEN: "a", Artwork: "/a", Rule: `true`},
	} {
		if _, err := NewService(db, Config{Key: testKey, Medals: []Medal{m}}); oc.ErrorCode(err) != oc.EInvalid {
			t.Errorf("%+v: err = %v", m, err)
		}
	}
}

func FuzzVerifyCredential(f *testing.F) {
	good, _ := SignCredential(Credential{Context: []string{ContextVC, ContextOB}, Type: []string{"VerifiableCredential", "OpenBadgeCredential"}}, testKey)
	f.Add(good)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	pub := testKey.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := VerifyCredential(s, pub)
		if err == nil && s != good {
			// Any other accepted input must carry a valid signature by
			// the key, which fuzzing cannot forge.
			parts := strings.Split(s, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) || c == nil {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

// TestOneBatch hands every message of a few accounts to a single
// HandleMessages call: a credit and its reversal, credits of several
// accounts over three days, a message repeated in the batch and a campaign
// join; then hands the whole batch again (a replay).
func TestOneBatch(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		s := newService(t, db)
		at := sh(2026, 7, 1, 9, 0)
		a, b, c := w.open(), w.open(), w.open()
		x, _ := w.credit(a, "eat", at)
		w.reverse("eat", x)
		var mg int64
		for i := range 3 {
			for _, acc := range []int64{a, b} {
				_, m := w.credit(acc, "use", at.AddDate(0, 0, i))
				mg += m
			}
		}
		enqueue(t, db, TopicCampaignJoined, c, map[string]any{"campaign": "88week", "account": c})
		var msgs []webhook.Message
		feedAll(t, db, runBatch, func(ctx context.Context, f *webhook.Feed, ms []webhook.Message) error {
			msgs = append(msgs, ms...)
			return f.Ack(ctx, ms[len(ms)-1])
		})
		msgs = append(msgs, msgs[0]) // a message repeated in the batch
		for round := range 2 {       // the second round is a replay: nothing changes
			must(t, s.HandleMessages(ctx, msgs))
			for _, tc := range []struct {
				acc             int64
				mg, credits, bs int64
				medals          []string
			}{{a, mg / 2, 3, 3, []string{"first-step", "one-kg"}}, {b, mg / 2, 3, 3, []string{"first-step", "one-kg"}}, {c, 0, 0, 0, []string{"campaigner"}}} {
				st, err := s.Stats(ctx, tc.acc)
				must(t, err)
				if st.MG != tc.mg || st.Credits != tc.credits || st.BestStreak != tc.bs || st.Scenarios["eat"] != 0 {
					t.Fatalf("round %d: account %d stats %+v", round, tc.acc, st)
				}
				var n int
				must(t, db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE topic = $1 AND account_id = $2`, webhook.TopicMedalAwarded, tc.acc).Scan(&n))
				h := held(t, s, tc.acc)
				for _, id := range tc.medals {
					if !h[id] {
						t.Fatalf("round %d: account %d lacks %s: %v", round, tc.acc, id, h)
					}
				}
				if len(h) != len(tc.medals) || n != len(tc.medals) {
					t.Fatalf("round %d: account %d medals %v, %d messages; want %v, each announced once", round, tc.acc, h, n, tc.medals)
				}
			}
			st, _ := s.Stats(ctx, c)
			if !slices.Equal(st.Campaigns, []string{"88week"}) {
				t.Fatalf("join not counted once: %+v", st)
			}
		}
	})
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

// TestRunBatchesATrickle posts credits one at a time, a few milliseconds
// apart, while Run consumes the feed: Run must handle them in about one
// batch per poll interval (not one per credit) and see every credit.
func TestRunBatchesATrickle(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := newService(t, db)
		acc := w.open()
		ctx, cancel := context.WithCancel(context.Background())
		var batches, credits atomic.Int64
		done := make(chan error, 1)
		const poll = 100 * time.Millisecond
		t0 := time.Now()
		go func() {
			done <- s.run(ctx, poll, poll, func(ms []webhook.Message) {
				batches.Add(1)
				for _, m := range ms {
					if m.Topic == webhook.TopicCreditCreated {
						credits.Add(1)
					}
				}
			})
		}()
		const n = 40
		for i := range n {
			w.credit(acc, "eat", sh(2026, 8, 1, 9, 0).AddDate(0, 0, i))
			time.Sleep(5 * time.Millisecond)
		}
		for deadline := time.Now().Add(15 * time.Second); credits.Load() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d credits handled, want %d", credits.Load(), n)
			}
		}
		elapsed := time.Since(t0)
		cancel()
		<-done
		// One batch per poll interval, plus the first read and one more
		// for a read that raced a poll boundary.
		if b, limit := batches.Load(), int64(elapsed/poll)+2; b > limit || b >= n {
			t.Fatalf("%d batches for %d credits in %v, want at most %d", b, credits.Load(), elapsed, limit)
		}
		if h := held(t, s, acc); !h["clean-plate"] || !h["week-streak"] {
			t.Fatalf("medals %v, want clean-plate and week-streak", h)
		}
	})
}
