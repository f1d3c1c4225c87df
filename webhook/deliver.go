package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// Delivery states.
const (
	StatusPending   = "pending"   // waiting for its next attempt
	StatusDelivered = "delivered" // the receiver answered 2xx
	StatusDead      = "dead"      // gave up after MaxAttempts; an admin may retry
)

// HeaderDelivery carries the delivery id, the same on every attempt of one
// delivery: receivers dedup on it (delivery is at least once).
const HeaderDelivery = "X-OC-Delivery"

// FeedName is the outbox consumer name of webhook delivery.
const FeedName = "webhooks"

// DeliveredTopics are the topics posted to partners; other topics stay
// internal (e.g. medal.awarded feeds medal checks, not partners).
var DeliveredTopics = map[string]bool{
	TopicCreditCreated:   true,
	TopicCreditReversed:  true,
	TopicVoucherIssued:   true,
	TopicVoucherRedeemed: true,
	TopicPointsExpiring:  true,
}

// Endpoints tells where a partner receives webhooks and with which secret
// they are signed. *partner.Service implements it.
type Endpoints interface {
	// Endpoint returns the partner's webhook URL ("" if none) and its
	// current signing secret.
	Endpoint(ctx context.Context, partnerID string) (webhookURL, secret string, err error)
}

// Envelope is the JSON body of every webhook POST.
type Envelope struct {
	ID        string          `json:"id"` // the delivery id, also in X-OC-Delivery
	Topic     string          `json:"topic"`
	CreatedAt time.Time       `json:"created_at"` // when the change committed
	Data      json.RawMessage `json:"data"`       // the outbox message body
}

// Delivery is one message on its way to one partner.
type Delivery struct {
	ID          int64      `json:"id"`
	EventID     string     `json:"event_id"` // the X-OC-Delivery value
	MessageID   int64      `json:"message_id"`
	Partner     string     `json:"partner"`
	Topic       string     `json:"topic"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	NextAt      time.Time  `json:"next_at"`
	LastStatus  int        `json:"last_status,omitempty"` // HTTP status of the last attempt (0: no answer)
	LastError   string     `json:"last_error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// EventID returns the X-OC-Delivery value of delivery id.
func EventID(id int64) string { return "dlv_" + strconv.FormatInt(id, 10) }

// Deliverer turns outbox messages into signed webhook POSTs with retries.
// Set the exported fields before Run; zero values take the defaults.
type Deliverer struct {
	DB        *store.DB
	Endpoints Endpoints
	Client    *http.Client // default: 10 s timeout, no redirects followed
	Logger    *slog.Logger

	// MaxAttempts bounds the attempts of one delivery before it is dead
	// (default 8). BaseDelay is the wait after the first failure, doubled
	// after each further one up to MaxDelay (defaults 30 s and 1 h: eight
	// attempts span about two hours). Each wait is jittered to [d/2, d].
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	// Poll is the idle wait between scans for due deliveries (default 1 s).
	Poll time.Duration
	// Lease is how long a claimed delivery is hidden from other workers
	// while it is being sent (default 1 min); a crashed sender's delivery
	// is retried when it ends.
	Lease time.Duration
	// Workers bounds the concurrent POSTs (default 8).
	Workers int
	// Retention is how long delivered rows are kept (default 30 days);
	// Run prunes older ones once an hour. Dead letters are kept until an
	// admin retries them.
	Retention time.Duration
}

// NewDeliverer returns a deliverer with the default settings.
func NewDeliverer(db *store.DB, endpoints Endpoints) *Deliverer {
	return &Deliverer{DB: db, Endpoints: endpoints}
}

func (d *Deliverer) defaults() {
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 8
	}
	if d.BaseDelay <= 0 {
		d.BaseDelay = 30 * time.Second
	}
	if d.MaxDelay <= 0 {
		d.MaxDelay = time.Hour
	}
	if d.Poll <= 0 {
		d.Poll = time.Second
	}
	if d.Lease <= 0 {
		d.Lease = time.Minute
	}
	if d.Workers <= 0 {
		d.Workers = 8
	}
	if d.Retention <= 0 {
		d.Retention = 30 * 24 * time.Hour
	}
	if d.Client == nil {
		d.Client = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
}

// Run consumes the outbox feed into delivery rows and sends due deliveries
// until ctx ends. Several processes may run it: the feed handler is
// idempotent and each delivery is claimed by one sender at a time.
func (d *Deliverer) Run(ctx context.Context) error {
	d.defaults()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		NewFeed(d.DB, FeedName).Run(ctx, d.Poll, d.Enqueue)
	}()
	var pruned time.Time
	for {
		if now := d.DB.Now(); now.Sub(pruned) > time.Hour {
			pruned = now
			if _, err := d.PruneDelivered(ctx, now.Add(-d.Retention)); err != nil && ctx.Err() == nil {
				d.Logger.Warn("webhook delivery prune failed", "err", err)
			}
		}
		n, err := d.SendDue(ctx)
		if err != nil && ctx.Err() == nil {
			d.Logger.Warn("webhook delivery pass failed", "err", err)
		}
		wait := d.Poll
		if n > 0 && err == nil {
			wait = 0
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Enqueue creates a pending delivery for each message of a delivered topic
// whose partner has a webhook URL. A message seen twice (the feed is at
// least once) creates its delivery once.
func (d *Deliverer) Enqueue(ctx context.Context, msgs []Message) error {
	urls := map[string]bool{}
	var todo []Message
	for _, m := range msgs {
		if m.Partner == "" || !DeliveredTopics[m.Topic] {
			continue
		}
		has, seen := urls[m.Partner]
		if !seen {
			u, _, err := d.Endpoints.Endpoint(ctx, m.Partner)
			if err != nil && oc.ErrorCode(err) != oc.ENotFound {
				return fmt.Errorf("webhook endpoint %s: %w", m.Partner, err)
			}
			has = err == nil && u != ""
			urls[m.Partner] = has
		}
		if has {
			todo = append(todo, m)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	return d.DB.InTx(ctx, func(tx *store.Tx) error {
		now := store.Micros(tx.Now)
		for _, m := range todo {
			var id int64
			err := tx.QueryRowContext(ctx, `INSERT INTO webhook_deliveries (message_id, partner, topic, body, status, next_at, created_at)
				VALUES ($1, $2, $3, '', $4, $5, $5) ON CONFLICT (message_id, partner) DO NOTHING RETURNING id`,
				m.ID, m.Partner, m.Topic, StatusPending, now).Scan(&id)
			if isNoRows(err) {
				continue // already enqueued by an earlier pass
			}
			if err != nil {
				return fmt.Errorf("enqueue delivery: %w", err)
			}
			data, err := m.Data()
			if err != nil {
				return fmt.Errorf("enqueue delivery: %w", err)
			}
			body, err := json.Marshal(Envelope{ID: EventID(id), Topic: m.Topic, CreatedAt: m.CreatedAt, Data: data})
			if err != nil {
				return fmt.Errorf("enqueue delivery: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET body = $2 WHERE id = $1`, id, string(body)); err != nil {
				return fmt.Errorf("enqueue delivery: %w", err)
			}
		}
		return nil
	})
}

// claimed is a delivery taken for one attempt.
type claimed struct {
	id       int64
	partner  string
	body     string
	attempts int
}

// SendDue makes one attempt at every delivery that is due now (up to 100)
// and returns how many it attempted.
func (d *Deliverer) SendDue(ctx context.Context) (int, error) {
	d.defaults()
	now := d.DB.Now()
	rows, err := d.DB.Read().QueryContext(ctx, `SELECT id FROM webhook_deliveries WHERE status = $1 AND next_at <= $2 ORDER BY next_at, id LIMIT 100`,
		StatusPending, store.Micros(now))
	if err != nil {
		return 0, fmt.Errorf("due deliveries: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("due deliveries: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("due deliveries: %w", err)
	}
	var claims []claimed
	for _, id := range ids {
		c, ok, err := d.claim(ctx, id)
		if err != nil {
			return 0, err
		}
		if ok {
			claims = append(claims, c)
		}
	}
	sem := make(chan struct{}, d.Workers)
	var wg sync.WaitGroup
	errs := make(chan error, len(claims))
	for _, c := range claims {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			status, sendErr := d.post(ctx, c)
			if err := d.record(ctx, c, status, sendErr); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return len(claims), <-errs
}

// claim takes delivery id for one attempt by pushing its next_at past the
// lease, so no other sender takes it meanwhile.
func (d *Deliverer) claim(ctx context.Context, id int64) (claimed, bool, error) {
	var c claimed
	ok := false
	err := d.DB.InTx(ctx, func(tx *store.Tx) error {
		now := store.Micros(tx.Now)
		err := tx.QueryRowContext(ctx, `UPDATE webhook_deliveries SET next_at = $3
			WHERE id = $1 AND status = $2 AND next_at <= $4 RETURNING id, partner, body, attempts`,
			id, StatusPending, store.Micros(tx.Now.Add(d.Lease)), now).Scan(&c.id, &c.partner, &c.body, &c.attempts)
		if isNoRows(err) {
			return nil // taken by another sender, or retried by an admin
		}
		ok = err == nil
		return err
	})
	if err != nil {
		return c, false, fmt.Errorf("claim delivery %d: %w", id, err)
	}
	return c, ok, nil
}

// record stores the outcome of one attempt: delivered, retried later with
// backoff, or dead after MaxAttempts.
func (d *Deliverer) record(ctx context.Context, c claimed, status int, sendErr error) error {
	attempts := c.attempts + 1
	return d.DB.InTx(ctx, func(tx *store.Tx) error {
		now := tx.Now
		var err error
		switch {
		case sendErr == nil:
			_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status = $4, last_error = '', delivered_at = $5 WHERE id = $1`,
				c.id, StatusDelivered, attempts, status, store.Micros(now))
		case attempts >= d.MaxAttempts:
			d.Logger.Warn("webhook delivery dead", "delivery", c.id, "partner", c.partner, "attempts", attempts, "err", sendErr)
			_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status = $4, last_error = $5 WHERE id = $1`,
				c.id, StatusDead, attempts, status, truncate(sendErr.Error(), 500))
		default:
			next := now.Add(d.backoff(attempts))
			_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = $2, last_status = $3, last_error = $4, next_at = $5 WHERE id = $1`,
				c.id, attempts, status, truncate(sendErr.Error(), 500), store.Micros(next))
		}
		if err != nil {
			return fmt.Errorf("record delivery %d: %w", c.id, err)
		}
		return nil
	})
}

// backoff returns the wait after the n-th failed attempt (n ≥ 1):
// BaseDelay·2^(n-1) capped at MaxDelay, jittered uniformly to [d/2, d] so
// that many deliveries failing together do not retry together.
func (d *Deliverer) backoff(n int) time.Duration {
	w := d.BaseDelay
	for i := 1; i < n && w < d.MaxDelay; i++ {
		w *= 2
	}
	w = min(w, d.MaxDelay)
	half := w / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
