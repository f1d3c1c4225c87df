package intake_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestAnsweredOnceDurable: on SQLite a request is answered only once an
// fsync of the WAL that started after its group commit has finished; while
// that fsync runs, the writer already commits the next batch.
func TestAnsweredOnceDurable(t *testing.T) {
	db := storetest.Open(t, store.SQLite, comps...)
	var hold atomic.Bool
	started, release := make(chan struct{}, 64), make(chan struct{})
	store.WrapWALSync(db, func(fsync func() error) func() error {
		return func() error {
			if hold.Load() {
				started <- struct{}{}
				<-release
			}
			return fsync()
		}
	})
	e := newEnv(t, db, intake.Config{})
	e.open("alice", "eleme")
	hold.Store(true)
	answered := make(chan []intake.Outcome, 2)
	go func() { answered <- e.submit("eleme", cutlery("d1", "alice", "D1")) }()
	<-started // d1's batch is committed and its fsync held
	visible := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); count(t, db, `SELECT COUNT(*) FROM intake_events WHERE event_id = $1`, id) == 0; {
			if time.Now().After(deadline) {
				t.Fatalf("%s was not committed", id)
			}
			time.Sleep(time.Millisecond)
		}
	}
	visible("d1")
	go func() { answered <- e.submit("eleme", cutlery("d2", "alice", "D2")) }()
	visible("d2") // the writer went on while d1's fsync was held
	select {
	case out := <-answered:
		t.Fatalf("answered %+v before the fsync finished", out)
	case <-time.After(50 * time.Millisecond):
	}
	hold.Store(false)
	close(release)
	for range 2 {
		if out := <-answered; out[0].Status != intake.StatusCredited {
			t.Fatalf("after the fsync: %+v", out)
		}
	}
}
