package store

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// checkpointer keeps the SQLite WAL small without making the writer copy it.
//
// A checkpoint copies the pages written to the WAL back into the database
// file; once every frame is copied and no reader still reads from the WAL,
// the writer's next transaction starts the WAL over from its beginning. By
// default the writer does this itself: the commit that takes the WAL past
// 1000 pages copies them and fsyncs the file while every queued request
// waits; under the single-event HTTP bench that is a stall of about 10 ms
// more than ten times a second.
//
// Here the bulk of the copying is done from a connection of its own with
// PASSIVE checkpoints, which never wait for and never block the writer or
// the readers. PASSIVE alone never catches up with a writer that keeps
// appending, though: it copies up to the WAL's end as it was when it began,
// and the WAL restarts only once a checkpoint has reached its current end
// (only then is the database file fsynced) and no reader is left on the old
// frames. So once the WAL has grown past walRestartFrames, the checkpointer
// takes the writer's one connection, which pauses the writer between two
// transactions (its queue meanwhile grows into a larger group commit), and
// runs a RESTART checkpoint: it copies the frames written since the last
// pass, fsyncs, and waits for the readers still on old frames (reads are
// short) so that the next transaction restarts the WAL. When writes stop,
// a TRUNCATE empties the WAL file.
//
// RESTART and TRUNCATE wait for readers with the busy timeout, and hold
// every writer off while they wait. The checkpointer's connection has none:
// it retries for a few milliseconds (see patience) and tries again on a
// later tick, so a long read can make the WAL grow (as with any
// checkpoint) but never stalls the writer for long.
type checkpointer struct {
	conn      *sql.DB // its own connection
	write     *sql.DB // the writer pool (one connection)
	every     time.Duration
	restartAt int // WAL frames

	stop    func()
	done    chan struct{}
	lastLog time.Time // of a failure; only run uses it
}

// The checkpointer's defaults. At the single-event HTTP bench's peak (about
// 1,900 events/s on two cores) the service writes 12,000 to 15,000 WAL
// frames (50 to 60 MiB) a second: the WAL restarts several times a second
// and its file peaked at 17 to 25 MiB (51 MiB with 1000-event batches,
// whose single commits are large).
const (
	checkpointEvery  = 100 * time.Millisecond
	walRestartFrames = 2048 // 8 MiB of 4 KiB pages
	// The writer's own automatic checkpoint, a backstop should the
	// checkpointer fall behind (it then costs what it used to: a copy
	// and an fsync inside a commit).
	walAutocheckpoint = 8 * walRestartFrames
	// A WAL that grew large (a long read kept it from restarting) is cut
	// back to this size when it next restarts.
	walSizeLimit = 64 << 20
)

func startCheckpointer(path string, write *sql.DB) (*checkpointer, error) {
	// synchronous(FULL): a checkpoint fsyncs the WAL before it copies
	// and the database file after, as the writer's own would.
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxIdleTime(0)
	conn.SetConnMaxLifetime(0)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{conn: conn, write: write, every: checkpointEvery, restartAt: walRestartFrames,
		stop: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.every)
	defer t.Stop()
	idle := -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, frames, copied, err := c.checkpoint(ctx, "PASSIVE")
		switch {
		case err != nil:
		case frames > 0 && frames == copied && frames == idle:
			// No commit since the last tick, and all copied.
			err = c.paused(ctx, "TRUNCATE", pauseFor)
		case frames >= c.restartAt:
			err = c.paused(ctx, "RESTART", patience(frames/c.restartAt))
		}
		if err != nil && ctx.Err() == nil {
			c.logf("sqlite wal checkpoint failed", err)
		}
		idle = frames
	}
}

// checkpoint runs one checkpoint on the checkpointer's connection. It
// returns whether it stopped short for a reader or another writer or
// checkpointer, the number of frames in the WAL and how many of them are in
// the database file.
func (c *checkpointer) checkpoint(ctx context.Context, mode string) (busy bool, frames, copied int, err error) {
	err = c.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
	return busy, frames, copied, err
}

// pauseFor bounds how long a paused checkpoint retries while readers are
// still on old frames, when the WAL has just passed walRestartFrames.
const pauseFor = 5 * time.Millisecond

// patience is how long a paused checkpoint may wait for readers when the
// WAL holds n times walRestartFrames: 5 ms, then twice as long for each
// further multiple, up to 80 ms. Readers slow to finish (a saturated CPU,
// long scans) would otherwise keep the WAL from restarting while the
// writer, no longer slowed by its own checkpoints, grows it without bound:
// the further the WAL is past walRestartFrames, the longer the writer waits
// instead (measured by TestCheckpointer: 80 MiB WALs with a fixed 5 ms
// and 16 MiB frames, 10 to 20 MiB with this and 8 MiB).
func patience(n int) time.Duration {
	return pauseFor << min(max(n-1, 0), 4)
}

// paused runs a checkpoint while it holds the writer's connection, so that
// no write transaction of this process appends to the WAL meanwhile. While
// readers keep it from completing it retries for up to wait.
func (c *checkpointer) paused(ctx context.Context, mode string, wait time.Duration) error {
	w, err := c.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer w.Close()
	for end := time.Now().Add(wait); ; {
		busy, _, _, err := c.checkpoint(ctx, mode)
		if err != nil || !busy || time.Now().After(end) {
			return err
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// logf logs a failure at most once a minute: the next tick tries again.
// SQLITE_BUSY is no failure: the checkpointer has no busy timeout and
// meets another process's checkpoint or writer now and then.
func (c *checkpointer) logf(msg string, err error) {
	if IsRetryable(err) {
		return
	}
	if time.Since(c.lastLog) < time.Minute {
		return
	}
	c.lastLog = time.Now()
	slog.Warn(msg, "err", err)
}

// close stops the checkpointer and closes its connection. It must run
// before the writer and the readers close: the last connection to close
// copies what is left and deletes the WAL.
func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return c.conn.Close()
}
