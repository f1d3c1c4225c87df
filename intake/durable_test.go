package intake_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestAnsweredOnceDurable: on SQLite a request is answered only once an
// fsync of the WAL that started after its group commit has finished; while
// that fsync runs, the writer already commits the next batches, and those
// share the next fsync.
func TestAnsweredOnceDurable(t *testing.T) {
	db := storetest.Open(t, store.SQLite, comps...)
	var hold atomic.Bool
	var calls atomic.Int64 // fsyncs while held or after
	started, release := make(chan struct{}, 64), make(chan struct{})
	store.WrapWALSync(db, func(fsync func() error) func() error {
		return func() error {
			if hold.Load() {
				calls.Add(1)
				started <- struct{}{}
				<-release
			}
			return fsync()
		}
	})
	e := newEnv(t, db, intake.Config{})
	e.open("alice", "eleme")
	hold.Store(true)
	answered := make(chan []intake.Outcome, 3)
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
	go func() { answered <- e.submit("eleme", cutlery("d3", "alice", "D3")) }()
	visible("d3") // a third batch
	select {
	case out := <-answered:
		t.Fatalf("answered %+v before the fsync finished", out)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	for range 3 {
		if out := <-answered; out[0].Status != intake.StatusCredited {
			t.Fatalf("after the fsync: %+v", out)
		}
	}
	// d1's fsync, then one for d2 and d3 together.
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d fsyncs for three batches, the last two committed during the first; want 2", n)
	}
	if n := e.svc.Stats().Batches; n < 3 {
		t.Fatalf("%d batches; want d1, d2 and d3 in their own", n)
	}
}

// TestSubmitAfterClose: after Close every Submit fails with EInternal,
// whether its job was refused at the queue or slipped into it after the
// writer had stopped (it used to wait for an answer forever).
func TestSubmitAfterClose(t *testing.T) {
	db := storetest.Open(t, store.SQLite, comps...)
	e := newEnv(t, db, intake.Config{})
	e.open("alice", "eleme")
	e.svc.Close()
	for i := range 50 {
		_, err := e.svc.Submit(context.Background(), "eleme", []intake.Event{cutlery(fmt.Sprintf("late-%d", i), "alice", "L")})
		if oc.ErrorCode(err) != oc.EInternal {
			t.Fatalf("Submit after Close: %v; want %s", err, oc.EInternal)
		}
	}
	if n := count(t, db, `SELECT COUNT(*) FROM intake_events`); n != 0 {
		t.Fatalf("%d events written after Close", n)
	}
}
