package web

import (
	"fmt"
	"math"
)

// Server-rendered SVG charts. Geometry is computed here into typed views
// and placed by the templates in charts.html, which escape every label;
// each chart also carries an aria-label summary and the page lists the
// same numbers as text.

// chartColors are distinguishable on white and in greyscale order.
var chartColors = []string{"#1d6b3a", "#c0661a", "#2b5fa8", "#8a3b8f", "#6b6b00", "#a12b2b", "#2b8a8a", "#555555"}

// chartItem is one labelled value.
type chartItem struct {
	Label string
	MG    int64
	Color string
	Value string // formatted for people
}

type barView struct {
	Label      string
	W, H, Base int
	Bars       []bar
}

type bar struct {
	X, Y, Width, Height int
	TX, LY, VY          int
	Label, Value, Color string
}

// newBarChart lays out items as vertical bars in a 320×180 box.
func newBarChart(label string, items []chartItem) barView {
	v := barView{Label: label, W: 320, H: 180, Base: 140}
	var top int64 = 1
	for _, it := range items {
		top = max(top, it.MG)
	}
	n := max(len(items), 1)
	slot := v.W / n
	bw := min(slot*3/5, 64)
	for i, it := range items {
		h := int(float64(it.MG) / float64(top) * 110)
		if it.MG > 0 && h < 2 {
			h = 2
		}
		x := i*slot + (slot-bw)/2
		v.Bars = append(v.Bars, bar{X: x, Y: v.Base - h, Width: bw, Height: h, TX: x + bw/2, LY: v.Base + 16, VY: v.Base - h - 6,
			Label: it.Label, Value: it.Value, Color: it.Color})
	}
	return v
}

type donutView struct {
	Label, Center, CenterSub string
	Slices                   []slice
}

type slice struct{ D, Color, Stroke string }

// newDonut lays out items as ring slices around (100,100).
func newDonut(label, center, sub string, items []chartItem) donutView {
	v := donutView{Label: label, Center: center, CenterSub: sub}
	var total int64
	for _, it := range items {
		total += it.MG
	}
	if total <= 0 {
		return v
	}
	a := -math.Pi / 2
	for _, it := range items {
		if it.MG <= 0 {
			continue
		}
		frac := float64(it.MG) / float64(total)
		if frac >= 0.9999 {
			// A full ring cannot be one arc: draw two halves.
			v.Slices = append(v.Slices, slice{D: arc(a, a+math.Pi), Color: it.Color, Stroke: it.Color}, slice{D: arc(a+math.Pi, a+2*math.Pi), Color: it.Color, Stroke: it.Color})
			break
		}
		b := a + frac*2*math.Pi
		v.Slices = append(v.Slices, slice{D: arc(a, b), Color: it.Color, Stroke: "#fff"})
		a = b
	}
	return v
}

// arc is the path of a pie wedge of radius 90 from angle a to b.
func arc(a, b float64) string {
	const r = 90.0
	large := 0
	if b-a > math.Pi {
		large = 1
	}
	return fmt.Sprintf("M100 100 L%.2f %.2f A%.0f %.0f 0 %d 1 %.2f %.2f Z", 100+r*math.Cos(a), 100+r*math.Sin(a), r, r, large, 100+r*math.Cos(b), 100+r*math.Sin(b))
}

type areaView struct {
	Label      string
	W, H, Base int
	Layers     []layer
	Ticks      []tick
}

type layer struct{ D, Color string }

type tick struct {
	X, Y  int
	Label string
}

// newStackedArea stacks series (each len(xs) values, in mg) over the x
// labels xs in a 320×180 box; the first series is at the bottom.
func newStackedArea(label string, xs []string, series [][]int64, colors []string) areaView {
	v := areaView{Label: label, W: 320, H: 180, Base: 150}
	n := len(xs)
	if n == 0 {
		return v
	}
	cum := make([]int64, n)
	var top int64 = 1
	for i := 0; i < n; i++ {
		var s int64
		for _, ser := range series {
			s += ser[i]
		}
		top = max(top, s)
	}
	x := func(i int) float64 {
		if n == 1 {
			return float64(v.W) / 2
		}
		return 24 + float64(i)*float64(v.W-48)/float64(n-1)
	}
	y := func(mg int64) float64 { return float64(v.Base) - float64(mg)/float64(top)*130 }
	for k, ser := range series {
		lower := append([]int64(nil), cum...)
		for i := range cum {
			cum[i] += ser[i]
		}
		d := fmt.Sprintf("M%.1f %.1f", x(0), y(lower[0]))
		for i := 0; i < n; i++ {
			d += fmt.Sprintf(" L%.1f %.1f", x(i), y(cum[i]))
		}
		for i := n - 1; i >= 0; i-- {
			d += fmt.Sprintf(" L%.1f %.1f", x(i), y(lower[i]))
		}
		v.Layers = append(v.Layers, layer{D: d + " Z", Color: colors[k%len(colors)]})
	}
	step := max(1, n/4)
	for i := 0; i < n; i += step {
		v.Ticks = append(v.Ticks, tick{X: int(x(i)), Y: v.Base + 16, Label: xs[i]})
	}
	return v
}
