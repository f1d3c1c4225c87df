package web

import (
	"net/http"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/methodology"
)

// scenarios are the footprint scenarios in display order.
var scenarios = []string{"eat", "wear", "use", "travel"}

// footprintWeeks is how many weeks the over-time chart shows.
const footprintWeeks = 8

type footprintView struct {
	uiPage
	Available  bool
	TotalMG    int64
	Events     int64
	ByScenario []chartItem
	ByPartner  []chartItem
	Weeks      []string
	Bars       barView
	Donut      donutView
	Area       areaView
	AreaLegend []chartItem
	WeekRows   []weekRow
}

// weekRow is one week of the over-time table (the chart's text form).
type weekRow struct {
	Week  string
	MG    []int64
	Total int64
}

// localNow is today in the methodology time zone (days are local days).
func localNow() time.Time { return time.Now().In(methodology.DefaultLocation) }

func (s *Server) pageFootprint(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	v := &footprintView{uiPage: uiPage{TitleKey: "footprint.title", Nav: "footprint"}}
	if s.Intake == nil {
		s.render(w, r, rq, http.StatusOK, "footprint", v)
		return
	}
	v.Available = true
	ctx, t := r.Context(), v.base()
	t.cat = rq.rt.catalog[rq.lang]
	today := localNow()
	from := a.OpenedAt.In(methodology.DefaultLocation).AddDate(0, 0, -1)
	sc, err := s.Intake.Footprint(ctx, a.ID, from, today, intake.ByScenario)
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	got := map[string]int64{}
	for _, b := range sc.Buckets {
		got[b.Key] += b.MG
		v.Events += b.Events
	}
	v.TotalMG = sc.TotalMG
	for i, k := range scenarios {
		v.ByScenario = append(v.ByScenario, chartItem{Label: t.T("scenario." + k), MG: got[k], Color: chartColors[i], Value: fmtMass(got[k])})
	}
	v.Bars = newBarChart(t.T("footprint.by_scenario_alt", fmtMass(v.TotalMG)), v.ByScenario)
	bp, err := s.Intake.Footprint(ctx, a.ID, from, today, intake.ByPartner)
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	names := s.partnerNames(r)
	for i, b := range bp.Buckets {
		v.ByPartner = append(v.ByPartner, chartItem{Label: nameOr(names, b.Key), MG: b.MG, Color: chartColors[i%len(chartColors)], Value: fmtMass(b.MG)})
	}
	v.Donut = newDonut(t.T("footprint.by_partner_alt", len(v.ByPartner)), fmtMass(bp.TotalMG), t.T("footprint.total_short"), v.ByPartner)
	// Over time: the last weeks, each grouped by scenario.
	start := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, today.Location()).AddDate(0, 0, -7*footprintWeeks+1)
	series := make([][]int64, len(scenarios))
	for wk := 0; wk < footprintWeeks; wk++ {
		ws := start.AddDate(0, 0, 7*wk)
		fp, err := s.Intake.Footprint(ctx, a.ID, ws, ws.AddDate(0, 0, 6), intake.ByScenario)
		if err != nil {
			s.uiFail(w, r, rq, err)
			return
		}
		row := weekRow{Week: ws.Format("01-02"), MG: make([]int64, len(scenarios)), Total: fp.TotalMG}
		for _, b := range fp.Buckets {
			for i, k := range scenarios {
				if b.Key == k {
					row.MG[i] = b.MG
				}
			}
		}
		for i := range scenarios {
			series[i] = append(series[i], row.MG[i])
		}
		v.Weeks = append(v.Weeks, row.Week)
		v.WeekRows = append(v.WeekRows, row)
	}
	v.Area = newStackedArea(t.T("footprint.over_time_alt", footprintWeeks), v.Weeks, series, chartColors)
	v.AreaLegend = v.ByScenario
	s.render(w, r, rq, http.StatusOK, "footprint", v)
}
