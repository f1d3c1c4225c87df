package web

import (
	"fmt"
	"strings"
)

// baoView is Carbon Bao, the mascot, drawn by the "bao" partial: it grows
// with the level (a bigger body, one more leaf per level up to seven, a
// crown from level 5). The geometry is computed here so the template only
// places numbers.
type baoView struct {
	Level    int
	Name     string // level name in the page language
	Progress int    // percent towards the next level, 0..100
	NextMG   int64  // reduction still needed for the next level, in mg
	Scale    int    // body radius in SVG units
	Leaves   []baoLeaf
	Crown    bool

	CY, LeafY, LeafTop               int
	PleatL, PleatR, PleatTop         int
	EyeL, EyeR, EyeY, CheekL, CheekR int
	CheekY, MouthY, MouthLow, CrownY int
	Shell                            string // egg shell path, level 0 only
	// ViewTop and ViewH crop the 200×200 canvas to what is drawn, and
	// Height is the displayed height (160 px for the whole canvas), so a
	// bigger Bao is also a bigger picture.
	ViewTop, ViewH, Height int
}

// baoLeaf is one leaf on Bao's head, turned by Deg around the body centre.
type baoLeaf struct{ Deg int }

// newBao returns Bao at level (0 = an egg that has not hatched yet) with
// progress percent towards the next level.
func newBao(level, progress int, nextMG int64) baoView {
	progress = max(0, min(progress, 100))
	r := 38 + 5*min(max(level, 0), 8)
	b := baoView{Level: level, Progress: progress, NextMG: nextMG, Scale: r, Crown: level >= 5}
	b.CY = 182 - r
	top := b.CY - r
	b.LeafY, b.LeafTop = top+4, top-22
	b.PleatL, b.PleatR, b.PleatTop = 100-r/2, 100+r/2, top+r/3
	eyeDX := r * 2 / 5
	b.EyeL, b.EyeR, b.EyeY = 100-eyeDX, 100+eyeDX, b.CY
	b.CheekL, b.CheekR, b.CheekY = 100-eyeDX-6, 100+eyeDX+6, b.CY+12
	b.MouthY, b.MouthLow = b.CY+10, b.CY+18
	b.CrownY = top - 16
	if level <= 0 {
		b.Shell = eggShell(r, b.CY)
	}
	b.ViewTop = max(0, min(b.LeafTop, b.CrownY-22)-8)
	if level <= 0 {
		b.ViewTop = max(0, top-8)
	}
	b.ViewH = 200 - b.ViewTop
	b.Height = 160 * b.ViewH / 200
	n := min(max(level, 0), 7)
	for i := 0; i < n; i++ {
		deg := 0
		if n > 1 {
			deg = -50 + i*100/(n-1)
		}
		b.Leaves = append(b.Leaves, baoLeaf{Deg: deg})
	}
	return b
}

// eggShell is the path of the broken shell around the lower half of a
// body of radius r centred at (100, cy): a zigzag rim, then the bottom.
func eggShell(r, cy int) string {
	x0, y0 := 100-r+1, cy+10
	var sb strings.Builder
	fmt.Fprintf(&sb, "M%d %d", x0, y0)
	for i := 1; i <= 8; i++ {
		y := y0
		if i%2 == 1 {
			y -= 8
		}
		fmt.Fprintf(&sb, " L%d %d", x0+i*(2*r-2)/8, y)
	}
	fmt.Fprintf(&sb, " Q 100 %d %d %d Z", cy+r+16, x0, y0)
	return sb.String()
}
