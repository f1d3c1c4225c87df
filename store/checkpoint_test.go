package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCheckpointer: under a sustained write load with readers reading all
// the while, the WAL keeps restarting and its file stays under
// walSizeLimit; once writes stop it is truncated to nothing, and Close
// leaves no WAL behind.
func TestCheckpointer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ckpt.db")
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			db.Close()
		}
	}()
	_, err = db.Write().ExecContext(ctx, `CREATE TABLE rows (id INTEGER PRIMARY KEY, a TEXT NOT NULL, b TEXT NOT NULL, c BIGINT NOT NULL, body TEXT NOT NULL);
		CREATE INDEX rows_a ON rows (a); CREATE INDEX rows_b ON rows (b); CREATE INDEX rows_c ON rows (c)`)
	if err != nil {
		t.Fatal(err)
	}
	walSize := func() int64 {
		st, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return st.Size()
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var commits, reads atomic.Int64
	fail := make(chan error, 8)
	// Two writers, like the intake and a consumer, of small transactions
	// with random index keys: each commit writes pages all over the indexes.
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				err := db.InTx(ctx, func(tx *Tx) error {
					for range 20 {
						_, err := tx.ExecContext(ctx, `INSERT INTO rows (a, b, c, body) VALUES ($1, $2, $3, $4)`,
							fmt.Sprintf("%016x", rng.Uint64()), fmt.Sprintf("%016x", rng.Uint64()), rng.Int64(), fmt.Sprintf("%0200d", n))
						if err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					fail <- err
					return
				}
				commits.Add(1)
			}
		}()
	}
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int
				err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM rows WHERE a >= $1 AND a < $2`,
					fmt.Sprintf("%016x", rng.Uint64()), fmt.Sprintf("%016x", rng.Uint64())).Scan(&n)
				if err != nil {
					fail <- err
					return
				}
				reads.Add(1)
			}
		}()
	}

	// Watch the WAL for at least two seconds and until it restarted a few
	// times (slower under the race detector): its file size, and its frame
	// count (a PASSIVE checkpoint of our own reports it), which drops when
	// it restarts.
	var maxSize int64
	restarts, last := 0, 0
	start := time.Now()
	for time.Since(start) < 2*time.Second || restarts < 3 && time.Since(start) < 20*time.Second {
		time.Sleep(20 * time.Millisecond)
		maxSize = max(maxSize, walSize())
		_, frames, _, err := db.ckpt.checkpoint(ctx, "PASSIVE")
		if err != nil {
			t.Fatal(err)
		}
		if frames < last {
			restarts++
		}
		last = frames
	}
	close(stop)
	wg.Wait()
	close(fail)
	for err := range fail {
		t.Fatal(err)
	}
	t.Logf("%d commits, %d reads, %d WAL restarts seen, WAL file at most %d KiB", commits.Load(), reads.Load(), restarts, maxSize>>10)
	if maxSize > walSizeLimit {
		t.Errorf("WAL file grew to %d bytes; want at most %d", maxSize, walSizeLimit)
	}
	if restarts < 3 {
		t.Errorf("the WAL restarted %d times under load; want it to keep restarting", restarts)
	}

	// Idle: the checkpointer truncates it.
	for wait := time.Now().Add(5 * time.Second); walSize() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("WAL still %d bytes 5 s after the writes stopped; want it truncated", walSize())
		}
	}

	// A last write, then Close: the WAL is copied and removed.
	err = db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO rows (a, b, c, body) VALUES ('x', 'y', 1, 'z')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := walSize(); n > 0 {
		t.Errorf("WAL is %d bytes after Close; want none", n)
	}
}
