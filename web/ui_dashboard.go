package web

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/opencarbon/opencarbon/webhook"
)

// The console dashboard counts credits per minute and per behavior. The
// domain services keep no such aggregate, and web must not run SQL, so the
// UI follows the transactional outbox (credit.created, credit.reversed)
// with its own durable feed, DashboardFeed, and keeps the counts in memory:
// they cover what was credited since this process started following (the
// per-minute series keeps the last dashboardMinutes minutes). The page says
// so, and says when the feed is not running.

// DashboardFeed is the outbox consumer name of the console dashboard.
const DashboardFeed = "ui-dashboard"

// dashboardMinutes is the length of the per-minute series.
const dashboardMinutes = 30

type creditStats struct {
	mu         sync.Mutex
	running    bool
	since      time.Time
	perMinute  map[int64]*countMG // unix minute → credits
	byBehavior map[string]*countMG
}

type countMG struct{ N, MG int64 }

func newCreditStats() *creditStats {
	return &creditStats{perMinute: map[int64]*countMG{}, byBehavior: map[string]*countMG{}}
}

func (cs *creditStats) add(b webhook.CreditBody, sign int64) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	at := b.CreditedAt
	if sign < 0 && !b.ReversedAt.IsZero() {
		at = b.ReversedAt
	}
	min := at.Unix() / 60
	m := cs.perMinute[min]
	if m == nil {
		m = &countMG{}
		cs.perMinute[min] = m
	}
	m.N += sign
	m.MG += sign * b.MG
	k := cs.byBehavior[b.Behavior]
	if k == nil {
		k = &countMG{}
		cs.byBehavior[b.Behavior] = k
	}
	k.N += sign
	k.MG += sign * b.MG
	cutoff := time.Now().Unix()/60 - 24*60
	for t := range cs.perMinute {
		if t < cutoff {
			delete(cs.perMinute, t)
		}
	}
}

// RunDashboard follows the outbox for the console dashboard until ctx
// ends. Call it after Handler, from the process's background workers.
func (s *Server) RunDashboard(ctx context.Context, poll time.Duration) error {
	if s.ui == nil || s.DB == nil {
		return errors.New("web: RunDashboard needs Handler to be called first and a database")
	}
	cs := s.ui.stats
	cs.mu.Lock()
	cs.running, cs.since = true, time.Now()
	cs.mu.Unlock()
	defer func() { cs.mu.Lock(); cs.running = false; cs.mu.Unlock() }()
	return webhook.NewFeed(s.DB, DashboardFeed).Run(ctx, poll, func(ctx context.Context, msgs []webhook.Message) error {
		for _, m := range msgs {
			var sign int64
			switch m.Topic {
			case webhook.TopicCreditCreated:
				sign = 1
			case webhook.TopicCreditReversed:
				sign = -1
			default:
				continue
			}
			b, err := m.Credit()
			if err != nil {
				s.Logger.Warn("ui dashboard: undecodable credit message", "id", m.ID, "err", err)
				continue
			}
			cs.add(b, sign)
		}
		return nil
	})
}

type dashboardView struct {
	uiPage
	Running   bool
	Since     string
	Minutes   barView
	Behaviors []behaviorRow
	ByBehav   barView
	Total     int64
	TotalMG   int64
}

type behaviorRow struct {
	Behavior string
	N, MG    int64
}

func (s *Server) pageDashboard(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	if rq.console.Kind == kindReviewer {
		see(w, r, "/console/methodologies")
		return
	}
	v := &dashboardView{uiPage: uiPage{TitleKey: "console.dashboard.title", Nav: "dashboard", Console: true}}
	cs := s.ui.stats
	cs.mu.Lock()
	v.Running = cs.running
	v.Since = cs.since.In(time.Local).Format("2006-01-02 15:04:05 MST")
	now := time.Now().Unix() / 60
	var items []chartItem
	for i := int64(dashboardMinutes - 1); i >= 0; i-- {
		var n int64
		if m := cs.perMinute[now-i]; m != nil {
			n = m.N
		}
		label := ""
		if i%10 == 0 {
			label = time.Unix((now-i)*60, 0).In(time.Local).Format("15:04")
		}
		items = append(items, chartItem{Label: label, MG: n, Color: chartColors[0], Value: ""})
		v.Total += n
	}
	for k, c := range cs.byBehavior {
		v.Behaviors = append(v.Behaviors, behaviorRow{Behavior: k, N: c.N, MG: c.MG})
	}
	cs.mu.Unlock()
	sort.Slice(v.Behaviors, func(i, j int) bool { return v.Behaviors[i].N > v.Behaviors[j].N })
	t := v.base()
	t.cat = rq.rt.catalog[rq.lang]
	v.Minutes = newBarChart(t.T("console.dashboard.per_minute_alt", dashboardMinutes, v.Total), items)
	var bitems []chartItem
	for i, b := range v.Behaviors {
		v.TotalMG += b.MG
		if i < 8 {
			bitems = append(bitems, chartItem{Label: strconv.Itoa(i + 1), MG: b.N, Color: chartColors[i%len(chartColors)], Value: strconv.FormatInt(b.N, 10)})
		}
	}
	v.ByBehav = newBarChart(t.T("console.dashboard.per_behavior_alt", len(v.Behaviors)), bitems)
	s.render(w, r, rq, http.StatusOK, "console_dashboard", v)
}
